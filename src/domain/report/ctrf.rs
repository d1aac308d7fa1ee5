//! Streaming CTRF (Common Test Report Format) JSON parser: `results.tests` is visited element by element, never collected.
//!
//! Mapping: `failed` -> failed; `passed` -> passed, or flaky when `flaky` is
//! true or `retries` > 0; `skipped`, `pending`, `other` (and any status the
//! spec does not define) -> skipped. `suite` is a string or, in newer
//! reports, an array of strings joined with " > ". `filePath` is the file,
//! `message` the message, `trace` the details, `stdout`/`stderr` (strings or
//! arrays of lines) the output. The older field names `retry` and `flake`
//! are accepted too. Unknown fields are ignored; a missing `results.tests`
//! or malformed JSON is rejected with serde_json's line and column (its
//! columns count bytes, where the JUnit parser counts characters). A UTF-8
//! byte order mark is skipped.

use std::fmt;
use std::io::{BufRead, Chain, Cursor, Read};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::text::{millis, non_empty, truncated};
use super::{Limits, Outcome, ParseError, ReportError, Summary, TestCase};

pub(super) fn parse<R: BufRead, E>(
    input: R,
    limits: &Limits,
    on_case: impl FnMut(TestCase) -> Result<(), E>,
) -> Result<Summary, ParseError<E>> {
    let input = without_bom(input).map_err(|e| ReportError::new(format!("could not read the report: {e}")))?;
    let mut state = State { limits, on_case, cases: 0, sink_error: None };
    let mut de = serde_json::Deserializer::from_reader(input);
    let result = Root(&mut state).deserialize(&mut de).and_then(|()| de.end());
    // A sink error travels through serde as a placeholder; return the real one.
    if let Some(e) = state.sink_error.take() {
        return Err(ParseError::Sink(e));
    }
    result.map_err(json_error)?;
    Ok(Summary { cases: state.cases, warnings: Default::default() })
}

/// `input` without the UTF-8 byte order mark that Windows tools like to
/// start JSON with, however few bytes each read hands out (a gzip stream's
/// first read may be short): the bytes read to find out are put back in
/// front when they are not one.
fn without_bom<R: BufRead>(mut input: R) -> std::io::Result<Chain<Cursor<Vec<u8>>, R>> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut head = Vec::with_capacity(BOM.len());
    while head.len() < BOM.len() && BOM.starts_with(&head) {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(BOM.len() - head.len());
        head.extend_from_slice(&buf[..n]);
        input.consume(n);
    }
    if head == BOM {
        head.clear();
    }
    Ok(Cursor::new(head).chain(input))
}

struct State<'l, F, E> {
    limits: &'l Limits,
    on_case: F,
    cases: u64,
    sink_error: Option<E>,
}

/// serde_json's message without its " at line L column C" tail, which the
/// position fields carry instead.
fn json_error<E>(e: serde_json::Error) -> ParseError<E> {
    let full = e.to_string();
    if e.is_io() {
        return ParseError::Invalid(ReportError::new(format!("could not read the report: {full}")));
    }
    if e.line() == 0 {
        return ParseError::Invalid(ReportError::new(full));
    }
    let tail = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&tail).unwrap_or(&full);
    let message = format!("not a valid CTRF report: {message}");
    ParseError::Invalid(ReportError::at(message, e.line() as u64, e.column().max(1) as u64))
}

/// The top-level object: only `results` matters.
struct Root<'s, 'l, F, E>(&'s mut State<'l, F, E>);

impl<'de, F, E> DeserializeSeed<'de> for Root<'_, '_, F, E>
where
    F: FnMut(TestCase) -> Result<(), E>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F, E> Visitor<'de> for Root<'_, '_, F, E>
where
    F: FnMut(TestCase) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CTRF report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<Key>()? {
            if key.0 == "results" && !seen {
                seen = true;
                map.next_value_seed(Results(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !seen {
            return Err(de::Error::missing_field("results"));
        }
        Ok(())
    }
}

/// `results`: only `tests` matters.
struct Results<'s, 'l, F, E>(&'s mut State<'l, F, E>);

impl<'de, F, E> DeserializeSeed<'de> for Results<'_, '_, F, E>
where
    F: FnMut(TestCase) -> Result<(), E>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F, E> Visitor<'de> for Results<'_, '_, F, E>
where
    F: FnMut(TestCase) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the CTRF `results` object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<Key>()? {
            if key.0 == "tests" && !seen {
                seen = true;
                map.next_value_seed(Tests(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !seen {
            return Err(de::Error::missing_field("tests"));
        }
        Ok(())
    }
}

/// `results.tests`: each element goes to the sink as soon as it is read.
struct Tests<'s, 'l, F, E>(&'s mut State<'l, F, E>);

impl<'de, F, E> DeserializeSeed<'de> for Tests<'_, '_, F, E>
where
    F: FnMut(TestCase) -> Result<(), E>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F, E> Visitor<'de> for Tests<'_, '_, F, E>
where
    F: FnMut(TestCase) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of CTRF tests")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(raw) = seq.next_element::<RawTest>()? {
            let case = raw.into_case(state.limits);
            state.cases += 1;
            if let Err(e) = (state.on_case)(case) {
                state.sink_error = Some(e);
                return Err(de::Error::custom("stopped by the sink"));
            }
        }
        Ok(())
    }
}

/// A map key, kept as an owned string (keys are few and short).
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Key)
    }
}

/// A string, or an array of strings (newer CTRF `suite`, `stdout`, `stderr`).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn join(self, separator: &str) -> String {
        match self {
            OneOrMany::One(s) => s,
            OneOrMany::Many(parts) => parts.join(separator),
        }
    }
}

/// One element of `results.tests`, with only the fields we use.
#[derive(Deserialize)]
struct RawTest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    /// Milliseconds; reporters write integers or floats.
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    trace: Option<String>,
    #[serde(default)]
    suite: Option<OneOrMany>,
    #[serde(default, rename = "filePath")]
    file_path: Option<String>,
    #[serde(default)]
    line: Option<f64>,
    #[serde(default, alias = "retry")]
    retries: Option<f64>,
    #[serde(default, alias = "flake")]
    flaky: Option<bool>,
    #[serde(default)]
    stdout: Option<OneOrMany>,
    #[serde(default)]
    stderr: Option<OneOrMany>,
}

impl RawTest {
    fn into_case(self, limits: &Limits) -> TestCase {
        let retries =
            self.retries.filter(|r| r.is_finite() && *r >= 0.0).map_or(0, |r| r.min(f64::from(u32::MAX)) as u32);
        let status = self.status.unwrap_or_default();
        let is = |s: &str| status.trim().eq_ignore_ascii_case(s);
        let outcome = if is("failed") {
            Outcome::Failed
        } else if is("passed") {
            if self.flaky == Some(true) || retries > 0 {
                Outcome::Flaky
            } else {
                Outcome::Passed
            }
        } else {
            Outcome::Skipped
        };
        let name_cap = limits.max_name_bytes;
        let suite = self.suite.map(|s| s.join(" > ")).unwrap_or_default();
        let output = |o: Option<OneOrMany>| o.and_then(|o| non_empty(&o.join("\n"), limits.max_output_bytes));
        TestCase {
            suite: truncated(&suite, name_cap).to_owned(),
            classname: String::new(),
            name: truncated(self.name.as_deref().unwrap_or(""), name_cap).to_owned(),
            file: self.file_path.and_then(|f| non_empty(&f, name_cap)),
            line: self.line.filter(|l| l.fract() == 0.0 && *l >= 0.0 && *l <= f64::from(u32::MAX)).map(|l| l as u32),
            outcome,
            duration_ms: self.duration.and_then(millis),
            retries,
            message: self.message.and_then(|m| non_empty(&m, limits.max_message_bytes)),
            details: self.trace.and_then(|t| non_empty(&t, limits.max_details_bytes)),
            system_out: output(self.stdout),
            system_err: output(self.stderr),
        }
    }
}
