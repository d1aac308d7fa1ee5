//! Every real report of the shared fixtures: uploaded with the counts of its
//! distinct tests, or refused with where it went wrong.

use reqwest::StatusCode;
use serde_json::json;

use super::{assert_sum, counts, fixtures_dir, report_rows, Ingest};

/// Every JUnit fixture with the counts of its *distinct* tests:
/// (path, passed, failed, errors, skipped, flaky).
///
/// These are the parser's hand-checked per-element counts
/// (`src/domain/report/tests_corpus.rs`) except for the files that report a
/// test more than once, where a run counts it once (flaky if it failed and
/// passed, else its last result):
/// - flaky_with_classname_file.xml: test_foo fails, errors, then passes →
///   flaky; test_bar and test_baz pass → 2 passed, 1 flaky (5 testcases).
/// - expectedRetries.xml: "retried flaky test" fails then passes → flaky;
///   4 passed, 1 failed ("asserts error"), 1 skipped (8 testcases).
/// - TEST-…AddMissingPatchVersionTest.xml: testVersionStrings skipped, then
///   failed → 1 failed (2 testcases).
/// - latex-utensils.xml (mocha): 109 passing testcases, 8 names repeated
///   (one three times) → 101 passed.
/// - pulsar-test-report.xml (808 testcases) and jest-test-results.xml (4239):
///   138 and 257 repeats (TestNG data providers, jest.each titles), counted
///   with a separate script and spot-checked (the skipped pulsar tests are
///   listed once per retry: 14 skipped testcases, 6 distinct tests).
const FIXTURES: &[(&str, i64, i64, i64, i64, i64)] = &[
    ("dorny+test-reporter/__tests__/fixtures/external/java/pulsar-test-report.xml", 663, 1, 0, 6, 0),
    ("dorny+test-reporter/__tests__/fixtures/external/java/TEST-org.apache.pulsar.AddMissingPatchVersionTest.xml", 0, 1, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/external/java/empty_failures.xml", 2, 1, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/external/jest/jest-test-results.xml", 3950, 2, 0, 30, 0),
    ("dorny+test-reporter/__tests__/fixtures/jest-junit.xml", 1, 4, 0, 1, 0),
    ("dorny+test-reporter/__tests__/fixtures/jest-junit-eslint.xml", 1, 0, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/empty/jest-junit-empty-testsuite.xml", 0, 0, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/python-xunit-pytest.xml", 6, 2, 0, 2, 0),
    ("dorny+test-reporter/__tests__/fixtures/swift-xunit.xml", 2, 1, 0, 0, 0),
    ("dorny+test-reporter/__tests__/fixtures/external/phpunit/phpcheckstyle-phpunit.xml", 28, 2, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/bazel/suite-logs.xml", 0, 0, 1, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/junit.gloo.standalone.xml", 80, 0, 0, 17, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/junit.spark.integration.1.xml", 33, 0, 0, 2, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/junit.spark.integration.2.xml", 33, 0, 0, 2, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/scalatest/TEST-uk.co.gresearch.spark.diff.DiffOptionsSuite.xml", 5, 0, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/mocha/latex-utensils.xml", 101, 0, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/xunit/xunit.xml", 2, 0, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/junit.multiresult.xml", 1, 2, 0, 1, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/testsuite-in-testsuite.xml", 5, 0, 0, 0, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/unsupported-unicode.xml", 1, 2, 2, 2, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/with-xml-entities.xml", 0, 1, 1, 2, 0),
    ("EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/tst/disabled.xml", 6, 19, 1, 5, 0),
    ("mikepenz+action-junit-report/test_results/nextest/basic.xml", 2, 1, 0, 0, 0),
    ("mikepenz+action-junit-report/test_results/maven_surefire_flaky/surefire-report.xml", 0, 0, 0, 0, 1),
    ("mikepenz+action-junit-report/test_results/junit_flaky_failure/marathon_junit_report.xml", 0, 0, 0, 0, 1),
    ("mikepenz+action-junit-report/test_results/flaky_retries/flaky_with_classname_file.xml", 2, 0, 0, 0, 1),
    ("mikepenz+action-junit-report/test_results/python/report_flaky.xml", 2, 2, 0, 0, 0),
    ("mikepenz+action-junit-report/test_results/catch2/report.xml", 0, 1, 0, 0, 0),
    ("mikepenz+action-junit-report/test_results/junit-web-test/expectedRetries.xml", 4, 1, 0, 1, 1),
    ("mikepenz+action-junit-report/test_results/tests/utils/target/surefire-reports/TEST-action.surefire.report.calc.StringUtilsTest.xml", 2, 2, 0, 1, 0),
    ("gotestyourself+gotestsum/internal/junitxml/testdata/junitxml-report.golden", 42, 13, 0, 5, 0),
    ("spekt+junit.testlogger/docs/assets/TestResults.xml", 32, 14, 0, 6, 0),
    ("nextest-rs+quick-junit/crates/quick-junit-tests/tests/fixtures/basic_report.xml", 2, 3, 1, 1, 1),
];

/// Fixtures that are refused: (path, what the message says).
const REFUSED: &[(&str, &str)] = &[
    (
        "EnricoMi+publish-unit-test-result-action/python/test/files/junit-xml/pytest/corrupt-xml.xml",
        "line 11, column 22",
    ),
    ("dorny+test-reporter/__tests__/fixtures/dotnet-trx.trx", "not a JUnit report"),
    ("dorny+test-reporter/__tests__/fixtures/dotnet-nunit.xml", "not a JUnit report"),
    ("dorny+test-reporter/__tests__/fixtures/golang-json.json", "not a JUnit report"),
];

#[tokio::test]
async fn every_fixture_uploads_with_the_counts_of_its_distinct_tests() {
    let Some(dir) = fixtures_dir() else {
        println!("skipped: ../shared/fixtures/reports not found");
        return;
    };
    let s = Ingest::start().await;
    for &(path, passed, failed, errors, skipped, flaky) in FIXTURES {
        let bytes = std::fs::read(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let run = s.new_run(json!({"name": path})).await;
        let report = s.upload_xml(&run, bytes).await.expect(StatusCode::CREATED);
        let tests = passed + failed + errors + skipped + flaky;
        assert_sum(&report);
        assert_eq!(counts(&report), [tests, passed, failed, errors, skipped, flaky], "{path}: {report}");
        assert_eq!(report["duplicate"], false, "{path}");
        assert!(report["id"].as_str().is_some_and(|id| !id.is_empty()), "{path}: {report}");
        // A run of one report counts what the report counts, one row per test.
        let stored = s.run(&run).await;
        assert_eq!(counts(&stored), counts(&report), "{path}: {stored}");
        assert_eq!(s.tests(&run).await.len() as i64, tests, "{path}");
    }
}

#[tokio::test]
async fn fixtures_that_are_not_junit_or_not_well_formed_are_refused_with_where() {
    let Some(dir) = fixtures_dir() else {
        println!("skipped: ../shared/fixtures/reports not found");
        return;
    };
    let s = Ingest::start().await;
    let run = s.new_run(json!({})).await;
    for &(path, says) in REFUSED {
        let bytes = std::fs::read(dir.join(path)).unwrap();
        let message = s.upload_xml(&run, bytes).await.expect_code(StatusCode::BAD_REQUEST, "invalid_report");
        assert!(message.contains(says), "{path}: {message}");
    }
    assert_eq!(counts(&s.run(&run).await), [0; 6]);
    assert!(s.tests(&run).await.is_empty(), "no result of a refused report");
    assert_eq!(report_rows(&s.app, &run), 0, "no report row either");
}
