//! A small report of each JUnit dialect (Surefire, pytest, jest, gotestsum,
//! nextest, PHPUnit, .NET) and CTRF, each counted as its runner meant.

use reqwest::StatusCode;
use serde_json::json;

use super::{counts, Ingest, CTRF};

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
        assert_eq!(s.tests(&run).await.len() as i64, expected[0], "{name}: one result per distinct test");
        runs.insert(name, run);
    }
    // Per test: retries and how repeats merged.
    assert_eq!(s.result_of(&runs["surefire"], "divides").await, ("failed".into(), 2));
    assert_eq!(s.result_of(&runs["surefire"], "connects").await, ("flaky".into(), 1));
    assert_eq!(s.result_of(&runs["surefire"], "crashes").await.0, "error");
    assert_eq!(s.result_of(&runs["pytest"], "test_retry").await.0, "flaky");
    assert_eq!(s.result_of(&runs["pytest"], "test_cache").await.0, "error");
    assert_eq!(s.result_of(&runs["nextest"], "net::flaky").await, ("flaky".into(), 1));
    assert_eq!(s.result_of(&runs["nextest"], "db::broken").await, ("failed".into(), 1));
    assert_eq!(s.result_of(&runs["jest"], "sum with unicode ✓ émoji 🎉").await.0, "passed");
    assert_eq!(s.result_of(&runs["phpunit"], "testDivide with data set #2").await.0, "failed");
    assert_eq!(s.result_of(&runs["dotnet"], "Disabled").await.0, "skipped");
    assert_eq!(s.result_of(&runs["ctrf"], "searches").await.0, "flaky");
    assert_eq!(s.result_of(&runs["ctrf"], "pays").await, ("failed".into(), 2));
    // The failure text is kept with the result.
    let divides = s.result(&runs["surefire"], "divides").await;
    assert_eq!(divides["message"], "expected: <2> but was: <3>", "{divides}");
    assert!(divides["details"].as_str().unwrap_or_default().contains("CalcTest.java:21"), "{divides}");
}
