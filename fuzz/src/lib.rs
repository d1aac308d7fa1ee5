//! What the fuzz targets share: the checks of a parsed report (run by
//! `junit`, `ctrf` and `gzip_report`) and a reader that hands its bytes out
//! in short pieces, as a gzip stream or a slow client may.

use std::io::{BufReader, Read};

use proctor::domain::report::{parse, Limits, ParseError, ReportError, ReportFormat, Summary, TestCase};

/// A parse's outcome, comparable: the summary and every case, or the error.
pub type Parsed = Result<(Summary, Vec<TestCase>), ReportError>;

/// Parses `input` whole, keeping every case.
pub fn parse_all(format: ReportFormat, input: impl std::io::BufRead, limits: &Limits) -> Parsed {
    let mut cases = Vec::new();
    let sink = |case| {
        cases.push(case);
        Ok::<(), ()>(())
    };
    match parse(format, input, limits, sink) {
        Ok(summary) => Ok((summary, cases)),
        Err(ParseError::Invalid(e)) => Err(e),
        Err(ParseError::Sink(())) => unreachable!("the sink never refuses"),
    }
}

/// Caps small enough for short inputs to reach every one of them.
pub fn tiny_limits() -> Limits {
    Limits {
        max_depth: 4,
        max_attributes: 3,
        max_name_bytes: 5,
        max_message_bytes: 6,
        max_details_bytes: 9,
        max_output_bytes: 7,
    }
}

/// The fuzz target of one report format: `data` parsed whole, in short
/// reads (which must not change anything) and under tiny caps, every
/// outcome checked against the parser's promises.
pub fn check_report(format: ReportFormat, data: &[u8]) {
    let limits = Limits::default();
    let whole = parse_all(format, data, &limits);
    check(format, &whole, data, &limits);
    let pieces = parse_all(format, BufReader::with_capacity(64 * 1024, ShortReads::new(data)), &limits);
    assert_eq!(whole, pieces, "the same report read in short pieces parsed differently");
    let tiny = tiny_limits();
    check(format, &parse_all(format, data, &tiny), data, &tiny);
}

/// What every parse promises: as many cases as it says, each within the
/// caps, and an error's position inside the input.
pub fn check(format: ReportFormat, parsed: &Parsed, data: &[u8], limits: &Limits) {
    match parsed {
        Ok((summary, cases)) => {
            assert_eq!(summary.cases, cases.len() as u64);
            for case in cases {
                check_case(format, case, limits);
            }
            if format == ReportFormat::JUnit {
                let unnamed = cases.iter().filter(|c| c.name.is_empty()).count() as u64;
                assert_eq!(summary.warnings.unnamed, unnamed);
            }
        }
        Err(e) => check_position(e, data),
    }
}

fn check_case(format: ReportFormat, case: &TestCase, limits: &Limits) {
    let capped = [
        (Some(&case.suite), limits.max_name_bytes, "suite"),
        (Some(&case.classname), limits.max_name_bytes, "classname"),
        (Some(&case.name), limits.max_name_bytes, "name"),
        (case.file.as_ref(), limits.max_name_bytes, "file"),
        (case.message.as_ref(), limits.max_message_bytes, "message"),
        (case.details.as_ref(), limits.max_details_bytes, "details"),
        (case.system_out.as_ref(), limits.max_output_bytes, "system_out"),
        (case.system_err.as_ref(), limits.max_output_bytes, "system_err"),
    ];
    for (text, cap, field) in capped {
        let Some(text) = text else { continue };
        assert!(text.len() <= cap, "{field} is {} bytes, over its cap of {cap}: {text:?}", text.len());
        // XML allows no NUL, raw or as a reference.
        if format == ReportFormat::JUnit {
            assert!(!text.contains('\0'), "{field} holds a NUL: {text:?}");
        }
    }
}

/// A reported position lies within the input: lines counted from 1 up to
/// one more than its line breaks, columns from 1 up to one past its length.
fn check_position(e: &ReportError, data: &[u8]) {
    if let Some(line) = e.line {
        let breaks = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64;
        assert!((1..=breaks + 1).contains(&line), "{e} is outside the input ({breaks} line breaks)");
    }
    if let Some(column) = e.column {
        assert!((1..=data.len() as u64 + 1).contains(&column), "{e} is outside the input ({} bytes)", data.len());
    }
}

/// A reader that returns at most a few bytes per read, varying the count.
pub struct ShortReads<'a> {
    data: &'a [u8],
    reads: usize,
}

impl<'a> ShortReads<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        ShortReads { data, reads: 0 }
    }
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const STEPS: [usize; 8] = [1, 2, 3, 5, 1, 8, 13, 4096];
        let step = STEPS[self.reads % STEPS.len()];
        self.reads += 1;
        let n = step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
