//! JUnit dialect tests: small reports in the shape each generator writes, with exact expectations.

use super::Outcome::{Error, Failed, Flaky, Passed, Skipped};
use super::{parse, Limits, Outcome, ParseError, ReportError, ReportFormat, TestCase};

/// Every case of a report that must parse.
pub(super) fn cases(xml: &str) -> Vec<TestCase> {
    cases_with(xml, &Limits::default())
}

pub(super) fn cases_with(xml: &str, limits: &Limits) -> Vec<TestCase> {
    let mut out = Vec::new();
    let result = parse(ReportFormat::JUnit, xml.as_bytes(), limits, |c| {
        out.push(c);
        Ok::<(), ()>(())
    });
    match result {
        Ok(summary) => assert_eq!(summary.cases, out.len() as u64),
        Err(ParseError::Invalid(e)) => panic!("unexpected invalid report: {e}"),
        Err(ParseError::Sink(())) => panic!("sink error"),
    }
    out
}

/// The error of a report that must be rejected.
pub(super) fn rejection(xml: &[u8]) -> ReportError {
    rejection_with(xml, &Limits::default())
}

pub(super) fn rejection_with(xml: &[u8], limits: &Limits) -> ReportError {
    match parse(ReportFormat::JUnit, xml, limits, |_| Ok::<(), ()>(())) {
        Err(ParseError::Invalid(e)) => e,
        Err(ParseError::Sink(())) => panic!("sink error"),
        Ok(s) => panic!("accepted a bad report ({} cases)", s.cases),
    }
}

pub(super) fn outcomes(cases: &[TestCase]) -> Vec<Outcome> {
    cases.iter().map(|c| c.outcome).collect()
}

#[test]
fn surefire_flaky_and_rerun() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.example.FooTest" tests="3">
  <properties><property name="java.version" value="21"/></properties>
  <testcase name="flaky" classname="com.example.FooTest" time="0.683">
    <flakyFailure message="first try" type="java.lang.AssertionError">
      <stackTrace>java.lang.AssertionError: first try
	at com.example.FooTest.flaky(FooTest.java:12)</stackTrace>
      <system-out>retry output</system-out>
    </flakyFailure>
    <flakyError type="java.io.IOException"><stackTrace>boom</stackTrace></flakyError>
  </testcase>
  <testcase name="broken" classname="com.example.FooTest" time="1.5">
    <failure message="always" type="java.lang.AssertionError">java.lang.AssertionError: always</failure>
    <rerunFailure message="again" type="java.lang.AssertionError"/>
    <rerunFailure message="and again" type="java.lang.AssertionError"/>
    <system-out>final output</system-out>
  </testcase>
  <testcase name="ok" classname="com.example.FooTest" time="0.001"/>
</testsuite>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Flaky, Failed, Passed]);
    let flaky = &got[0];
    assert_eq!(flaky.retries, 2);
    assert_eq!(flaky.message.as_deref(), Some("first try"));
    assert_eq!(
        flaky.details.as_deref(),
        Some("java.lang.AssertionError: first try\n\tat com.example.FooTest.flaky(FooTest.java:12)")
    );
    // The retry's own output is not the test's output.
    assert_eq!(flaky.system_out, None);
    assert_eq!(flaky.duration_ms, Some(683));
    let broken = &got[1];
    assert_eq!((broken.retries, broken.message.as_deref()), (2, Some("always")));
    assert_eq!(broken.details.as_deref(), Some("java.lang.AssertionError: always"));
    assert_eq!(broken.system_out.as_deref(), Some("final output"));
    assert_eq!(got[2].retries, 0);
    assert!(got.iter().all(|c| c.suite == "com.example.FooTest"));
}

#[test]
fn nextest_quick_junit() {
    let xml = r#"<testsuites name="nextest-run" tests="4">
  <testsuite name="my-crate::tests" tests="4">
    <testcase name="tests::passes" classname="my-crate::tests" time="0.010"/>
    <testcase name="tests::flaky" classname="my-crate::tests" time="0.020">
      <flakyFailure type="test failure" message="attempt 1 failed">thread 'tests::flaky' panicked</flakyFailure>
    </testcase>
    <testcase name="tests::fails" classname="my-crate::tests" time="0.030">
      <failure type="test failure">thread 'tests::fails' panicked at src/lib.rs:3:5</failure>
      <rerunFailure type="test failure">panicked again</rerunFailure>
      <rerunError type="test failure">timed out</rerunError>
      <system-err>stderr here</system-err>
    </testcase>
    <testcase name="tests::errs"><rerunError type="x"/><error message="crashed"/></testcase>
  </testsuite>
</testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Passed, Flaky, Failed, Error]);
    assert_eq!(got[1].retries, 1);
    assert_eq!(got[1].details.as_deref(), Some("test failure\nthread 'tests::flaky' panicked"));
    assert_eq!(got[2].retries, 2);
    assert_eq!(got[2].message.as_deref(), Some("thread 'tests::fails' panicked at src/lib.rs:3:5"));
    assert_eq!(got[2].system_err.as_deref(), Some("stderr here"));
    assert_eq!((got[3].retries, got[3].message.as_deref()), (1, Some("crashed")));
}

#[test]
fn pytest() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="5" time="0.5" timestamp="2024-01-01T00:00:00" hostname="ci"><testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="3" time="0.001" /><testcase classname="tests.test_a" name="test_fail" time="0.002"><failure message="assert 1 == 2">def test_fail():
&gt;       assert 1 == 2
E       assert 1 == 2

tests/test_a.py:7: AssertionError</failure></testcase><testcase classname="tests.test_a" name="test_skip" time="0.000"><skipped type="pytest.skip" message="not on CI">tests/test_a.py:10: not on CI</skipped></testcase><testcase classname="tests.test_a" name="test_xfail" time="0.000"><skipped type="pytest.xfail" message="" /></testcase><testcase classname="tests.test_a" name="test_setup" time="0.000"><error message="failed on setup with &quot;fixture 'db' not found&quot;">file tests/test_a.py, line 12</error></testcase></testsuite></testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Passed, Failed, Skipped, Skipped, Error]);
    assert_eq!((got[0].file.as_deref(), got[0].line), (Some("tests/test_a.py"), Some(3)));
    assert_eq!(got[1].details.as_deref().map(|d| d.lines().nth(1)), Some(Some(">       assert 1 == 2")));
    assert_eq!(got[2].message.as_deref(), Some("not on CI"));
    assert_eq!(got[2].details.as_deref(), Some("pytest.skip\ntests/test_a.py:10: not on CI"));
    assert_eq!((got[3].message.as_deref(), got[3].details.as_deref()), (None, Some("pytest.xfail")));
    assert_eq!(got[4].message.as_deref(), Some("failed on setup with \"fixture 'db' not found\""));
}

#[test]
fn jest_junit() {
    let xml = r#"<testsuites name="jest tests" tests="3" failures="1" errors="0" time="1.36">
  <testsuite name="__tests__\main.test.js" errors="0" failures="1" skipped="1" timestamp="2020-10-27T21:39:41" time="0.486" tests="3">
    <testcase classname="Test 1 › Test 1.1" name="Failing test" time="0.002">
      <failure>Error: expect(received).toBeTruthy()

Received: false
    at Object.&lt;anonymous&gt; (__tests__/main.test.js:10:21)</failure>
    </testcase>
    <testcase classname="" name="Skipped test" time="0"><skipped/></testcase>
    <testcase classname="Test 1" name="Passing test" time="0.001">
    </testcase>
  </testsuite>
</testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Failed, Skipped, Passed]);
    assert_eq!(got[0].classname, "Test 1 › Test 1.1");
    assert_eq!(got[0].suite, "__tests__\\main.test.js");
    assert_eq!(got[0].message.as_deref(), Some("Error: expect(received).toBeTruthy()"));
    assert!(got[0].details.as_deref().is_some_and(|d| d.ends_with("(__tests__/main.test.js:10:21)")));
    assert_eq!((got[1].message.as_deref(), got[1].details.as_deref()), (None, None));
}

#[test]
fn gotestsum() {
    let xml = "<testsuites tests=\"3\">\n\t<testsuite tests=\"3\" name=\"example.com/pkg\" time=\"0.010000\">\n\t\t<properties><property name=\"go.version\" value=\"go1.22\"></property></properties>\n\t\t<testcase classname=\"example.com/pkg\" name=\"TestA/sub\" time=\"0.000000\"></testcase>\n\t\t<testcase classname=\"example.com/pkg\" name=\"TestB\" time=\"0.010000\">\n\t\t\t<failure message=\"Failed\" type=\"\">=== RUN   TestB&#xA;    b_test.go:9: nope&#xA;--- FAIL: TestB (0.01s)&#xA;</failure>\n\t\t</testcase>\n\t\t<testcase classname=\"example.com/pkg\" name=\"TestC\" time=\"0.000000\">\n\t\t\t<skipped message=\"=== RUN   TestC&#xA;    c_test.go:4: later&#xA;\"></skipped>\n\t\t</testcase>\n\t</testsuite>\n</testsuites>";
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Passed, Failed, Skipped]);
    assert_eq!(got[1].message.as_deref(), Some("Failed"));
    // An empty `type` is no type.
    assert_eq!(got[1].details.as_deref(), Some("=== RUN   TestB\n    b_test.go:9: nope\n--- FAIL: TestB (0.01s)"));
    assert_eq!(got[1].duration_ms, Some(10));
    assert_eq!(got[2].message.as_deref(), Some("=== RUN   TestC\n    c_test.go:4: later"));
}

#[test]
fn phpunit_nested_suites_with_file_and_line() {
    let xml = r#"<testsuites>
  <testsuite name="/app/phpunit.xml" tests="3">
    <testsuite name="Unit" tests="3">
      <testsuite name="CommentsTest" file="/app/test/CommentsTest.php" tests="2">
        <testcase name="testGood" file="/app/test/CommentsTest.php" line="12" class="CommentsTest" classname="CommentsTest" assertions="4" time="0.005093"/>
        <testcase name="testBad" class="CommentsTest" assertions="1" time="0.000921">
          <failure type="PHPUnit\Framework\ExpectationFailedException">CommentsTest::testBad
Failed asserting that 1 is identical to 2.

/app/test/CommentsTest.php:40</failure>
          <system-out>warning, line 4</system-out>
        </testcase>
      </testsuite>
      <testcase name="testLoose" classname="Loose" time="0.1"/>
    </testsuite>
  </testsuite>
</testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Passed, Failed, Passed]);
    assert_eq!((got[0].suite.as_str(), got[0].line), ("CommentsTest", Some(12)));
    // No file on the testcase: the nearest suite's; `class` when no `classname`.
    assert_eq!(got[1].file.as_deref(), Some("/app/test/CommentsTest.php"));
    assert_eq!(got[1].classname, "CommentsTest");
    assert_eq!(got[1].message.as_deref(), Some("CommentsTest::testBad"));
    assert!(got[1]
        .details
        .as_deref()
        .is_some_and(|d| d.starts_with("PHPUnit\\Framework\\ExpectationFailedException\nCommentsTest::testBad")));
    assert_eq!(got[1].system_out.as_deref(), Some("warning, line 4"));
    assert_eq!((got[2].suite.as_str(), got[2].file.as_deref()), ("Unit", None));
}

#[test]
fn xunit_net_with_bom_and_crlf() {
    let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<testsuites name=\"Test results\" tests=\"2\">\r\n  <properties>\r\n    <property name=\"skipped\" value=\"1\" />\r\n  </properties>\r\n  <testsuite name=\"Rhino Collection\" tests=\"2\">\r\n    <testcase name=\"App.Tests.SetTest\" time=\"0.4540354\" />\r\n    <testcase name=\"App.Tests.GetTest\" time=\"0.0039778\">\r\n      <failure message=\"Assert.Equal() Failure\">  at App.Tests.GetTest()\r\n  in Tests.cs:line 12\r\n</failure>\r\n    </testcase>\r\n  </testsuite>\r\n</testsuites>\r\n";
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Passed, Failed]);
    assert_eq!((got[0].classname.as_str(), got[0].duration_ms), ("", Some(454)));
    assert_eq!(got[1].details.as_deref(), Some("at App.Tests.GetTest()\n  in Tests.cs:line 12"));
}

#[test]
fn catch2_keeps_the_testcase_identity() {
    let xml = r#"<?xml version='1.0' encoding='UTF-8'?>
<testsuites>
  <testsuite errors="0" failures="1" name="ut_utility" tests="2" time="0.000">
    <properties><property name="filters" value="is constant"/></properties>
    <testcase classname="ut_utility" name="is constant evaluated" status="run" time="0.000">
      <failure file="test/unit/utility.cpp" line="19" message="REQUIRE(v == 1) expands to 0 == 1" type="REQUIRE">
FAILED:
  REQUIRE( v == 1 )
at test/unit/utility.cpp:19
      </failure>
    </testcase>
    <testcase classname="ut_utility" name="passes" status="run" time="0.001"/>
    <system-out/>
    <system-err>suite level noise</system-err>
  </testsuite>
</testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Failed, Passed]);
    // A failure's file/line must not change the test's identity.
    assert_eq!((got[0].file.as_deref(), got[0].line), (None, None));
    assert_eq!(got[0].message.as_deref(), Some("REQUIRE(v == 1) expands to 0 == 1"));
    assert_eq!(got[0].details.as_deref(), Some("REQUIRE\nFAILED:\n  REQUIRE( v == 1 )\nat test/unit/utility.cpp:19"));
    assert_eq!(got[1].system_err, None);
}

#[test]
fn mocha_bare_testsuite_without_declaration() {
    let xml = r#"<testsuite name="Mocha Tests" tests="3" failures="1" errors="0" skipped="1" timestamp="Sat, 03 Dec 2022 23:10:07 GMT" time="0.29">
<testcase classname="bibtexParser" name="parse fields ending ," time="0"/>
<testcase classname="bibtexParser" name="throws" time="0.002"><failure message="expected [Function] to throw" type="AssertionError"><![CDATA[AssertionError: expected [Function] to throw
    at Context.<anonymous> (test/bibtex.ts:10:5)]]></failure></testcase>
<testcase classname="bibtexParser" name="pending" time="0"><skipped/></testcase>
</testsuite>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Passed, Failed, Skipped]);
    assert_eq!(got[0].suite, "Mocha Tests");
    assert_eq!(
        got[1].details.as_deref(),
        Some("AssertionError: expected [Function] to throw\n    at Context.<anonymous> (test/bibtex.ts:10:5)")
    );
}

#[test]
fn bazel_error_with_suite_level_logs() {
    let xml = r#"<testsuites>
  <testsuite name="bazel/failing_test" tests="1" failures="0" errors="1">
    <testcase name="bazel/failing_test" status="run" duration="0" time="0"><error message="exited with error code 1"></error></testcase>
      <system-out>
Generated test.log:
<![CDATA[exec ${PAGER:-/usr/bin/less} "$0" || exit 1
ModuleNotFoundError: No module named 'x']]>
      </system-out>
    </testsuite>
</testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Error]);
    assert_eq!(got[0].message.as_deref(), Some("exited with error code 1"));
    assert_eq!((got[0].details.as_deref(), got[0].system_out.as_deref()), (None, None));
    assert_eq!(got[0].duration_ms, Some(0));
}

#[test]
fn google_test_and_ctest_mark_skips_with_status() {
    // Google Test: a disabled test is `status="notrun" result="suppressed"`
    // with no element; GTEST_SKIP() is `result="skipped"` with `<skipped>`.
    let gtest = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1" disabled="1" errors="0" time="0.035" name="AllTests">
  <testsuite name="MathTest" tests="4" failures="1" disabled="1" skipped="1" errors="0" time="0.035">
    <testcase name="Adds" file="test/math_test.cc" line="10" status="run" result="completed" time="0.001" classname="MathTest" />
    <testcase name="Subtracts" file="test/math_test.cc" line="15" status="run" result="completed" time="0.002" classname="MathTest">
      <failure message="test/math_test.cc:17&#x0A;Expected equality" type=""><![CDATA[test/math_test.cc:17
Expected equality of these values:
  1
  2]]></failure>
    </testcase>
    <testcase name="DISABLED_Divides" file="test/math_test.cc" line="20" status="notrun" result="suppressed" time="0" classname="MathTest" />
    <testcase name="Skips" file="test/math_test.cc" line="25" status="run" result="skipped" time="0" classname="MathTest"><skipped message="Skipped"/></testcase>
  </testsuite>
</testsuites>"#;
    let got = cases(gtest);
    assert_eq!(outcomes(&got), [Passed, Failed, Skipped, Skipped]);
    assert_eq!(got[1].message.as_deref(), Some("test/math_test.cc:17\nExpected equality"));
    assert_eq!((got[2].file.as_deref(), got[2].line), (Some("test/math_test.cc"), Some(20)));
    // CTest (`ctest --output-junit`): one case per test program, status on the case.
    let ctest = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Linux-c++" tests="3" failures="1" disabled="0" skipped="1" hostname="" time="0" timestamp="2024-01-01T00:00:00" >
	<testcase name="unit" classname="unit" time="0.01" status="run"><system-out>ok</system-out></testcase>
	<testcase name="integration" classname="integration" time="0.02" status="fail"><failure message="Failed"/><system-out>boom</system-out></testcase>
	<testcase name="gpu" classname="gpu" time="0" status="notrun"><skipped message="Disabled"/><system-out/></testcase>
</testsuite>"#;
    let got = cases(ctest);
    assert_eq!(outcomes(&got), [Passed, Failed, Skipped]);
    assert_eq!((got[1].message.as_deref(), got[1].system_out.as_deref()), (Some("Failed"), Some("boom")));
}

#[test]
fn eclipse_testrun_root_and_ignored_attribute() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testrun name="AllTests" project="app" tests="3" started="3" failures="1" errors="0" ignored="1">
  <testsuite name="com.example.AllTests" time="0.05">
    <testsuite name="com.example.ParserTest" time="0.05">
      <testcase name="parses" classname="com.example.ParserTest" time="0.01"/>
      <testcase name="rejects" classname="com.example.ParserTest" time="0.02"><failure>java.lang.AssertionError</failure></testcase>
      <testcase name="later" classname="com.example.ParserTest" time="0.0" ignored="true"/>
    </testsuite>
  </testsuite>
</testrun>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Passed, Failed, Skipped]);
    assert!(got.iter().all(|c| c.suite == "com.example.ParserTest"));
    // A status that says it ran does not undo `ignored`, whatever the order.
    let got = cases(
        r#"<testrun><testcase name="a" ignored="true" status="run"/><testcase name="b" ignored="false"/></testrun>"#,
    );
    assert_eq!(outcomes(&got), [Skipped, Passed]);
}
