//! quick-xml plumbing for the JUnit parser: attributes under the caps, and every error turned into a positioned [`ReportError`].

use std::borrow::Cow;

use quick_xml::events::attributes::{AttrError, Attribute};
use quick_xml::events::BytesStart;

use super::position::{advance, invalid_utf8, Here, Pos};
use super::text::truncated;
use super::{Limits, ParseError, ReportError};

/// Decodes an attribute value on demand.
pub(super) type Value<'v, 'a, E> = dyn Fn() -> Result<Cow<'a, str>, ParseError<E>> + 'v;

/// Calls `f(name, value getter)` for each attribute, enforcing the
/// attribute cap and well-formedness even on elements that are skipped.
/// The value is decoded only when asked for, so skipped values cost
/// nothing. Attribute names are used as written: JUnit attributes carry no
/// namespace prefix, and stripping one costs a scan per attribute.
pub(super) fn for_each_attribute<'a, E>(
    e: &'a BytesStart<'a>,
    limits: &Limits,
    tok: Here<'_>,
    mut f: impl FnMut(&[u8], &Value<'_, 'a, E>) -> Result<(), ParseError<E>>,
) -> Result<(), ParseError<E>> {
    for (count, attr) in e.attributes().enumerate() {
        let attr = attr.map_err(|err| attr_error(e, err, tok))?;
        if count >= limits.max_attributes {
            let shown = e.name();
            let message = format!(
                "element <{}> has more than {} attributes",
                truncated(shown.as_ref(), 100),
                limits.max_attributes
            );
            return Err(invalid(&message, tok.pos()));
        }
        let key: &str = attr.key.as_ref();
        let value = || decode_value(&attr, tok);
        f(key.as_bytes(), &value)?;
    }
    Ok(())
}

fn decode_value<'a, E>(attr: &Attribute<'a>, tok: Here<'_>) -> Result<Cow<'a, str>, ParseError<E>> {
    attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|err| {
        let key: &str = attr.key.as_ref();
        let detail = match err {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
                format!("undefined entity &{}; (entities are never expanded)", truncated(&name, 64))
            }
            other => other.to_string(),
        };
        invalid(&format!("attribute {}: {detail}", truncated(key, 100)), tok.pos())
    })
}

/// Positions an attribute syntax error inside its tag.
fn attr_error<E>(e: &BytesStart<'_>, err: AttrError, tok: Here<'_>) -> ParseError<E> {
    let offset = match err {
        AttrError::ExpectedEq(p)
        | AttrError::ExpectedValue(p)
        | AttrError::UnquotedValue(p)
        | AttrError::ExpectedQuote(p, _)
        | AttrError::Duplicated(p, _) => p,
    };
    let content: &[u8] = e.as_bytes();
    // +1 for the `<` that the tag content does not include.
    let tok = tok.pos();
    let start = (tok.0, tok.1 + 1);
    let at = advance(start, &content[..offset.min(content.len())]);
    let message = match err {
        AttrError::Duplicated(..) => "duplicate attribute".to_owned(),
        AttrError::UnquotedValue(_) => "attribute value is not quoted".to_owned(),
        AttrError::ExpectedQuote(..) => "attribute value is not closed".to_owned(),
        AttrError::ExpectedEq(_) | AttrError::ExpectedValue(_) => "malformed attribute".to_owned(),
    };
    invalid(&message, at)
}

pub(super) fn invalid<E>(message: &str, at: Pos) -> ParseError<E> {
    ParseError::Invalid(ReportError::at(message, at.0, at.1))
}

/// An error from the input itself: invalid UTF-8 (with position) or a read error.
pub(super) fn io_error<E>(e: std::io::Error) -> ParseError<E> {
    match invalid_utf8(&e) {
        Some(at) => invalid(at.message, (at.line, at.column)),
        None => ParseError::Invalid(ReportError::new(format!("could not read the report: {e}"))),
    }
}

/// A quick-xml error, reported at the start of the token it was reading.
pub(super) fn xml_error<E>(e: quick_xml::Error, tok: Pos) -> ParseError<E> {
    use quick_xml::errors::{Error as X, IllFormedError as I};
    let message = match e {
        X::Io(io) => {
            return match invalid_utf8(&io) {
                Some(at) => invalid(at.message, (at.line, at.column)),
                None => ParseError::Invalid(ReportError::new(format!("could not read the report: {io}"))),
            }
        }
        X::Syntax(s) => s.to_string(),
        X::IllFormed(I::MismatchedEndTag { expected, found }) => format!(
            "mismatched end tag: expected </{}>, found </{}>",
            truncated(&expected, 100),
            truncated(&found, 100)
        ),
        X::IllFormed(I::UnmatchedEndTag(name)) => {
            format!("end tag </{}> has no start tag", truncated(&name, 100))
        }
        X::IllFormed(I::UnclosedReference) => {
            "`&` must start an entity or character reference ending in `;`".to_owned()
        }
        other => other.to_string(),
    };
    invalid(&message, tok)
}
