//! Streaming JUnit XML parser: quick-xml for markup, our own loop for text, and the security caps.
//!
//! Dialect rules (the union of what Surefire, Gradle, quick-junit/nextest,
//! pytest, jest-junit, gotestsum, PHPUnit, xunit.net, Catch2, mocha, Bazel
//! and friends write):
//! - The root is `<testsuites>`, a bare `<testsuite>` or Eclipse's
//!   `<testrun>` (a `<testsuites>` by another name); suites nest freely.
//!   Any other root (NUnit3 `<test-run>`, TRX `<TestRun>`) or text before
//!   the root (go test -json) is "not a JUnit report".
//! - Test cases are counted from `<testcase>` elements only; the suites'
//!   `tests=`/`failures=` summaries are ignored (they are often wrong).
//! - `suite` is the name of the innermost enclosing `<testsuite>`; `file`
//!   is the testcase's, else that of the nearest suite that has one. The
//!   `file`/`line` of a `<failure>` (Catch2) are not used: a test's identity
//!   must not change between a passing and a failing run.
//! - Outcome precedence inside one testcase: failure > error > skipped
//!   (element, `status="skipped|disabled|notrun"` as CTest and Google Test
//!   write, or Eclipse's `ignored="true"`) > flaky (`flakyFailure`
//!   / `flakyError`: failed, then passed on a retry) > passed. Reruns
//!   (`rerunFailure` / `rerunError`) without a final failure still count as
//!   failed (error if they are all errors). `retries` counts every flaky and
//!   rerun element. Message and details come from the first element of the
//!   winning kind; details are its text (CDATA and nested `stackTrace`
//!   included, nested `system-out`/`system-err` dropped), with the `type`
//!   attribute on a line of its own in front unless the text already starts
//!   with it.
//! - Only testcase-level `system-out`/`system-err` are kept; suite-level
//!   output and every `<properties>` block are skipped.
//!
//! Security: a DOCTYPE or entity declaration is rejected before it is read;
//! entities are never expanded (only the five predefined ones and character
//! references are decoded); depth, attribute count and every stored text
//! field are capped. One leniency: a raw `<` inside an attribute value
//! (web-test-runner writes `time="<<computed>>"`) is accepted, as quick-xml
//! accepts it; it cannot open markup there. Text is read by this module rather than by quick-xml so
//! that a huge `system-out` or CDATA block streams through without ever
//! being held whole: only what fits the cap is kept.
//!
//! Reports must be UTF-8 (every generator above writes it); the encoding
//! named in the XML declaration is not consulted, and a UTF-16 byte order
//! mark is rejected with a message saying so.
//!
//! Characters XML 1.0 forbids (control characters such as the ANSI escape
//! `\x1b` that test output is full of, whether raw or as `&#27;`) are
//! accepted and kept: most JUnit consumers accept such files, and rejecting
//! a whole CI upload over a colour code would help nobody. Invalid UTF-8 is
//! still rejected, with its position.

use std::io::{BufRead, Read};

use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

use super::junit_case::{role, CaseBuilder, Frame, Kind, Role, Sink, Suites};
use super::junit_xml::{for_each_attribute, invalid, io_error, xml_error};
use super::position::{Here, Input};
use super::text::truncated;
use super::{Limits, ParseError, ReportError, Summary, TestCase, Warnings};

const DOCTYPE_MESSAGE: &str = "DOCTYPE and entity declarations are not allowed";

pub(super) fn parse<R: BufRead, E>(
    input: R,
    limits: &Limits,
    on_case: impl FnMut(TestCase) -> Result<(), E>,
) -> Result<Summary, ParseError<E>> {
    let mut reader = Reader::from_reader(Input::new(input));
    let mut parser = Parser {
        limits: limits.clone(),
        stack: Vec::with_capacity(16),
        open_names: String::new(),
        name_starts: Vec::with_capacity(16),
        suites: Suites::default(),
        case: CaseBuilder::new(limits),
        root_seen: false,
        cases: 0,
        warnings: Warnings::default(),
        on_case,
    };
    parser.run(&mut reader)?;
    let mut warnings = parser.warnings;
    warnings.bad_durations = parser.case.bad_durations;
    Ok(Summary { cases: parser.cases, warnings })
}

struct Parser<F> {
    limits: Limits,
    stack: Vec<Frame>,
    /// Names of the open elements, concatenated, for the end-of-input
    /// message; `name_starts[i]` is where the name of `stack[i]` begins.
    open_names: String,
    name_starts: Vec<usize>,
    suites: Suites,
    case: CaseBuilder,
    root_seen: bool,
    cases: u64,
    warnings: Warnings,
    on_case: F,
}

type XmlReader<R> = Reader<Input<R>>;

/// Non-whitespace text outside the root element: how far into the text it
/// starts, and what to say about it.
struct Outside {
    skip: usize,
    message: &'static str,
}

impl Outside {
    /// The error, positioned at `here` (where the text starts) plus `skip`.
    fn at<E>(self, here: Here<'_>) -> ParseError<E> {
        let offset = here.offset + self.skip as u64;
        invalid(self.message, here.input.position_at(offset))
    }
}

impl<F, E> Parser<F>
where
    F: FnMut(TestCase) -> Result<(), E>,
{
    fn run<R: Read>(&mut self, reader: &mut XmlReader<R>) -> Result<(), ParseError<E>> {
        skip_bom(reader)?;
        let mut buf = Vec::with_capacity(4096);
        loop {
            let tok = reader.get_mut().mark();
            let head = reader.get_mut().peek(9).map_err(io_error)?;
            match head.first() {
                None => break,
                Some(b'<') => {
                    if head.starts_with(b"<![CDATA[") {
                        self.cdata(reader, tok)?;
                        continue;
                    }
                    let declaration = head.starts_with(b"<!ENTITY")
                        || head.get(..9).is_some_and(|h| h.eq_ignore_ascii_case(b"<!DOCTYPE"));
                    if declaration {
                        return Err(invalid(DOCTYPE_MESSAGE, reader.get_ref().position()));
                    }
                }
                // quick-xml reports `&...;` as a GeneralRef event.
                Some(b'&') => {}
                Some(_) => {
                    self.text_run(reader)?;
                    continue;
                }
            }
            if buf.capacity() > 1 << 20 {
                // One huge tag must not pin its buffer for the rest of the parse.
                buf = Vec::with_capacity(4096);
            }
            buf.clear();
            let event = reader.read_event_into(&mut buf);
            let tok = Here { input: reader.get_ref(), offset: tok };
            match event {
                Ok(Event::Start(e)) => self.start(&e, tok)?,
                Ok(Event::Empty(e)) => {
                    self.start(&e, tok)?;
                    self.end()?;
                }
                Ok(Event::End(_)) => self.end()?,
                Ok(Event::GeneralRef(r)) => self.reference(&r, tok)?,
                // Text and CDATA are normally consumed by our own loops above.
                Ok(Event::Text(t)) => self.text(t.as_bytes()).map_err(|o| o.at(tok))?,
                Ok(Event::CData(t)) => self.text(t.as_bytes()).map_err(|o| Outside { skip: 0, ..o }.at(tok))?,
                Ok(Event::DocType(_)) => return Err(invalid(DOCTYPE_MESSAGE, tok.pos())),
                Ok(Event::Decl(_) | Event::PI(_) | Event::Comment(_)) => {}
                Ok(Event::Eof) => break,
                Err(e) => return Err(xml_error(e, tok.pos())),
            }
        }
        if let Some(&start) = self.name_starts.last() {
            let name = &self.open_names[start..];
            let message = format!("unexpected end of input: <{name}> is not closed");
            return Err(invalid(&message, reader.get_ref().position()));
        }
        if !self.root_seen {
            return Err(ReportError::new("not a JUnit report: the document has no root element").into());
        }
        Ok(())
    }

    /// Reads text up to the next markup or reference, a chunk at a time.
    fn text_run<R: Read>(&mut self, reader: &mut XmlReader<R>) -> Result<(), ParseError<E>> {
        loop {
            let at = reader.get_ref().offset();
            let chunk = reader.get_mut().peek(1).map_err(io_error)?;
            if chunk.is_empty() {
                return Ok(());
            }
            let end = chunk.iter().position(|&b| b == b'<' || b == b'&');
            let n = end.unwrap_or(chunk.len());
            if let Err(outside) = self.text(&chunk[..n]) {
                let here = Here { input: reader.get_ref(), offset: at };
                return Err(outside.at(here));
            }
            reader.stream().consume(n);
            if end.is_some() {
                return Ok(());
            }
        }
    }

    /// Reads a CDATA section ourselves so that a huge one is never buffered.
    fn cdata<R: Read>(&mut self, reader: &mut XmlReader<R>, tok: u64) -> Result<(), ParseError<E>> {
        reader.stream().consume(b"<![CDATA[".len());
        loop {
            let chunk = reader.get_mut().peek(3).map_err(io_error)?;
            if chunk.is_empty() {
                let message = "CDATA section not closed: `]]>` not found before end of input";
                return Err(invalid(message, reader.get_ref().position_at(tok)));
            }
            let close = chunk.windows(3).position(|w| w == b"]]>");
            // Without a close, keep back a tail that could be its first bytes
            // (peek(3) only returns less than 3 bytes at the very end).
            let n = close.unwrap_or(if chunk.len() < 3 { chunk.len() } else { chunk.len() - 2 });
            if let Err(outside) = self.text(&chunk[..n]) {
                let here = Here { input: reader.get_ref(), offset: tok };
                return Err(Outside { skip: 0, ..outside }.at(here));
            }
            match close {
                Some(_) => {
                    reader.stream().consume(n + 3);
                    return Ok(());
                }
                None => reader.stream().consume(n),
            }
        }
    }

    fn reference(&mut self, r: &BytesRef<'_>, tok: Here<'_>) -> Result<(), ParseError<E>> {
        let mut utf8 = [0u8; 4];
        let decoded: &str = match r.resolve_char_ref() {
            Ok(Some(c)) => c.encode_utf8(&mut utf8),
            Ok(None) => match &**r {
                "lt" => "<",
                "gt" => ">",
                "amp" => "&",
                "quot" => "\"",
                "apos" => "'",
                name => {
                    let name = truncated(name, 64);
                    let message = format!("undefined entity &{name}; (entities are never expanded)");
                    return Err(invalid(&message, tok.pos()));
                }
            },
            Err(e) => {
                return Err(invalid(&format!("bad character reference: {e}"), tok.pos()));
            }
        };
        self.text(decoded.as_bytes()).map_err(|o| o.at(tok))
    }

    /// Routes text to the open element's sink; outside the root only
    /// whitespace is allowed.
    fn text(&mut self, bytes: &[u8]) -> Result<(), Outside> {
        if let Some(frame) = self.stack.last() {
            self.case.text(frame.sink, bytes);
            return Ok(());
        }
        let Some(skip) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
            return Ok(());
        };
        let message = if self.root_seen {
            "text after the root element"
        } else {
            "not a JUnit report: text before the root element"
        };
        Err(Outside { skip, message })
    }

    fn start(&mut self, e: &BytesStart<'_>, tok: Here<'_>) -> Result<(), ParseError<E>> {
        let local = e.local_name();
        let name = local.as_ref().as_bytes();
        let role = match self.stack.last() {
            Some(parent) => role(parent.kind, name),
            None if self.root_seen => {
                return Err(invalid("a second root element after the first one closed", tok.pos()));
            }
            None => {
                self.root_seen = true;
                match name {
                    b"testsuites" | b"testrun" => Role::Suites,
                    b"testsuite" => Role::Suite,
                    _ => {
                        let shown = e.name();
                        let message = format!("not a JUnit report: root element <{}>", truncated(shown.as_ref(), 100));
                        return Err(invalid(&message, tok.pos()));
                    }
                }
            }
        };
        if self.stack.len() >= self.limits.max_depth {
            let message = format!("elements nested deeper than {} levels", self.limits.max_depth);
            return Err(invalid(&message, tok.pos()));
        }
        let frame = match role {
            Role::Suites => Frame { kind: Kind::Suites, sink: Sink::Nowhere },
            Role::Suite => {
                self.suites.push();
                let (suites, limits) = (&mut self.suites, &self.limits);
                for_each_attribute(e, limits, tok, |key, value| {
                    suites.attribute(key, value()?.as_ref(), limits);
                    Ok(())
                })?;
                Frame { kind: Kind::Suite, sink: Sink::Nowhere }
            }
            Role::Case => {
                self.case.reset();
                self.case.suite.push_str(self.suites.name());
                let case = &mut self.case;
                for_each_attribute(e, &self.limits, tok, |key, value| {
                    if matches!(
                        key,
                        b"name" | b"classname" | b"class" | b"file" | b"line" | b"time" | b"status" | b"ignored"
                    ) {
                        case.case_attribute(key, value()?.as_ref());
                    }
                    Ok(())
                })?;
                if self.case.file.is_none() {
                    self.case.file = self.suites.file().map(str::to_owned);
                }
                Frame { kind: Kind::Case, sink: Sink::Nowhere }
            }
            Role::Result { category, error } => {
                let sink = self.case.open_result(category, error);
                let case = &mut self.case;
                for_each_attribute(e, &self.limits, tok, |key, value| {
                    if sink != Sink::Nowhere && matches!(key, b"message" | b"type") {
                        case.result_attribute(sink, key, value()?.as_ref());
                    }
                    Ok(())
                })?;
                Frame { kind: Kind::Result, sink }
            }
            Role::Output(sink) => {
                self.case.open_output(sink);
                for_each_attribute(e, &self.limits, tok, |_, _| Ok(()))?;
                Frame { kind: Kind::Output, sink }
            }
            Role::Inner => {
                for_each_attribute(e, &self.limits, tok, |_, _| Ok(()))?;
                let sink = self.stack.last().map_or(Sink::Nowhere, |f| f.sink);
                Frame { kind: Kind::Inner, sink }
            }
            Role::Ignored => {
                for_each_attribute(e, &self.limits, tok, |_, _| Ok(()))?;
                let parent = self.stack.last().map(|f| f.kind);
                let expected = matches!(name, b"properties" | b"property" | b"system-out" | b"system-err");
                if !expected && matches!(parent, Some(Kind::Suites | Kind::Suite | Kind::Case)) {
                    self.warnings.unknown_elements += 1;
                    if self.warnings.first_unknown.is_none() {
                        self.warnings.first_unknown = Some(truncated(e.name().as_ref(), 100).to_string());
                    }
                }
                Frame { kind: Kind::Ignored, sink: Sink::Nowhere }
            }
        };
        self.stack.push(frame);
        self.name_starts.push(self.open_names.len());
        // Only for messages: a hostile 1 MB tag name is not worth keeping.
        self.open_names.push_str(truncated(e.name().as_ref(), 100));
        Ok(())
    }

    fn end(&mut self) -> Result<(), ParseError<E>> {
        // quick-xml has already checked that the end tag matches its start.
        if let Some(start) = self.name_starts.pop() {
            self.open_names.truncate(start);
        }
        match self.stack.pop().map(|f| f.kind) {
            Some(Kind::Suite) => self.suites.pop(),
            Some(Kind::Case) => {
                let case = self.case.finish();
                self.cases += 1;
                if case.name.is_empty() {
                    self.warnings.unnamed += 1;
                }
                (self.on_case)(case).map_err(ParseError::Sink)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Skips a UTF-8 byte order mark, and names UTF-16 (which some Windows
/// tools write) instead of calling it invalid UTF-8.
fn skip_bom<R: Read, E>(reader: &mut XmlReader<R>) -> Result<(), ParseError<E>> {
    if reader.get_mut().starts_with_utf16_bom().map_err(io_error)? {
        return Err(invalid("the report is UTF-16; only UTF-8 is supported", (1, 1)));
    }
    if reader.get_mut().peek(3).map_err(io_error)?.starts_with(b"\xEF\xBB\xBF") {
        reader.stream().consume(3);
    }
    Ok(())
}
