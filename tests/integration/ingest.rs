//! Ingestion over HTTP (API.md section 3): every real report of the shared
//! fixtures, a small report of each JUnit dialect and CTRF, shards joining one
//! run, duplicates, gzip, finalize / fail / closed runs, the one-call
//! `/results`, 64 concurrent uploads, and `proctor upload` against the real
//! server. Bad input is in `ingest_bad_input.rs`, crash safety in
//! `ingest_durability.rs`; both use the helpers here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

/// What a CI token holds.
pub const CI_PERMISSIONS: &str = "runs:write,runs:read,projects:read";

/// A server with an admin, a CI token and the project `web`.
pub struct Ingest {
    pub app: TestApp,
    pub token: String,
}

impl Ingest {
    pub async fn start() -> Ingest {
        Ingest::start_with(SpawnOptions::default()).await
    }

    pub async fn start_with(options: SpawnOptions) -> Ingest {
        let app = TestApp::spawn_with(options).await;
        create_admin(&app);
        let token = cli_token(&app, ADMIN_EMAIL, "ci", CI_PERMISSIONS, &[]);
        create_project(&app, "web");
        Ingest { app, token }
    }

    /// `POST /runs` with `meta`, as it came back.
    pub async fn create_run(&self, meta: Value) -> Resp {
        post(&self.app, "/api/v1/projects/web/runs", &self.token, meta).await
    }

    /// A new run of `web` (201); returns its id.
    pub async fn new_run(&self, meta: Value) -> String {
        let run = self.create_run(meta).await.expect(StatusCode::CREATED);
        assert_eq!(run["status"], "running", "{run}");
        run["id"].as_str().expect("run id").to_string()
    }

    /// Uploads `body` as a JUnit report into `run` of `web`.
    pub async fn upload_xml(&self, run: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.upload(run, body.into(), &[("content-type", "application/xml")]).await
    }

    /// Uploads `body` into `run` of `web` with exactly these headers.
    pub async fn upload(&self, run: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Resp {
        upload_to(&self.app, &self.token, &format!("/api/v1/projects/web/runs/{run}/reports"), body, headers).await
    }

    /// The run as the API shows it (see [`run_json`]).
    pub async fn run(&self, id: &str) -> Value {
        run_json(&self.app, &self.token, "web", id).await
    }
}

/// POSTs `body` to `path` with `token` and exactly `headers`.
pub async fn upload_to(app: &TestApp, token: &str, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Resp {
    let mut request = api(app, Method::POST, path, token).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

/// `GET /api/v1/projects/{slug}/runs/{id}`: the run as the API shows it.
pub async fn run_json(app: &TestApp, token: &str, slug: &str, id: &str) -> Value {
    get(app, &format!("/api/v1/projects/{slug}/runs/{id}"), token).await.expect(StatusCode::OK)
}

pub fn db(app: &TestApp) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(app.data_dir.join("proctor.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    conn
}

/// `[tests, passed, failed, errors, skipped, flaky]` of a run or report body.
pub fn counts(v: &Value) -> [i64; 6] {
    let n = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("no {k} in {v}"));
    [n("tests"), n("passed"), n("failed"), n("errors"), n("skipped"), n("flaky")]
}

/// Asserts `tests` is the sum of the outcomes.
pub fn assert_sum(v: &Value) {
    let c = counts(v);
    assert_eq!(c[0], c[1..].iter().sum::<i64>(), "tests = passed + failed + errors + skipped + flaky: {v}");
}

/// Result rows stored for a run.
pub fn results_of(app: &TestApp, run: &str) -> i64 {
    db(app).query_row("SELECT count(*) FROM results WHERE run_id = ?1", [run], |r| r.get(0)).unwrap()
}

/// Report rows stored for a run.
pub fn reports_of(app: &TestApp, run: &str) -> i64 {
    db(app).query_row("SELECT count(*) FROM reports WHERE run_id = ?1", [run], |r| r.get(0)).unwrap()
}

/// (status, retries) of the test named `name` in `run`.
fn result_of(app: &TestApp, run: &str, name: &str) -> (String, i64) {
    db(app)
        .query_row(
            "SELECT r.status, r.retries FROM results r JOIN tests t ON t.test_id = r.test_id
             WHERE r.run_id = ?1 AND t.name = ?2",
            [run, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("{name} in {run}: {e}"))
}

/// A JUnit report of `n` distinct tests named `{prefix}-{i}`, every tenth failing.
pub fn junit_report(prefix: &str, n: usize) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (s, chunk) in (0..n).collect::<Vec<_>>().chunks(100).enumerate() {
        xml.push_str(&format!("<testsuite name=\"{prefix}.suite{s}\" tests=\"{}\">\n", chunk.len()));
        for &i in chunk {
            if i % 10 == 9 {
                xml.push_str(&format!(
                    "<testcase classname=\"{prefix}.C{s}\" name=\"{prefix}-{i}\" time=\"0.004\"><failure message=\"expected 1, got 2\"/></testcase>\n"
                ));
            } else {
                xml.push_str(&format!(
                    "<testcase classname=\"{prefix}.C{s}\" name=\"{prefix}-{i}\" time=\"0.002\"/>\n"
                ));
            }
        }
        xml.push_str("</testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/reports");
    dir.is_dir().then_some(dir)
}

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
        assert_eq!(results_of(&s.app, &run), tests, "{path}");
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
    assert_eq!((results_of(&s.app, &run), reports_of(&s.app, &run)), (0, 0));
}

/// Maven Surefire: flakyFailure (passed on a rerun), rerunFailure beside a
/// failure (failed on every retry), skipped, error, properties.
const SUREFIRE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="com.example.CalcTest" time="0.51" tests="5" errors="1" skipped="1" failures="1">
  <properties>
    <property name="java.version" value="21.0.2"/>
  </properties>
  <testcase name="adds" classname="com.example.CalcTest" time="0.011"/>
  <testcase name="divides" classname="com.example.CalcTest" time="0.02">
    <failure message="expected: &lt;2&gt; but was: &lt;3&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <2> but was: <3>
	at com.example.CalcTest.divides(CalcTest.java:21)]]></failure>
    <rerunFailure message="expected: &lt;2&gt; but was: &lt;3&gt;" type="org.opentest4j.AssertionFailedError"><stackTrace>at com.example.CalcTest.divides(CalcTest.java:21)</stackTrace></rerunFailure>
    <rerunFailure message="expected: &lt;2&gt; but was: &lt;3&gt;" type="org.opentest4j.AssertionFailedError"><stackTrace>at com.example.CalcTest.divides(CalcTest.java:21)</stackTrace></rerunFailure>
  </testcase>
  <testcase name="connects" classname="com.example.CalcTest" time="0.3">
    <flakyFailure message="Read timed out" type="java.net.SocketTimeoutException"><stackTrace>java.net.SocketTimeoutException: Read timed out</stackTrace><system-out>retrying</system-out></flakyFailure>
  </testcase>
  <testcase name="later" classname="com.example.CalcTest" time="0"><skipped message="@Disabled"/></testcase>
  <testcase name="crashes" classname="com.example.CalcTest" time="0.001"><error message="boom" type="java.lang.NullPointerException">java.lang.NullPointerException: boom</error></testcase>
</testsuite>
"#;

/// pytest --junitxml (xunit2): file/line, skip, setup error, and a test
/// written twice (pytest-rerunfailures style) that failed then passed.
const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="6" time="1.203" timestamp="2024-05-01T10:00:00.000000" hostname="ci-7"><testcase classname="tests.test_api" name="test_health" file="tests/test_api.py" line="4" time="0.010" /><testcase classname="tests.test_api" name="test_login[admin]" file="tests/test_api.py" line="9" time="0.120"><failure message="AssertionError: assert 401 == 200">def test_login(role):
&gt;       assert r.status_code == 200
E       AssertionError: assert 401 == 200</failure></testcase><testcase classname="tests.test_api" name="test_db" file="tests/test_api.py" line="20" time="0.000"><skipped type="pytest.skip" message="no database">tests/test_api.py:21: no database</skipped></testcase><testcase classname="tests.test_api" name="test_cache" file="tests/test_api.py" line="30" time="0.001"><error message="failed on setup with &quot;ConnectionRefusedError&quot;">ConnectionRefusedError</error></testcase><testcase classname="tests.test_api" name="test_retry" file="tests/test_api.py" line="40" time="0.300"><failure message="TimeoutError">TimeoutError</failure></testcase><testcase classname="tests.test_api" name="test_retry" file="tests/test_api.py" line="40" time="0.200" /></testsuite></testsuites>"#;

/// jest-junit: one suite per file, classname is "describe title".
const JEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="4" failures="1" errors="0" time="1.92">
  <testsuite name="src/sum.test.ts" errors="0" failures="1" skipped="1" timestamp="2024-05-01T10:00:00" time="0.8" tests="4">
    <testcase classname="sum adds numbers" name="sum adds numbers" time="0.002">
    </testcase>
    <testcase classname="sum handles negatives" name="sum handles negatives" time="0.001">
      <failure>Error: expect(received).toBe(expected) // Object.is equality

Expected: -1
Received: 1
    at Object.&lt;anonymous&gt; (src/sum.test.ts:9:21)</failure>
    </testcase>
    <testcase classname="sum todo" name="sum todo" time="0">
      <skipped/>
    </testcase>
    <testcase classname="sum with unicode ✓ émoji 🎉" name="sum with unicode ✓ émoji 🎉" time="0.003">
    </testcase>
  </testsuite>
</testsuites>
"#;

/// gotestsum --junitfile: package as suite and classname, skips carry output.
const GOTESTSUM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1" errors="0" time="0.512000">
	<testsuite tests="4" failures="1" time="0.510000" name="example.com/app/store" timestamp="2024-05-01T10:00:00Z">
		<properties>
			<property name="go.version" value="go1.22.2 linux/amd64"></property>
		</properties>
		<testcase classname="example.com/app/store" name="TestGet" time="0.000000"></testcase>
		<testcase classname="example.com/app/store" name="TestGet/missing_key" time="0.000000"></testcase>
		<testcase classname="example.com/app/store" name="TestPut" time="0.010000">
			<failure message="Failed" type="">=== RUN   TestPut&#xA;    store_test.go:31: got 2, want 3&#xA;--- FAIL: TestPut (0.01s)&#xA;</failure>
		</testcase>
		<testcase classname="example.com/app/store" name="TestSlow" time="0.000000">
			<skipped message="=== RUN   TestSlow&#xA;    store_test.go:40: short mode&#xA;--- SKIP: TestSlow (0.00s)&#xA;"></skipped>
		</testcase>
	</testsuite>
</testsuites>
"#;

/// cargo-nextest (quick-junit): flakyFailure, failure with rerunFailure,
/// testcase-level output.
const NEXTEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" uuid="45c50a40-5bf7-4ad6-9e3d-9b2e0e6dcd41" timestamp="2024-05-01T10:00:00.000+00:00" time="0.250">
    <testsuite name="mycrate::unit" tests="3" disabled="0" errors="0" failures="1">
        <testcase name="parse::works" classname="mycrate::unit" timestamp="2024-05-01T10:00:00.001+00:00" time="0.004">
        </testcase>
        <testcase name="net::flaky" classname="mycrate::unit" timestamp="2024-05-01T10:00:00.002+00:00" time="0.030">
            <flakyFailure timestamp="2024-05-01T10:00:00.002+00:00" time="0.020" type="test failure">thread 'net::flaky' panicked at src/net.rs:10:5
                <system-out>attempt 1</system-out>
            </flakyFailure>
            <system-out>attempt 2</system-out>
        </testcase>
        <testcase name="db::broken" classname="mycrate::unit" timestamp="2024-05-01T10:00:00.003+00:00" time="0.050">
            <failure type="test failure">thread 'db::broken' panicked at src/db.rs:3:5</failure>
            <rerunFailure timestamp="2024-05-01T10:00:00.004+00:00" time="0.040" type="test failure">thread 'db::broken' panicked</rerunFailure>
            <system-err>panicked</system-err>
        </testcase>
    </testsuite>
</testsuites>
"#;

/// PHPUnit --log-junit: nested suites (data providers) with file and line.
const PHPUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="App Test Suite" tests="4" assertions="5" errors="0" failures="1" skipped="0" time="0.02">
    <testsuite name="Tests\MathTest" file="/app/tests/MathTest.php" tests="4" assertions="5" errors="0" failures="1" skipped="0" time="0.02">
      <testcase name="testAdd" class="Tests\MathTest" classname="Tests.MathTest" file="/app/tests/MathTest.php" line="10" assertions="1" time="0.001"/>
      <testsuite name="Tests\MathTest::testDivide" tests="3" assertions="4" errors="0" failures="1" skipped="0" time="0.01">
        <testcase name="testDivide with data set #0" class="Tests\MathTest" classname="Tests.MathTest" file="/app/tests/MathTest.php" line="20" assertions="1" time="0.001"/>
        <testcase name="testDivide with data set #1" class="Tests\MathTest" classname="Tests.MathTest" file="/app/tests/MathTest.php" line="20" assertions="1" time="0.001"/>
        <testcase name="testDivide with data set #2" class="Tests\MathTest" classname="Tests.MathTest" file="/app/tests/MathTest.php" line="20" assertions="2" time="0.002">
          <failure type="PHPUnit\Framework\ExpectationFailedException">Tests\MathTest::testDivide with data set #2 (1, 0)
Failed asserting that INF is identical to 0.

/app/tests/MathTest.php:22</failure>
        </testcase>
      </testsuite>
    </testsuite>
  </testsuite>
</testsuites>
"#;

/// .NET JunitXml.TestLogger and xunit: `status`-less skips, Catch2-style
/// failure with file/line, a `disabled` status (tst).
const DOTNET: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="App.Tests.dll" tests="4" skipped="1" failures="1" errors="0" time="0.4" timestamp="2024-05-01T10:00:00" hostname="runner" id="0" package="App.Tests.dll"><properties /><testcase classname="App.Tests.ParserTests" name="Parses_empty_input" time="0.0100000" /><testcase classname="App.Tests.ParserTests" name="Parses(input: &quot;a,b&quot;)" time="0.0020000"><failure type="failure" message="Assert.Equal() Failure" file="ParserTests.cs" line="31">   at App.Tests.ParserTests.Parses(String input) in /src/ParserTests.cs:line 31</failure></testcase><testcase classname="App.Tests.ParserTests" name="Slow" time="0.0000000"><skipped message="Too slow for CI" /></testcase><testcase classname="App.Tests.ParserTests" name="Disabled" time="0" status="disabled" /><system-out>Data collector 'Blame' message: All tests finished running.</system-out><system-err></system-err></testsuite></testsuites>"#;

/// CTRF (Playwright, Cypress…): flaky flag / retries on a pass, pending and
/// other count as skipped.
const CTRF: &str = r#"{
  "reportFormat": "CTRF", "specVersion": "0.0.0",
  "results": {
    "tool": {"name": "playwright", "version": "1.44.0"},
    "summary": {"tests": 6, "passed": 2, "failed": 1, "pending": 1, "skipped": 1, "other": 1, "start": 1714557600000, "stop": 1714557660000},
    "tests": [
      {"name": "logs in", "status": "passed", "duration": 1200, "suite": ["auth", "login"], "filePath": "e2e/login.spec.ts"},
      {"name": "pays", "status": "failed", "duration": 3000, "message": "Timeout 30000ms exceeded.", "trace": "at e2e/pay.spec.ts:12:5", "retries": 2},
      {"name": "searches", "status": "passed", "duration": 500, "flaky": true, "retries": 1},
      {"name": "exports", "status": "skipped", "duration": 0},
      {"name": "imports", "status": "pending", "duration": 0},
      {"name": "syncs", "status": "other", "duration": 0}
    ]
  }
}"#;

#[tokio::test]
async fn each_dialect_is_counted_as_its_runner_meant() {
    let s = Ingest::start().await;
    // (name, content type, body, [tests, passed, failed, errors, skipped, flaky])
    let cases: &[(&str, &str, &str, [i64; 6])] = &[
        ("surefire", "application/xml", SUREFIRE, [5, 1, 1, 1, 1, 1]),
        ("pytest", "text/xml", PYTEST, [5, 1, 1, 1, 1, 1]),
        ("jest", "application/xml", JEST, [4, 2, 1, 0, 1, 0]),
        ("gotestsum", "application/xml; charset=utf-8", GOTESTSUM, [4, 2, 1, 0, 1, 0]),
        ("nextest", "application/xml", NEXTEST, [3, 1, 1, 0, 0, 1]),
        ("phpunit", "application/xml", PHPUNIT, [4, 3, 1, 0, 0, 0]),
        ("dotnet", "application/xml", DOTNET, [4, 1, 1, 0, 2, 0]),
        ("ctrf", "application/json", CTRF, [6, 1, 1, 0, 3, 1]),
    ];
    let mut runs = std::collections::HashMap::new();
    for &(name, content_type, body, expected) in cases {
        let run = s.new_run(json!({"name": name})).await;
        let report = s.upload(&run, body.as_bytes().to_vec(), &[("content-type", content_type)]).await;
        let report = report.expect(StatusCode::CREATED);
        assert_eq!(counts(&report), expected, "{name}: {report}");
        assert_eq!(counts(&s.run(&run).await), expected, "{name}");
        assert_eq!(results_of(&s.app, &run), expected[0], "{name}");
        runs.insert(name, run);
    }
    // Per test: retries and how repeats merged.
    let app = &s.app;
    assert_eq!(result_of(app, &runs["surefire"], "divides"), ("failed".into(), 2));
    assert_eq!(result_of(app, &runs["surefire"], "connects"), ("flaky".into(), 1));
    assert_eq!(result_of(app, &runs["surefire"], "crashes").0, "error");
    assert_eq!(result_of(app, &runs["pytest"], "test_retry").0, "flaky");
    assert_eq!(result_of(app, &runs["pytest"], "test_cache").0, "error");
    assert_eq!(result_of(app, &runs["nextest"], "net::flaky"), ("flaky".into(), 1));
    assert_eq!(result_of(app, &runs["nextest"], "db::broken"), ("failed".into(), 1));
    assert_eq!(result_of(app, &runs["jest"], "sum with unicode ✓ émoji 🎉").0, "passed");
    assert_eq!(result_of(app, &runs["phpunit"], "testDivide with data set #2").0, "failed");
    assert_eq!(result_of(app, &runs["dotnet"], "Disabled").0, "skipped");
    assert_eq!(result_of(app, &runs["ctrf"], "searches").0, "flaky");
    assert_eq!(result_of(app, &runs["ctrf"], "pays"), ("failed".into(), 2));
    // The failure text is stored with the result.
    let (message, details): (Option<String>, Option<String>) = db(app)
        .query_row(
            "SELECT r.message, r.details FROM results r JOIN tests t ON t.test_id = r.test_id
             WHERE r.run_id = ?1 AND t.name = 'divides'",
            [&runs["surefire"]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(message.as_deref(), Some("expected: <2> but was: <3>"));
    assert!(details.unwrap_or_default().contains("CalcTest.java:21"));
}

/// Shard A: a-pass, a-fail and `shared` failing; shard B: b-pass and `shared` passing.
fn shard(tests: &[(&str, bool)]) -> String {
    let mut xml = String::from("<testsuite name=\"shards\">");
    for (name, ok) in tests {
        if *ok {
            xml.push_str(&format!("<testcase classname=\"app.Shards\" name=\"{name}\" time=\"0.01\"/>"));
        } else {
            xml.push_str(&format!(
                "<testcase classname=\"app.Shards\" name=\"{name}\" time=\"0.02\"><failure message=\"no\"/></testcase>"
            ));
        }
    }
    xml.push_str("</testsuite>");
    xml
}

#[tokio::test]
async fn shards_join_one_run_and_a_test_failing_in_one_and_passing_in_another_is_flaky() {
    let s = Ingest::start().await;
    let meta = json!({"build_id": "1234", "name": "unit", "commit": "0a1b2c3", "branch": "main",
                      "build_url": "https://ci.example.com/1234", "tags": {"os": "linux"}});
    let first = s.create_run(meta.clone()).await.expect(StatusCode::CREATED);
    let again = s.create_run(meta.clone()).await.expect(StatusCode::OK);
    assert_eq!(first["id"], again["id"]);
    for field in ["commit", "branch", "build_id", "build_url", "name", "tags"] {
        assert_eq!(first[field], meta[field], "{field}: {first}");
    }
    assert_eq!(first["status"], "running");
    assert_eq!(counts(&first), [0; 6]);
    // Another name or another build is another run.
    let other = s.create_run(json!({"build_id": "1234", "name": "e2e"})).await.expect(StatusCode::CREATED);
    assert_ne!(other["id"], first["id"]);
    let run = first["id"].as_str().unwrap().to_string();

    let a = s.upload_xml(&run, shard(&[("a-pass", true), ("a-fail", false), ("shared", false)])).await;
    assert_eq!(counts(&a.expect(StatusCode::CREATED)), [3, 1, 2, 0, 0, 0]);
    let b = s.upload_xml(&run, shard(&[("b-pass", true), ("shared", true)])).await;
    assert_eq!(counts(&b.expect(StatusCode::CREATED)), [2, 2, 0, 0, 0, 0]);
    // Distinct tests: a-pass, a-fail, b-pass, shared (failed, then passed).
    assert_eq!(counts(&s.run(&run).await), [4, 2, 1, 0, 0, 1]);
    assert_eq!(result_of(&s.app, &run, "shared").0, "flaky");
    assert_eq!(reports_of(&s.app, &run), 2);

    let done = post(&s.app, &format!("/api/v1/projects/web/runs/{run}/finalize"), &s.token, json!({})).await;
    let done = done.expect(StatusCode::OK);
    assert_eq!(done["status"], "failed", "a-fail failed: {done}");
    assert_eq!(counts(&done), [4, 2, 1, 0, 0, 1]);
    // The build's next attempt, once this run is closed, is a new run.
    let retry = s.create_run(meta).await.expect(StatusCode::CREATED);
    assert_ne!(retry["id"], first["id"]);
}

#[tokio::test]
async fn the_same_bytes_twice_count_once_even_gzipped() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({"build_id": "7", "name": "unit"})).await;
    let body = junit_report("dup", 30);
    let first = s.upload_xml(&run, body.clone()).await.expect(StatusCode::CREATED);
    assert_eq!(counts(&first), [30, 27, 3, 0, 0, 0]);
    assert_eq!(first["duplicate"], false);

    let again = s.upload_xml(&run, body.clone()).await.expect(StatusCode::OK);
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], first["id"], "the stored report");
    assert_eq!(counts(&again), counts(&first));
    // Identity is of the decompressed bytes.
    let zipped = s
        .upload(&run, gzip(body.as_bytes()), &[("content-type", "application/xml"), ("content-encoding", "gzip")])
        .await
        .expect(StatusCode::OK);
    assert_eq!(zipped["duplicate"], true);
    assert_eq!(counts(&s.run(&run).await), [30, 27, 3, 0, 0, 0]);
    assert_eq!((reports_of(&s.app, &run), results_of(&s.app, &run)), (1, 30));
    let attempts = db(&s.app)
        .query_row("SELECT max(attempts) FROM results WHERE run_id = ?1", [&run], |r| r.get::<_, i64>(0))
        .unwrap();
    assert_eq!(attempts, 1, "a duplicate does not touch the results");

    // One byte more is another report; into another run the same bytes are new.
    let changed = s.upload_xml(&run, format!("{body}\n")).await.expect(StatusCode::CREATED);
    assert_eq!(changed["duplicate"], false);
    assert_ne!(changed["id"], first["id"]);
    let other = s.new_run(json!({})).await;
    assert_eq!(s.upload_xml(&other, body).await.expect(StatusCode::CREATED)["duplicate"], false);
}

#[tokio::test]
async fn gzip_bodies_are_decompressed_and_counted() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({})).await;
    let body = junit_report("gz", 500);
    let zipped = gzip(body.as_bytes());
    assert!(zipped.len() * 5 < body.len());
    for encoding in ["gzip", "x-gzip"] {
        let run = s.new_run(json!({"name": encoding})).await;
        let report = s
            .upload(&run, zipped.clone(), &[("content-type", "application/xml"), ("content-encoding", encoding)])
            .await
            .expect(StatusCode::CREATED);
        assert_eq!(counts(&report), [500, 450, 50, 0, 0, 0], "{encoding}");
    }
    let ctrf = gzip(CTRF.as_bytes());
    let report = s
        .upload(&run, ctrf, &[("content-type", "application/json"), ("content-encoding", "gzip")])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(counts(&report), [6, 1, 1, 0, 3, 1]);
    let stored: i64 =
        db(&s.app).query_row("SELECT bytes FROM reports WHERE run_id = ?1", [&run], |r| r.get(0)).unwrap();
    assert_eq!(stored, CTRF.len() as i64, "the decompressed size is recorded");
}

#[tokio::test]
async fn finalize_is_idempotent_fail_marks_errored_and_closed_runs_refuse_reports() {
    let s = Ingest::start().await;
    let path = |run: &str, action: &str| format!("/api/v1/projects/web/runs/{run}/{action}");

    // A passing run.
    let green = s.new_run(json!({"name": "green"})).await;
    s.upload_xml(&green, shard(&[("ok", true)])).await.expect(StatusCode::CREATED);
    let done = post(&s.app, &path(&green, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(done["status"], "passed", "{done}");
    assert!(done["finished_at"].as_str().is_some_and(|t| unix(t) >= now_unix() - 60), "{done}");
    let again = post(&s.app, &path(&green, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(again["status"], "passed");
    assert_eq!(again["finished_at"], done["finished_at"], "idempotent");
    assert_eq!(counts(&again), [1, 1, 0, 0, 0, 0]);
    // Finalize needs no body at all.
    let bare = send(api(&s.app, Method::POST, &path(&green, "finalize"), &s.token)).await;
    assert_eq!(bare.expect(StatusCode::OK)["status"], "passed");

    let closed = s.upload_xml(&green, shard(&[("late", true)])).await;
    closed.expect_code(StatusCode::CONFLICT, "run_closed");
    let fail = post(&s.app, &path(&green, "fail"), &s.token, json!({"reason": "too late"})).await;
    fail.expect_code(StatusCode::CONFLICT, "run_closed");
    assert_eq!(counts(&s.run(&green).await), [1, 1, 0, 0, 0, 0]);
    assert_eq!(s.run(&green).await["status"], "passed");

    // A failing run.
    let red = s.new_run(json!({"name": "red"})).await;
    s.upload_xml(&red, shard(&[("ok", true), ("bad", false)])).await.expect(StatusCode::CREATED);
    let done = post(&s.app, &path(&red, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(done["status"], "failed");
    // An empty run passes.
    let empty = s.new_run(json!({"name": "empty"})).await;
    let done = post(&s.app, &path(&empty, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!((done["status"].as_str(), counts(&done)), (Some("passed"), [0; 6]));

    // A CI job that died: errored with its reason; no more reports, no finalize.
    let dead = s.new_run(json!({"name": "dead"})).await;
    s.upload_xml(&dead, shard(&[("ok", true)])).await.expect(StatusCode::CREATED);
    let failed = post(&s.app, &path(&dead, "fail"), &s.token, json!({"reason": "runner OOM-killed"})).await;
    let failed = failed.expect(StatusCode::OK);
    assert_eq!(failed["status"], "errored", "{failed}");
    assert_eq!(failed["reason"], "runner OOM-killed", "{failed}");
    assert_eq!(counts(&failed), [1, 1, 0, 0, 0, 0], "what arrived is kept");
    let again = post(&s.app, &path(&dead, "fail"), &s.token, json!({"reason": "again"})).await;
    assert_eq!(again.expect(StatusCode::OK)["status"], "errored");
    s.upload_xml(&dead, shard(&[("late", true)])).await.expect_code(StatusCode::CONFLICT, "run_closed");
    post(&s.app, &path(&dead, "finalize"), &s.token, json!({})).await.expect_code(StatusCode::CONFLICT, "run_closed");
    assert_eq!(s.run(&dead).await["status"], "errored");

    // Unknown runs.
    let missing = "0190a000-0000-7000-8000-000000000000";
    for action in ["finalize", "fail", "reports"] {
        let resp = post(&s.app, &path(missing, action), &s.token, json!({})).await;
        resp.expect_code(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn one_call_results_creates_uploads_and_finalizes() {
    let s = Ingest::start().await;
    let query = "commit=cafe123&branch=main&build_id=99&build_url=https%3A%2F%2Fci%2F99&name=e2e";
    let path = format!("/api/v1/projects/web/results?{query}");
    let body = shard(&[("one", true), ("two", false)]);
    let resp = upload_to(&s.app, &s.token, &path, body.into_bytes(), &[("content-type", "application/xml")]).await;
    let run = resp.expect(StatusCode::CREATED);
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(counts(&run), [2, 1, 1, 0, 0, 0]);
    assert_eq!((run["commit"].as_str(), run["branch"].as_str()), (Some("cafe123"), Some("main")));
    assert_eq!((run["build_id"].as_str(), run["name"].as_str()), (Some("99"), Some("e2e")));
    assert_eq!(run["build_url"], "https://ci/99");
    assert_eq!(run["project"], "web");
    assert!(run["finished_at"].is_string());
    let id = run["id"].as_str().unwrap();
    assert_eq!((reports_of(&s.app, id), results_of(&s.app, id)), (1, 2));

    // CTRF, gzipped, no metadata at all.
    let resp = upload_to(
        &s.app,
        &s.token,
        "/api/v1/projects/web/results",
        gzip(CTRF.as_bytes()),
        &[("content-type", "application/json"), ("content-encoding", "gzip")],
    )
    .await;
    let run = resp.expect(StatusCode::CREATED);
    assert_eq!((run["status"].as_str(), counts(&run)), (Some("failed"), [6, 1, 1, 0, 3, 1]));

    // A bad report creates nothing.
    let before = sql_count(&s.app, "SELECT count(*) FROM runs");
    let resp =
        upload_to(&s.app, &s.token, &path, b"<testsuite>".to_vec(), &[("content-type", "application/xml")]).await;
    resp.expect_code(StatusCode::BAD_REQUEST, "invalid_report");
    assert_eq!(sql_count(&s.app, "SELECT count(*) FROM runs"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_uploads_all_land() {
    let s = std::sync::Arc::new(Ingest::start().await);
    // 16 runs of 4 shards, each shard 200 distinct tests.
    let mut runs = Vec::new();
    for r in 0..16 {
        runs.push(s.new_run(json!({"build_id": format!("b{r}"), "name": "load"})).await);
    }
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = s.clone();
        let run = runs[i % 16].clone();
        tasks.push(tokio::spawn(async move {
            let body = junit_report(&format!("r{}s{}", i % 16, i / 16), 200);
            // The shard joins its run the way CI does: create-or-join, then upload.
            let joined = s.create_run(json!({"build_id": format!("b{}", i % 16), "name": "load"})).await;
            assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
            assert_eq!(joined.json()["id"], run.as_str());
            s.upload_xml(&run, body).await
        }));
    }
    for task in tasks {
        let resp = task.await.unwrap();
        assert!(!resp.status.is_server_error(), "{:?} {}", resp.status, resp.text);
        assert_eq!(counts(&resp.expect(StatusCode::CREATED)), [200, 180, 20, 0, 0, 0]);
    }
    for run in &runs {
        assert_eq!(counts(&s.run(run).await), [800, 720, 80, 0, 0, 0]);
        assert_eq!((reports_of(&s.app, run), results_of(&s.app, run)), (4, 800));
    }
    let log = s.app.log();
    assert!(!log.contains("database is locked"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// CI variables of the machine running the tests would leak into the run.
const CI_VARS: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_RUN_ID",
    "GITHUB_SHA",
    "GITHUB_REF_NAME",
    "GITLAB_CI",
    "CI_PIPELINE_ID",
    "JENKINS_URL",
    "JENKINS_HOME",
    "BUILD_TAG",
    "PROCTOR_URL",
    "PROCTOR_TOKEN",
    "PROCTOR_PROJECT",
    "PROCTOR_CONFIG",
];

fn proctor_upload(app: &TestApp, token: &str, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command.arg("upload").args(args);
    for var in CI_VARS {
        command.env_remove(var);
    }
    command
        .env("PROCTOR_URL", &app.base)
        .env("PROCTOR_TOKEN", token)
        .env("PROCTOR_UPLOAD_RETRY_BASE_MS", "5")
        .stdin(Stdio::null())
        .output()
        .expect("run proctor upload")
}

#[tokio::test]
async fn proctor_upload_sends_shards_into_one_run_of_the_real_server() {
    let s = Ingest::start().await;
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("unit.xml");
    let e2e = dir.path().join("e2e.json");
    std::fs::write(&unit, shard(&[("one", true), ("two", false), ("both", false)])).unwrap();
    std::fs::write(&e2e, CTRF).unwrap();
    let args = ["--project", "web", "--build-id", "ci-42", "--name", "unit", "--commit", "abc123"];
    let files = [unit.to_str().unwrap(), e2e.to_str().unwrap()];
    let out = proctor_upload(&s.app, &s.token, &[&args[..], &files[..]].concat());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let prefix = format!("{}/projects/web/runs/", s.app.base);
    assert!(stdout.starts_with(&prefix) && stdout.ends_with('\n') && stdout.lines().count() == 1, "{stdout}");
    let run = stdout.trim()[prefix.len()..].to_string();
    let stored = s.run(&run).await;
    assert_eq!(reports_of(&s.app, &run), 2, "both files are reports of the run");
    assert_eq!(counts(&stored), [9, 2, 3, 0, 3, 1], "{stored}");
    assert_eq!(stored["status"], "failed");
    assert_eq!((stored["build_id"].as_str(), stored["commit"].as_str()), (Some("ci-42"), Some("abc123")));
    assert!(!stderr.contains(&s.token) && !s.app.log().contains(&s.token));

    // Wrong token: the server's message, a failure, nothing on stdout.
    let wrong = "prc_pat_GarbageGarbageGarbageGarbage000000";
    let out = proctor_upload(&s.app, wrong, &[&args[..], &files[..1]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("Invalid API key"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(sql_count(&s.app, "SELECT count(*) FROM runs"), 1);
}
