//! Test report parsing: streams JUnit XML and CTRF JSON uploads into [`TestCase`]s, one at a time.
//!
//! Both parsers are pure (no I/O beyond the reader they are given) and stream:
//! [`parse`] hands every test case to a sink as soon as it is complete, so a
//! report of any size is parsed in memory bounded by [`Limits`] plus the
//! largest single XML tag or JSON value.
//!
//! Rules shared by both formats:
//! - Names (suite, classname, name, file) are truncated at a char boundary to
//!   `max_name_bytes`, messages to `max_message_bytes`, failure details to
//!   `max_details_bytes`, captured output to `max_output_bytes`. Truncation is
//!   silent: a long stack trace is not a reason to reject a report.
//! - The same test reported twice in one run is not merged here: the caller
//!   merges with [`combine`], which is where "failed then passed" becomes flaky.
//! - A read error of the underlying reader (for example a body-size limiter
//!   or a corrupt gzip stream) comes back as [`ParseError::Invalid`] without a
//!   position; callers that need to tell "too large" apart should check their
//!   own limiter after `parse` returns.
//!
//! JUnit dialect rules live in [`junit`] (module docs), CTRF rules in [`ctrf`].

mod ctrf;
mod junit;
mod junit_case;
mod junit_xml;
mod position;
mod text;

#[cfg(test)]
mod tests_corpus;
#[cfg(test)]
mod tests_ctrf;
#[cfg(test)]
mod tests_junit;
#[cfg(test)]
mod tests_junit_rules;
#[cfg(test)]
mod tests_merge;
#[cfg(test)]
mod tests_security;

use std::fmt;

/// Hard caps applied while parsing; every one protects memory or the database
/// from a hostile or runaway report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting accepted (JUnit); deeper is rejected.
    pub max_depth: usize,
    /// Most attributes accepted on one element (JUnit); more is rejected.
    pub max_attributes: usize,
    /// Suite, classname, name and file are truncated to this many bytes.
    pub max_name_bytes: usize,
    /// Failure / skip messages are truncated to this many bytes.
    pub max_message_bytes: usize,
    /// Failure text (stack trace) is truncated to this many bytes.
    pub max_details_bytes: usize,
    /// `system-out` / `system-err` are truncated to this many bytes each.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_attributes: 64,
            max_name_bytes: 1024,
            max_message_bytes: 4096,
            max_details_bytes: 65536,
            max_output_bytes: 65536,
        }
    }
}

/// The wire format of an uploaded report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    JUnit,
    Ctrf,
}

/// The result of one test in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
    /// Failed at least once and passed in the same run.
    Flaky,
}

impl Outcome {
    /// The outcome named by [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Passed, Outcome::Failed, Outcome::Error, Outcome::Skipped, Outcome::Flaky]
            .into_iter()
            .find(|o| o.as_str() == s)
    }

    /// The lowercase name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
            Outcome::Flaky => "flaky",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Outcome {
    /// What an attempt says about the test: bit 1 "it passed", bit 2 "it
    /// failed" (a flaky result says both). Stored with a run's results so
    /// that merging remembers every attempt, not only the last.
    pub fn attempt_bits(self) -> u8 {
        match self {
            Outcome::Passed => 1,
            Outcome::Failed | Outcome::Error => 2,
            Outcome::Flaky => 3,
            Outcome::Skipped => 0,
        }
    }
}

/// Every report of one test in one run (shards, retries written as repeated
/// testcases, matrix jobs), merged: flaky when some attempt failed or errored
/// and some passed, in any order and whatever came between; otherwise the
/// last result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    last: Outcome,
    bits: u8,
}

impl Merged {
    pub fn new(first: Outcome) -> Merged {
        Merged { last: first, bits: first.attempt_bits() }
    }

    /// A merge stored earlier as its outcome and the attempt bits seen so far
    /// (0 in rows written before the bits were kept: the outcome stands for
    /// its attempts).
    pub fn stored(outcome: Outcome, attempt_bits: u8) -> Merged {
        Merged { last: outcome, bits: (attempt_bits & 3) | outcome.attempt_bits() }
    }

    /// Bit 1: some attempt passed; bit 2: some attempt failed.
    pub fn attempt_bits(self) -> u8 {
        self.bits
    }

    pub fn add(&mut self, later: Outcome) {
        self.last = later;
        self.bits |= later.attempt_bits();
    }

    pub fn outcome(self) -> Outcome {
        if self.bits == 3 {
            Outcome::Flaky
        } else {
            self.last
        }
    }
}

/// [`Merged`] for two results.
pub fn combine(earlier: Outcome, later: Outcome) -> Outcome {
    let mut merged = Merged::new(earlier);
    merged.add(later);
    merged.outcome()
}

/// One test case as reported. Strings are already capped by [`Limits`].
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    pub suite: String,
    /// Empty when the report has none.
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub outcome: Outcome,
    pub duration_ms: Option<u64>,
    /// Extra attempts recorded in the report (flaky reruns or failed reruns).
    pub retries: u32,
    pub message: Option<String>,
    pub details: Option<String>,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

/// Why a report was rejected, with the 1-based position where it went wrong
/// when there is one (JUnit columns count characters, CTRF columns are
/// serde_json's, which count bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError {
    pub message: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

impl ReportError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ReportError { message: message.into(), line: None, column: None }
    }

    pub(crate) fn at(message: impl Into<String>, line: u64, column: u64) -> Self {
        ReportError { message: message.into(), line: Some(line), column: Some(column) }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "line {line}, column {column}: {}", self.message)
            }
            (Some(line), None) => write!(f, "line {line}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ReportError {}

/// Either the report is bad, or the sink refused a test case (for example a
/// database error); the sink's error is passed through untouched.
#[derive(Debug)]
pub enum ParseError<E> {
    Invalid(ReportError),
    Sink(E),
}

impl<E: fmt::Display> fmt::Display for ParseError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Invalid(e) => write!(f, "invalid report: {e}"),
            ParseError::Sink(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ParseError<E> {}

impl<E> From<ReportError> for ParseError<E> {
    fn from(e: ReportError) -> Self {
        ParseError::Invalid(e)
    }
}

/// What a successful parse saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Test cases handed to the sink.
    pub cases: u64,
    pub warnings: Warnings,
}

/// What a report held that the parser read past: stored anyway, but worth
/// telling the uploader (a report that says nothing hides a broken step).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Warnings {
    /// Test cases without a name.
    pub unnamed: u64,
    /// Durations (`time`) that did not parse as seconds.
    pub bad_durations: u64,
    /// Elements where none was expected, skipped; the first one's name.
    pub unknown_elements: u64,
    pub first_unknown: Option<String>,
}

impl Warnings {
    /// The warnings as sentences, for the upload's answer (`cases`: how many
    /// test cases the report held).
    pub fn sentences(&self, cases: u64) -> Vec<String> {
        let mut said = Vec::new();
        if cases == 0 {
            said.push("The report held no test cases.".to_string());
        }
        if self.unnamed > 0 {
            said.push(format!("{} test case(s) had no name.", self.unnamed));
        }
        if self.bad_durations > 0 {
            said.push(format!("{} duration(s) did not parse as seconds and were left out.", self.bad_durations));
        }
        if self.unknown_elements > 0 {
            let first = self.first_unknown.as_deref().unwrap_or("?");
            said.push(format!(
                "{} unknown element(s) were skipped, the first <{first}> (not where JUnit puts it).",
                self.unknown_elements
            ));
        }
        said
    }
}

/// Streams every test case to `on_case` as soon as its closing tag is read;
/// never builds a DOM and never holds more than one test case.
pub fn parse<R: std::io::BufRead, E>(
    format: ReportFormat,
    input: R,
    limits: &Limits,
    on_case: impl FnMut(TestCase) -> Result<(), E>,
) -> Result<Summary, ParseError<E>> {
    match format {
        ReportFormat::JUnit => junit::parse(input, limits, on_case),
        ReportFormat::Ctrf => ctrf::parse(input, limits, on_case),
    }
}
