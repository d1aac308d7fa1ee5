//! Corpus test over the real reports in `../shared/fixtures/reports`: per-file outcome counts checked by hand.
//!
//! The counts below were taken by reading each file (for the three large
//! ones: counting `<testcase` / `<failure` / `<skipped` occurrences and
//! checking no testcase holds two results), not from this parser's output.
//! The suites' own `tests=`/`failures=` attributes are deliberately not the
//! source: gotestsum's golden file says 59 tests and holds 60 testcases.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{parse, Limits, Outcome, ParseError, ReportFormat};

/// (path under the fixtures folder, passed, failed, error, skipped, flaky).
const JUNIT: &[(&str, u64, u64, u64, u64, u64)] = &[
    ("dorny+test-reporter/__tests__/fixtures/external/java/pulsar-test-report.xml", 793, 1, 0, 14, 0),
    ("dorny+test-reporter/__tests__/fixtures/external/java/TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml", 0, 1, 0, 1, 0),
    ("dorny+test-reporter/__tests__/fixtures/external/java/empty_failures.xml", 2, 1, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/external/jest/jest-test-results.xml", 4207, 2, 0, 30, 0),
    ("dorny+test-reporter/__tests__/fixtures/jest-junit.xml", 1, 4, 0, 1, 0),
    ("dorny+test-reporter/__tests__/fixtures/jest-junit-eslint.xml", 1, 0, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/empty/jest-junit-empty-testsuite.xml", 0, 0, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/python-xunit-pytest.xml", 6, 2, 0, 2, 0),
    // "test_always_skip" has no <skipped>: Swift wrote it as passed.
    ("dorny+test-reporter/__tests__/fixtures/swift-xunit.xml", 2, 1, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/external/phpunit/phpcheckstyle-phpunit.xml", 28, 2, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/bazel/suite-logs.xml", 0, 0, 1, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/junit.gloo.standalone.xml", 80, 0, 0, 17, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/junit.spark.integration.1.xml", 33, 0, 0, 2, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/junit.spark.integration.2.xml", 33, 0, 0, 2, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/scalatest/TEST-uk.co.gresearch.spark.diff.DiffOptionsSuite.xml", 5, 0, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/mocha/latex-utensils.xml", 109, 0, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/xunit/xunit.xml", 2, 0, 0, 0, 0),
    // failure+error+skipped, failure+skipped, skipped, nothing.
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/junit.multiresult.xml", 1, 2, 0, 1, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/testsuite-in-testsuite.xml", 5, 0, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/unsupported-unicode.xml", 1, 2, 2, 2, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/with-xml-entities.xml", 0, 1, 1, 2, 0),
    // 5 status='disabled', 1 errored, 19 failed, 6 passed.
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/tst/disabled.xml", 6, 19, 1, 5, 0),
    ("mikepenz+action-junit-report/test_results/nextest/basic.xml", 2, 1, 0, 0, 0),
    ("mikepenz+action-junit-report/test_results/maven_surefire_flaky/surefire-report.xml", 0, 0, 0, 0, 1),
    ("mikepenz+action-junit-report/test_results/junit_flaky_failure/marathon_junit_report.xml", 0, 0, 0, 0, 1),
    // Retries as repeated testcases: merged by the caller with combine().
    ("mikepenz+action-junit-report/test_results/flaky_retries/flaky_with_classname_file.xml", 3, 1, 1, 0, 0),
    ("mikepenz+action-junit-report/test_results/python/report_flaky.xml", 2, 2, 0, 0, 0),
    ("mikepenz+action-junit-report/test_results/catch2/report.xml", 0, 1, 0, 0, 0),
    // time="<<computed>>": a raw `<` in an attribute value is tolerated.
    ("mikepenz+action-junit-report/test_results/junit-web-test/expectedRetries.xml", 5, 2, 0, 1, 0),
    ("mikepenz+action-junit-report/test_results/tests/utils/target/surefire-reports/TEST-action.surefire.report.calc.StringUtilsTest.xml", 2, 2, 0, 1, 0),
    ("gotestyourself+gotestsum/internal/junitxml/testdata/junitxml-report.golden", 42, 13, 0, 5, 0),
    ("spekt+junit.testlogger/docs/assets/TestResults.xml", 32, 14, 0, 6, 0),
    // testcase0-7: pass, fail, error, skip, flaky, fail+reruns, pass, fail+flaky.
    ("nextest-rs+quick-junit/crates/quick-junit-tests/tests/fixtures/basic_report.xml", 2, 3, 1, 1, 1),
];

/// Files that must be rejected: (path, message prefix, line, column).
const REJECTED: &[(&str, &str, Option<u64>, Option<u64>)] = &[
    (
        "EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/corrupt-xml.xml",
        "unexpected end of input: <skipped> is not closed",
        Some(11),
        Some(22),
    ),
    (
        "dorny+test-reporter/__tests__/fixtures/dotnet-trx.trx",
        "not a JUnit report: root element <TestRun>",
        Some(2),
        Some(1),
    ),
    (
        "dorny+test-reporter/__tests__/fixtures/dotnet-nunit.xml",
        "not a JUnit report: root element <test-run>",
        Some(2),
        Some(1),
    ),
    ("dorny+test-reporter/__tests__/fixtures/golang-json.json", "not a JUnit report", Some(1), Some(1)),
];

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/reports");
    dir.is_dir().then_some(dir)
}

fn open(dir: &Path, path: &str) -> std::io::BufReader<std::fs::File> {
    let file = std::fs::File::open(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    std::io::BufReader::new(file)
}

#[test]
fn junit_corpus_counts() {
    let Some(dir) = fixtures() else {
        println!("skipped: ../shared/fixtures/reports not found");
        return;
    };
    for &(path, passed, failed, error, skipped, flaky) in JUNIT {
        let mut counts = [0u64; 5];
        let result = parse(ReportFormat::JUnit, open(&dir, path), &Limits::default(), |c| {
            let i = match c.outcome {
                Outcome::Passed => 0,
                Outcome::Failed => 1,
                Outcome::Error => 2,
                Outcome::Skipped => 3,
                Outcome::Flaky => 4,
            };
            counts[i] += 1;
            Ok::<(), ()>(())
        });
        match result {
            Ok(summary) => assert_eq!(summary.cases, counts.iter().sum::<u64>(), "{path}"),
            Err(ParseError::Invalid(e)) => panic!("{path}: {e}"),
            Err(ParseError::Sink(())) => unreachable!("the sink never fails"),
        }
        assert_eq!(counts, [passed, failed, error, skipped, flaky], "{path}");
    }
}

#[test]
fn corpus_rejections() {
    let Some(dir) = fixtures() else {
        println!("skipped: ../shared/fixtures/reports not found");
        return;
    };
    for &(path, message, line, column) in REJECTED {
        match parse(ReportFormat::JUnit, open(&dir, path), &Limits::default(), |_| Ok::<(), ()>(())) {
            Err(ParseError::Invalid(e)) => {
                assert!(e.message.starts_with(message), "{path}: {e}");
                assert_eq!((e.line, e.column), (line, column), "{path}: {e}");
            }
            _ => panic!("{path}: accepted"),
        }
    }
}

/// Every file in the manifest is covered, so a new fixture cannot slip by.
#[test]
fn corpus_covers_the_manifest() {
    let Some(dir) = fixtures() else {
        println!("skipped: ../shared/fixtures/reports not found");
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.txt")).unwrap_or_default();
    let listed: BTreeSet<&str> = manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('|').next().map(str::trim))
        .collect();
    let covered: BTreeSet<&str> = JUNIT.iter().map(|t| t.0).chain(REJECTED.iter().map(|t| t.0)).collect();
    assert_eq!(listed, covered);
}

#[test]
fn corpus_fields_spot_checks() {
    let Some(dir) = fixtures() else {
        println!("skipped: ../shared/fixtures/reports not found");
        return;
    };
    let all = |path: &str| {
        let mut out = Vec::new();
        let result = parse(ReportFormat::JUnit, open(&dir, path), &Limits::default(), |c| {
            out.push(c);
            Ok::<(), ()>(())
        });
        assert!(result.is_ok(), "{path}");
        out
    };
    let unicode = all("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/unsupported-unicode.xml");
    assert_eq!(
        unicode[0].name,
        "test 1 \u{d5f4}\u{471d}\u{d5f1}\u{d650}\u{38c7}\u{3ff7}\u{452d}\u{1237a}\u{214ff}\u{20109}\u{3993}"
    );
    assert_eq!((unicode[0].file.as_deref(), unicode[0].line), (Some("test/test-1.py"), Some(1)));
    let surefire = all("mikepenz+action-junit-report/test_results/maven_surefire_flaky/surefire-report.xml");
    assert_eq!(surefire[0].retries, 1);
    assert_eq!(surefire[0].message.as_deref(), Some("Expected: <false>\n     but: was <true>"));
    assert_eq!(surefire[0].system_err, None);
    let pulsar = all(
        "dorny+test-reporter/__tests__/fixtures/external/java/TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml",
    );
    assert_eq!(pulsar[1].message.as_deref(), Some("expected [1.2.1] but found [1.2.0]"));
    assert!(pulsar[1].details.as_deref().is_some_and(|d| d.starts_with("java.lang.AssertionError: expected [1.2.1]")));
    // The same 35 tests twice: one distinct test each after combine().
    let mut merged = std::collections::HashMap::new();
    for name in ["1", "2"] {
        let path = format!("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/junit.spark.integration.{name}.xml");
        for c in all(&path) {
            let key = (c.suite, c.classname, c.name, c.file);
            let outcome = merged.get(&key).map_or(c.outcome, |&o| super::combine(o, c.outcome));
            merged.insert(key, outcome);
        }
    }
    assert_eq!(merged.len(), 35);
}

/// Every corpus file, damaged a few bytes at a time (flipped, dropped,
/// inserted markup characters, cut, repeated): each damaged copy is either
/// accepted or refused with a position, as JUnit and as CTRF, and never
/// panics (which would be a 500). Deterministic: a fixed xorshift seed; at
/// 5,000 copies per file (over 300,000 parses) it found nothing either.
#[test]
fn damaged_corpus_files_are_refused_or_read_never_a_panic() {
    let Some(dir) = fixtures() else {
        println!("skipped: ../shared/fixtures/reports not found");
        return;
    };
    const COPIES: usize = 400;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    let paths = JUNIT.iter().map(|c| c.0).chain(REJECTED.iter().map(|c| c.0));
    let mut refused = 0;
    for path in paths {
        let original = std::fs::read(dir.join(path)).unwrap();
        if original.len() > 64 * 1024 {
            continue; // the large ones add time, not new shapes
        }
        for copy in 0..COPIES {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 8 {
                if bytes.is_empty() {
                    break;
                }
                let at = next() % bytes.len();
                let end = (at + next() % 64).min(bytes.len());
                match next() % 5 {
                    0 => bytes[at] = next() as u8,
                    1 => drop(bytes.drain(at..end)),
                    2 => bytes.insert(at, b"<>&;\"'/=![]?-\0\xff"[next() % 15]),
                    3 => bytes.truncate(at),
                    _ => drop(bytes.splice(at..at, bytes[at..end].to_vec())),
                }
            }
            for format in [ReportFormat::JUnit, ReportFormat::Ctrf] {
                match parse(format, bytes.as_slice(), &Limits::default(), |_| Ok::<(), ()>(())) {
                    Ok(_) => {}
                    Err(ParseError::Invalid(e)) => {
                        // Only an empty document has no place to point at.
                        let placed = e.line.is_some() || e.message.ends_with("the document has no root element");
                        assert!(placed, "{path} copy {copy}: {e}");
                        refused += 1;
                    }
                    Err(ParseError::Sink(())) => unreachable!("the sink never fails"),
                }
            }
        }
    }
    assert!(refused > 0, "the damage was never noticed");
}
