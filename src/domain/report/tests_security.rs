//! Hostile and broken JUnit input: every cap, every rejection, and where it is reported.

use std::io::Read;

use super::tests_junit::{cases, cases_with, rejection, rejection_with};
use super::{parse, Limits, ParseError, ReportFormat};

fn at(line: u64, column: u64) -> (Option<u64>, Option<u64>) {
    (Some(line), Some(column))
}

#[test]
fn doctype_is_rejected() {
    let e = rejection(b"<?xml version=\"1.0\"?>\n<!DOCTYPE testsuites>\n<testsuites/>");
    assert_eq!(e.message, "DOCTYPE and entity declarations are not allowed");
    assert_eq!((e.line, e.column), at(2, 1));
    let lower = rejection(b"<!doctype testsuites><testsuites/>");
    assert_eq!(lower.message, "DOCTYPE and entity declarations are not allowed");
}

#[test]
fn billion_laughs_is_rejected_before_expansion() {
    let xml = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<testsuite name="&lol3;"><testcase name="&lol3;"/></testsuite>"#;
    let e = rejection(xml);
    assert_eq!(e.message, "DOCTYPE and entity declarations are not allowed");
    assert_eq!((e.line, e.column), at(2, 1));
}

#[test]
fn external_entity_is_rejected() {
    let xml = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&xxe;"/></testsuite>"#;
    let e = rejection(xml);
    assert_eq!(e.message, "DOCTYPE and entity declarations are not allowed");
    assert_eq!((e.line, e.column), at(1, 22));
    let stray = rejection(b"<!ENTITY x \"y\"><testsuite/>");
    assert_eq!(stray.message, "DOCTYPE and entity declarations are not allowed");
}

#[test]
fn undeclared_entities_are_rejected_not_expanded() {
    let in_text = rejection(b"<testsuite>\n<testcase><failure>a &xxe; b</failure></testcase></testsuite>");
    assert!(in_text.message.contains("undefined entity &xxe;"), "{}", in_text.message);
    assert_eq!((in_text.line, in_text.column), at(2, 22));
    let in_attr = rejection(b"<testsuite><testcase name=\"&xxe;\"/></testsuite>");
    assert!(in_attr.message.contains("undefined entity &xxe;"), "{}", in_attr.message);
    assert_eq!((in_attr.line, in_attr.column), at(1, 12));
}

#[test]
fn depth_bomb_is_rejected() {
    let limits = Limits::default();
    let mut xml = String::from("<testsuites>");
    for _ in 0..100_000 {
        xml.push_str("<testsuite>");
    }
    let e = rejection(xml.as_bytes());
    assert_eq!(e.message, "elements nested deeper than 64 levels");
    // The 65th element starts after <testsuites> and 63 <testsuite>s.
    let column = 1 + "<testsuites>".len() + 63 * "<testsuite>".len();
    assert_eq!((e.line, e.column), at(1, column as u64));
    // Exactly at the limit is fine.
    let mut ok = String::new();
    for _ in 0..limits.max_depth {
        ok.push_str("<testsuite>");
    }
    for _ in 0..limits.max_depth {
        ok.push_str("</testsuite>");
    }
    assert!(cases(&ok).is_empty());
}

#[test]
fn attribute_flood_is_rejected() {
    let limits = Limits { max_attributes: 3, ..Limits::default() };
    let ok = "<testsuite a=\"1\" b=\"2\" c=\"3\"><testcase name=\"x\"/></testsuite>";
    assert_eq!(cases_with(ok, &limits).len(), 1);
    let e = rejection_with(b"<testsuite>\n  <properties a=\"1\" b=\"2\" c=\"3\" d=\"4\"/></testsuite>", &limits);
    assert_eq!(e.message, "element <properties> has more than 3 attributes");
    assert_eq!((e.line, e.column), at(2, 3));
    let mut flood = String::from("<testsuite");
    for i in 0..10_000 {
        flood.push_str(&format!(" a{i}=\"v\""));
    }
    flood.push_str("/>");
    assert!(rejection(flood.as_bytes()).message.contains("more than 64 attributes"));
}

#[test]
fn malformed_attributes_are_positioned() {
    let dup = rejection(b"<testsuite>\n<testcase name=\"a\" name=\"b\"/></testsuite>");
    assert_eq!((dup.message.as_str(), dup.line, dup.column), ("duplicate attribute", Some(2), Some(20)));
    let unquoted = rejection(b"<testsuite><testcase name=a/></testsuite>");
    assert_eq!(unquoted.message, "attribute value is not quoted");
    assert_eq!((unquoted.line, unquoted.column), at(1, 27));
}

/// A reader producing `<testsuite><testcase><system-out>` and then `len`
/// bytes of output without ever holding them, to prove streaming.
struct HugeOutput {
    head: &'static [u8],
    body_left: usize,
    tail: &'static [u8],
}

impl Read for HugeOutput {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if !self.head.is_empty() {
            let n = self.head.len().min(out.len());
            out[..n].copy_from_slice(&self.head[..n]);
            self.head = &self.head[n..];
            return Ok(n);
        }
        if self.body_left > 0 {
            let n = self.body_left.min(out.len());
            for (i, b) in out[..n].iter_mut().enumerate() {
                *b = if i % 80 == 79 { b'\n' } else { b'x' };
            }
            self.body_left -= n;
            return Ok(n);
        }
        let n = self.tail.len().min(out.len());
        out[..n].copy_from_slice(&self.tail[..n]);
        self.tail = &self.tail[n..];
        Ok(n)
    }
}

#[test]
fn huge_text_is_truncated_and_streamed() {
    for (head, tail) in [
        (&b"<testsuite><testcase name=\"t\"><system-out>"[..], &b"</system-out></testcase></testsuite>"[..]),
        (
            &b"<testsuite><testcase name=\"t\"><system-out><![CDATA["[..],
            &b"]]></system-out></testcase></testsuite>"[..],
        ),
    ] {
        let input = std::io::BufReader::new(HugeOutput { head, body_left: 64 << 20, tail });
        let mut got = Vec::new();
        let limits = Limits::default();
        let result = parse(ReportFormat::JUnit, input, &limits, |c| {
            got.push(c);
            Ok::<(), ()>(())
        });
        assert!(result.is_ok());
        let out = got[0].system_out.as_deref().unwrap_or("");
        assert_eq!(out.len(), limits.max_output_bytes);
    }
}

#[test]
fn invalid_utf8_is_rejected_with_its_position() {
    let in_text = rejection(b"<testsuite>\n<testcase name=\"a\"><failure>ab\xffcd</failure></testcase></testsuite>");
    assert_eq!((in_text.message.as_str(), in_text.line, in_text.column), ("invalid UTF-8", Some(2), Some(31)));
    let in_attr = rejection(b"<testsuite>\n  <testcase name=\"\xc3\x28\"/></testsuite>");
    assert_eq!((in_attr.message.as_str(), in_attr.line, in_attr.column), ("invalid UTF-8", Some(2), Some(19)));
    let latin1 = rejection(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite name=\"caf\xe9\"/>");
    assert_eq!(latin1.message, "invalid UTF-8");
    let utf16 = rejection(b"\xFF\xFE<\x00t\x00");
    assert_eq!((utf16.message.as_str(), utf16.line), ("the report is UTF-16; only UTF-8 is supported", Some(1)));
}

#[test]
fn a_raw_nul_is_rejected_with_its_position_wherever_it_is() {
    let nul = "a NUL character (U+0000), which XML does not allow";
    let in_text = rejection(b"<testsuite>\n<testcase name=\"a\"><failure>ab\0cd</failure></testcase></testsuite>");
    assert_eq!((in_text.message.as_str(), in_text.line, in_text.column), (nul, Some(2), Some(31)));
    let in_attr = rejection(b"<testsuite>\n  <testcase name=\"x\0\"/></testsuite>");
    assert_eq!((in_attr.message.as_str(), in_attr.line, in_attr.column), (nul, Some(2), Some(20)));
    let in_markup = rejection(b"<testsuite\0/>");
    assert_eq!((in_markup.message.as_str(), in_markup.line, in_markup.column), (nul, Some(1), Some(11)));
}

#[test]
fn truncated_file_is_rejected_with_line_and_column() {
    let xml = b"<testsuites>\n  <testsuite name=\"s\">\n    <testcase name=\"a\">\n      <failure>trunc";
    let e = rejection(xml);
    assert_eq!(e.message, "unexpected end of input: <failure> is not closed");
    assert_eq!((e.line, e.column), at(4, 21));
    let in_tag = rejection(b"<testsuites>\n  <testsuite name=\"s");
    assert!(in_tag.message.contains("not found before end of input"), "{}", in_tag.message);
    assert_eq!((in_tag.line, in_tag.column), at(2, 3));
    let in_cdata = rejection(b"<testsuite><testcase><failure><![CDATA[abc");
    assert!(in_cdata.message.starts_with("CDATA section not closed"));
    assert_eq!((in_cdata.line, in_cdata.column), at(1, 31));
}

#[test]
fn mismatched_tag_is_rejected() {
    let e = rejection(b"<testsuites>\n<testsuite>\n  <testcase name=\"a\">\n  </testsuite>\n</testsuites>");
    assert_eq!(e.message, "mismatched end tag: expected </testcase>, found </testsuite>");
    assert_eq!((e.line, e.column), at(4, 3));
    let stray = rejection(b"<testsuite></testsuite></testsuites>");
    assert!(stray.message.contains("</testsuites>"), "{}", stray.message);
}

#[test]
fn garbage_and_wrong_roots_are_not_junit() {
    for (input, message) in [
        (&b""[..], "not a JUnit report: the document has no root element"),
        (b"  \n ", "not a JUnit report: the document has no root element"),
        (b"<?xml version=\"1.0\"?><!-- nothing -->", "not a JUnit report: the document has no root element"),
        (b"{\"Action\":\"run\"}", "not a JUnit report: text before the root element"),
        (b"<test-run id=\"2\"/>", "not a JUnit report: root element <test-run>"),
        (b"<html><body/></html>", "not a JUnit report: root element <html>"),
    ] {
        let e = rejection(input);
        assert_eq!(e.message, message);
    }
    let after = rejection(b"<testsuite/>\ngarbage");
    assert_eq!((after.message.as_str(), after.line, after.column), ("text after the root element", Some(2), Some(1)));
    let second = rejection(b"<testsuite/><testsuite/>");
    assert_eq!(second.message, "a second root element after the first one closed");
    let amp = rejection(b"<testsuite><testcase><failure>a & b</failure></testcase></testsuite>");
    assert_eq!((amp.line, amp.column), at(1, 33));
}

#[test]
fn control_characters_are_kept() {
    let got = cases(
        "<testsuite><testcase name=\"a\u{1}b\"><failure>\u{1b}[31mred\u{1b}[0m &#x8;</failure></testcase></testsuite>",
    );
    assert_eq!(got[0].name, "a\u{1}b");
    assert_eq!(got[0].details.as_deref(), Some("\u{1b}[31mred\u{1b}[0m \u{8}"));
}

#[test]
fn read_errors_are_reported_without_position() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("gzip: corrupt deflate stream"))
        }
    }
    let r = parse(ReportFormat::JUnit, std::io::BufReader::new(Broken), &Limits::default(), |_| Ok::<(), ()>(()));
    match r {
        Err(ParseError::Invalid(e)) => {
            assert_eq!(e.line, None);
            assert!(e.message.contains("corrupt deflate stream"));
        }
        _ => panic!("expected a read error"),
    }
}

#[test]
fn positions_survive_tokens_longer_than_the_buffer() {
    let mut tag = b"<testsuite>\n  <testcase name=\"".to_vec();
    tag.extend(std::iter::repeat_n(b'x', 200_000));
    let e = rejection(&tag);
    assert!(e.message.contains("attribute value not closed"), "{}", e.message);
    assert_eq!((e.line, e.column), at(2, 3));
    let mut comment = b"<testsuite>\n<testcase/>\n <!--".to_vec();
    comment.extend(b"line\n".repeat(50_000));
    let e = rejection(&comment);
    assert!(e.message.contains("comment not closed"), "{}", e.message);
    assert_eq!((e.line, e.column), at(3, 2));
    let mut trailing = b"<testsuite/>".to_vec();
    trailing.extend(b"\n".repeat(100_000));
    trailing.extend("é x".as_bytes());
    let e = rejection(&trailing);
    assert_eq!((e.message.as_str(), e.line, e.column), ("text after the root element", Some(100_001), Some(1)));
    let mut eof = b"<testsuite><testcase><system-out>".to_vec();
    eof.extend("ééé\n".repeat(40_000).as_bytes());
    eof.extend(b"tail");
    let e = rejection(&eof);
    assert_eq!((e.line, e.column), at(40_001, 5));
}
