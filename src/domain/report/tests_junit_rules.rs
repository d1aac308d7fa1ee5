//! JUnit rules that hold whatever the generator: outcome precedence, odd times,
//! text decoding and truncation, unknown elements, empty suites, sink errors.

use super::tests_junit::{cases, cases_with, outcomes};
use super::Outcome::{Error, Failed, Passed, Skipped};
use super::{parse, Limits, ParseError, ReportFormat};

#[test]
fn empty_failure_counts_and_status_attribute_skips() {
    let xml = r#"<testsuites><testsuite name="s">
<testcase classname="a.B" name="empty_failure" time="4.558"><failure/></testcase>
<testcase classname="a.B" name="attr_only"><failure message="Traceback:&#10;  line 1&#10;AssertionError" /></testcase>
<testcase name="disabled" status="disabled"/>
<testcase name="notrun" status="NotRun"/>
<testcase name="skipped_status" status=" skipped "/>
<testcase name="run" status="run"/>
<testcase name="failed_despite_status" status="skipped"><failure/></testcase>
</testsuite></testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Failed, Failed, Skipped, Skipped, Skipped, Passed, Failed]);
    assert_eq!((got[0].message.as_deref(), got[0].details.as_deref()), (None, None));
    assert_eq!(got[1].message.as_deref(), Some("Traceback:\n  line 1\nAssertionError"));
}

#[test]
fn multi_result_precedence() {
    let xml = r#"<testsuites><testsuite name="test suite">
<testcase classname="c" name="all three"><skipped /><failure message="test failure">Assertion failed</failure><error message="teardown">stdout</error></testcase>
<testcase classname="c" name="error and skip"><skipped message="s"/><error message="e"/></testcase>
<testcase classname="c" name="error first"><error message="e"/><failure message="f"/></testcase>
<testcase classname="c" name="two failures"><failure message="first"/><failure message="second"/></testcase>
<testcase classname="c" name="skip beats flaky"><flakyFailure/><skipped/></testcase>
<testcase classname="c" name="passed"></testcase>
</testsuite></testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Failed, Error, Failed, Failed, Skipped, Passed]);
    assert_eq!(got[0].message.as_deref(), Some("test failure"));
    assert_eq!(got[1].message.as_deref(), Some("e"));
    assert_eq!(got[2].message.as_deref(), Some("f"));
    assert_eq!(got[3].message.as_deref(), Some("first"));
}

#[test]
fn missing_or_odd_times() {
    let xml = r#"<testsuite name="s">
<testcase name="none"/>
<testcase name="computed" time="&lt;&lt;computed&gt;&gt;"/>
<testcase name="thousands" time="1,234.5"/>
<testcase name="spaces" time=" 0.0015 "/>
<testcase name="negative" time="-0.5"/>
<testcase name="integer" time="3"/>
</testsuite>"#;
    let got: Vec<_> = cases(xml).iter().map(|c| c.duration_ms).collect();
    assert_eq!(got, [None, None, Some(1_234_500), Some(2), None, Some(3000)]);
}

#[test]
fn cdata_entities_and_character_references() {
    let xml = "<testsuite name=\"a &amp; b\"><testcase name=\"&lt;&gt;&amp;&quot;&apos; &#233;&#x1F600;\" classname=\"x\"><failure>before <![CDATA[<raw> &amp; ]]]]><![CDATA[>]]> after &#x1b;[31mred</failure><system-out><![CDATA[line1\r\nline2]]></system-out></testcase></testsuite>";
    let got = cases(xml);
    assert_eq!(got[0].suite, "a & b");
    assert_eq!(got[0].name, "<>&\"' é😀");
    assert_eq!(got[0].details.as_deref(), Some("before <raw> &amp; ]]> after \u{1b}[31mred"));
    assert_eq!(got[0].system_out.as_deref(), Some("line1\nline2"));
}

#[test]
fn text_and_names_are_truncated_not_rejected() {
    let limits = Limits {
        max_name_bytes: 5,
        max_message_bytes: 4,
        max_details_bytes: 6,
        max_output_bytes: 3,
        ..Limits::default()
    };
    let xml = "<testsuite name=\"suite-name\"><testcase name=\"éééé\" classname=\"abcdefgh\" file=\"f/f/f/f\"><failure message=\"message\" type=\"T\">0123456789</failure><system-out>outputoutput</system-out><system-err><![CDATA[errerr]]>err</system-err></testcase></testsuite>";
    let got = cases_with(xml, &limits);
    let c = &got[0];
    assert_eq!((c.suite.as_str(), c.name.as_str(), c.classname.as_str()), ("suite", "éé", "abcde"));
    assert_eq!(c.file.as_deref(), Some("f/f/f"));
    assert_eq!(c.message.as_deref(), Some("mess"));
    assert_eq!(c.details.as_deref(), Some("T\n0123"));
    assert_eq!((c.system_out.as_deref(), c.system_err.as_deref()), (Some("out"), Some("err")));
}

#[test]
fn namespaced_and_unknown_elements_are_tolerated() {
    let xml = r#"<?xml version="1.0"?>
<!-- generated -->
<?some-pi data?>
<j:testsuites xmlns:j="urn:x"><j:testsuite name="ns"><j:testcase name="t"><j:skipped/><custom><failure/></custom></j:testcase><custom-element><testcase name="not a test"/></custom-element></j:testsuite></j:testsuites>"#;
    let got = cases(xml);
    assert_eq!(outcomes(&got), [Skipped]);
    assert_eq!(got[0].suite, "ns");
}

#[test]
fn empty_suites_give_no_cases() {
    assert!(cases("<testsuites/>").is_empty());
    assert!(cases("<testsuites>\n\t<testsuite name=\"x\" tests=\"5\">\n\t</testsuite>\n</testsuites>").is_empty());
}

#[test]
fn the_sink_error_stops_the_parse() {
    let xml = "<testsuite><testcase name=\"a\"/><testcase name=\"b\"/><testcase name=\"c\"/></testsuite>";
    let mut seen = 0;
    let result = parse(ReportFormat::JUnit, xml.as_bytes(), &Limits::default(), |_| {
        seen += 1;
        if seen == 2 {
            Err("db is down")
        } else {
            Ok(())
        }
    });
    assert!(matches!(result, Err(ParseError::Sink("db is down"))));
    assert_eq!(seen, 2);
}
