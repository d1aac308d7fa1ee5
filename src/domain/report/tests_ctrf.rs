//! CTRF JSON tests: status mapping, field mapping, streaming and rejection with positions.

use super::Outcome::{Failed, Flaky, Passed, Skipped};
use super::{parse, Limits, ParseError, ReportError, ReportFormat, TestCase};

fn cases(json: &str) -> Vec<TestCase> {
    let mut out = Vec::new();
    match parse(ReportFormat::Ctrf, json.as_bytes(), &Limits::default(), |c| {
        out.push(c);
        Ok::<(), ()>(())
    }) {
        Ok(summary) => assert_eq!(summary.cases, out.len() as u64),
        Err(ParseError::Invalid(e)) => panic!("unexpected invalid report: {e}"),
        Err(ParseError::Sink(())) => panic!("sink error"),
    }
    out
}

fn rejection(json: &str) -> ReportError {
    match parse(ReportFormat::Ctrf, json.as_bytes(), &Limits::default(), |_| Ok::<(), ()>(())) {
        Err(ParseError::Invalid(e)) => e,
        _ => panic!("accepted a bad report"),
    }
}

#[test]
fn maps_statuses_and_fields() {
    let json = r#"{
  "reportFormat": "CTRF", "specVersion": "0.0.0",
  "results": {
    "tool": {"name": "jest", "extra": {"nested": [1, {"deep": true}]}},
    "summary": {"tests": 8, "passed": 3, "failed": 2, "skipped": 1, "pending": 1, "other": 1, "start": 1, "stop": 2},
    "tests": [
      {"name": "adds", "status": "passed", "duration": 12, "suite": "math", "filePath": "src/math.test.ts", "line": 10, "tags": ["fast"]},
      {"name": "subtracts", "status": "failed", "duration": 3.6, "message": "  expected 1 to be 2\n", "trace": "Error: expected\n    at math.test.ts:20:5", "rawStatus": "failed", "retries": 2, "flaky": false},
      {"name": "divides", "status": "passed", "duration": 1, "retries": 1},
      {"name": "multiplies", "status": "passed", "duration": 1, "flaky": true, "retries": 0},
      {"name": "later", "status": "skipped", "duration": 0},
      {"name": "todo", "status": "pending", "duration": 0},
      {"name": "weird", "status": "other", "duration": 0},
      {"name": "nested", "status": "PASSED", "duration": 0, "suite": ["root", "child", "leaf"], "stdout": ["line 1", "line 2"], "stderr": "warn", "extra": {"k": "v"}, "attempts": [{"name": "nested", "status": "failed", "duration": 1}]}
    ],
    "environment": {"appName": "x"}
  }
}"#;
    let got = cases(json);
    let outcomes: Vec<_> = got.iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, [Passed, Failed, Flaky, Flaky, Skipped, Skipped, Skipped, Passed]);
    let first = &got[0];
    assert_eq!((first.suite.as_str(), first.classname.as_str(), first.name.as_str()), ("math", "", "adds"));
    assert_eq!((first.file.as_deref(), first.line, first.duration_ms), (Some("src/math.test.ts"), Some(10), Some(12)));
    let failed = &got[1];
    assert_eq!((failed.retries, failed.duration_ms), (2, Some(4)));
    assert_eq!(failed.message.as_deref(), Some("expected 1 to be 2"));
    assert_eq!(failed.details.as_deref(), Some("Error: expected\n    at math.test.ts:20:5"));
    assert_eq!(got[2].retries, 1);
    let nested = &got[7];
    assert_eq!(nested.suite, "root > child > leaf");
    assert_eq!(nested.system_out.as_deref(), Some("line 1\nline 2"));
    assert_eq!(nested.system_err.as_deref(), Some("warn"));
}

#[test]
fn accepts_older_field_names_and_nulls() {
    let json = r#"{"results": {"tests": [
        {"name": "a", "status": "passed", "duration": 5, "retry": 1},
        {"name": "b", "status": "passed", "duration": 5, "flake": true},
        {"name": "c", "status": "failed", "duration": null, "message": null, "suite": null, "line": 1.5}
    ]}}"#;
    let got = cases(json);
    let outcomes: Vec<_> = got.iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, [Flaky, Flaky, Failed]);
    assert_eq!((got[2].duration_ms, got[2].line, got[2].suite.as_str()), (None, None, ""));
}

#[test]
fn empty_tests_array_and_bom_are_fine() {
    assert!(cases(r#"{"results": {"tool": {"name": "x"}, "tests": []}}"#).is_empty());
    let got = cases("\u{feff}{\"results\": {\"tests\": [{\"name\": \"a\", \"status\": \"passed\", \"duration\": 1}]}}");
    assert_eq!(got.len(), 1);
}

#[test]
fn a_bom_is_skipped_however_the_bytes_arrive() {
    // Found by fuzzing (ctrf): the mark was only recognised when the first
    // read held all three of its bytes.
    let json = "\u{feff}{\"results\": {\"tests\": [{\"name\": \"a\", \"status\": \"passed\"}]}}";
    let mut seen = 0;
    let one_byte_reads = std::io::BufReader::with_capacity(1, json.as_bytes());
    let summary = parse(ReportFormat::Ctrf, one_byte_reads, &Limits::default(), |_| {
        seen += 1;
        Ok::<(), ()>(())
    });
    assert_eq!((summary.map(|s| s.cases).ok(), seen), (Some(1), 1));
    // Bytes that only begin like one are kept, and refused where they stand.
    let almost = "\u{feff}".as_bytes()[..2].iter().chain(br#"{"results": {"tests": []}}"#).copied().collect::<Vec<_>>();
    for capacity in [1, 2, 64] {
        let reader = std::io::BufReader::with_capacity(capacity, almost.as_slice());
        match parse(ReportFormat::Ctrf, reader, &Limits::default(), |_| Ok::<(), ()>(())) {
            Err(ParseError::Invalid(e)) => assert_eq!((e.line, e.column), (Some(1), Some(1)), "{e}"),
            other => panic!("accepted a report that starts with half a byte order mark: {other:?}"),
        }
    }
}

#[test]
fn caps_apply() {
    let long = "é".repeat(3000);
    let json = format!(
        r#"{{"results": {{"tests": [{{"name": "{long}", "status": "failed", "duration": 1, "message": "{long}", "trace": "{long}"}}]}}}}"#
    );
    let got = cases(&json);
    let limits = Limits::default();
    assert_eq!(got[0].name.len(), limits.max_name_bytes);
    assert_eq!(got[0].message.as_ref().map(String::len), Some(limits.max_message_bytes));
    assert_eq!(got[0].details.as_ref().map(String::len), Some(6000));
}

#[test]
fn streams_each_test_before_reading_the_next() {
    // The sink stops at the first test; the broken rest is never reached.
    let json = r#"{"results": {"tests": [{"name": "a", "status": "passed", "duration": 1}, {"name": "#;
    let mut seen = Vec::new();
    let result = parse(ReportFormat::Ctrf, json.as_bytes(), &Limits::default(), |c| {
        seen.push(c.name);
        Err("stop")
    });
    assert!(matches!(result, Err(ParseError::Sink("stop"))));
    assert_eq!(seen, ["a"]);
}

#[test]
fn rejects_missing_tests_with_position() {
    let e = rejection("{\"results\": {\"tool\": {\"name\": \"x\"}\n}}");
    assert_eq!(e.message, "not a valid CTRF report: missing field `tests`");
    assert_eq!((e.line, e.column), (Some(2), Some(1)));
    let e = rejection("{\"other\": 1}");
    assert_eq!(e.message, "not a valid CTRF report: missing field `results`");
}

#[test]
fn rejects_malformed_json_with_position() {
    let e = rejection("{\"results\": {\"tests\": [\n  {\"name\": \"a\",, }]}}");
    assert_eq!((e.line, e.column), (Some(2), Some(16)));
    assert!(e.message.starts_with("not a valid CTRF report: "), "{}", e.message);
    let trailing = rejection("{\"results\": {\"tests\": []}} trailing");
    assert_eq!(trailing.line, Some(1));
    let wrong_type = rejection("{\"results\": {\"tests\": {\"name\": \"a\"}}}");
    assert!(wrong_type.message.contains("an array of CTRF tests"), "{}", wrong_type.message);
    let not_object = rejection("[1, 2]");
    assert!(not_object.message.contains("a CTRF report object"), "{}", not_object.message);
    let junit = rejection("<testsuites/>");
    assert_eq!((junit.line, junit.column), (Some(1), Some(1)));
    let empty = rejection("");
    assert!(empty.message.contains("EOF"), "{}", empty.message);
    let bad_field = rejection(r#"{"results": {"tests": [{"name": 5, "status": "passed"}]}}"#);
    assert!(bad_field.message.contains("invalid type"), "{}", bad_field.message);
}
