//! Unit tests of `workflow.rs`: the workflow commands and the escaping
//! that hostile test names must not get through, read back as GitHub's
//! runner reads them.

use super::*;
use crate::cli::upload::summary::tests::{change, input, numbered, result, URL};
use crate::cli::upload::summary::{line_in, markdown, relative};
use time::macros::datetime;

/// A workflow command line read as GitHub's runner reads it: the command
/// ends at the first `::` after the leading one; properties split on `,`,
/// then on the first `=`; `%0D`, `%0A` (`%3A`, `%2C`) and finally `%25`
/// unescaped.
fn parse(line: &str) -> (String, Vec<(String, String)>, String) {
    let rest = line.strip_prefix("::").unwrap_or_else(|| panic!("not a command: {line}"));
    let (head, data) = rest.split_once("::").unwrap_or_else(|| panic!("no data: {line}"));
    let (name, properties) = head.split_once(' ').unwrap_or((head, ""));
    let properties = properties
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or_else(|| panic!("a property without '=': {p}")))
        .map(|(k, v)| (k.to_string(), unescape(&v.replace("%3A", ":").replace("%2C", ","))))
        .collect();
    (name.to_string(), properties, unescape(data))
}

fn unescape(text: &str) -> String {
    text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
}

fn property<'a>(properties: &'a [(String, String)], key: &str) -> Option<&'a str> {
    properties.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn assert_one_line_commands(lines: &[String]) {
    for line in lines {
        assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        assert!(
            line.starts_with("::error ") || line.starts_with("::warning") || line.starts_with("::notice"),
            "{line}"
        );
    }
}

#[test]
fn workflow_command_escaping_follows_githubs_rules() {
    assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
    assert_eq!(escape_data("a::b, c:d"), "a::b, c:d", "data keeps colons and commas");
    assert_eq!(escape_property("a:b,c%\r\n"), "a%3Ab%2Cc%25%0D%0A");
    assert_eq!(escape_property("%3A"), "%253A", "an escape already in the text stays text");
    assert_eq!(command("notice", &[], "hi"), "::notice::hi");
    assert_eq!(
        command("error", &[("file", Some("a.py")), ("line", None), ("title", Some("t"))], "m"),
        "::error file=a.py,title=t::m"
    );
}

#[test]
fn a_hostile_test_name_cannot_start_a_workflow_command() {
    let mut test = change("unit", "a::B,c=d", "login\n::error::pwned\r\n::add-mask::secret ##[error]x");
    test.message = Some("boom\n::set-env name=X::1\r\n%0A::warning::fake".to_string());
    test.file = Some("tests/a,b:c.py".to_string());
    let lines = annotations(&input(vec![test.clone()]));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_one_line_commands(&lines);
    let (name, properties, data) = parse(&lines[0]);
    assert_eq!(name, "error");
    let keys: Vec<&str> = properties.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["file", "title"], "nothing smuggled in as a property");
    assert_eq!(property(&properties, "file"), Some("tests/a,b:c.py"));
    assert_eq!(property(&properties, "title"), Some(format!("New failure: {}", test.title()).as_str()));
    assert_eq!(data, format!("{}\n(failed; passed in the base run)", test.message.as_deref().unwrap()));
}

#[test]
fn percent_signs_survive_the_round_trip() {
    let mut test = change("unit", "Pay", "100%25 sure %0A %3A");
    test.message = Some("50%0D%".to_string());
    let (_, properties, data) = parse(&annotations(&input(vec![test.clone()]))[0]);
    assert_eq!(property(&properties, "title"), Some("New failure: unit › Pay › 100%25 sure %0A %3A"));
    assert!(data.starts_with("50%0D%\n"), "{data}");
}

#[test]
fn at_most_50_failures_are_annotated_then_a_notice_counts_the_rest() {
    let lines = annotations(&input(numbered(60)));
    assert_eq!(lines.len(), MAX_ANNOTATIONS + 1);
    assert!(lines[..MAX_ANNOTATIONS].iter().all(|l| l.starts_with("::error ")));
    assert_eq!(
        lines[MAX_ANNOTATIONS],
        format!("::notice::10 more new failures are not annotated (at most 50 are): {URL}")
    );
    assert_one_line_commands(&lines);

    assert_eq!(annotations(&input(numbered(50))).len(), 50, "no notice when none is left out");
    let one_more = annotations(&input(numbered(51)));
    assert!(one_more[50].starts_with("::notice::1 more new failure is not annotated"), "{}", one_more[50]);
    assert!(annotations(&input(Vec::new())).is_empty());
}

#[test]
fn a_quarantined_new_failure_is_a_warning_not_an_error() {
    let mut input = input(vec![change("unit", "Pay", "refund"), change("unit", "Pay", "cart")]);
    if let Ok(findings) = &mut input.findings {
        findings.quarantined = vec![result("refund", "failed")];
    }
    let lines = annotations(&input);
    assert!(
        lines[0].starts_with("::warning ")
            && lines[0].contains("title=New failure%3A unit › Pay › refund (quarantined)::"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("::error "), "{}", lines[1]);
    assert!(markdown(&input).contains("| unit › Pay › refund (quarantined) |"));
}

#[test]
fn files_are_annotated_relative_to_the_workspace_with_the_line_the_message_names() {
    let mut test = change("unit", "Pay", "refund");
    test.file = Some("/home/runner/work/web/web/tests/test_pay.py".to_string());
    test.message = Some("tests/test_pay.py:42: AssertionError".to_string());
    let mut input = input(vec![test]);
    input.workspace = Some("/home/runner/work/web/web/".to_string());
    let (_, properties, _) = parse(&annotations(&input)[0]);
    assert_eq!(property(&properties, "file"), Some("tests/test_pay.py"));
    assert_eq!(property(&properties, "line"), Some("42"));
    assert!(markdown(&input).contains("| unit › Pay › refund | tests/test\\_pay\\.py\\:42 | tests/test\\_pay"));

    assert_eq!(relative("./src/a.rs", None), "src/a.rs");
    assert_eq!(relative("/elsewhere/a.rs", Some("/home/runner/work/web/web")), "/elsewhere/a.rs");
    assert_eq!(
        relative("/home/runner/work/web/webapp/a.rs", Some("/home/runner/work/web/web")),
        "/home/runner/work/web/webapp/a.rs"
    );
    assert_eq!(line_in("at Pay.pay(PayTest.java:17)", "src/test/java/PayTest.java"), Some(17));
    assert_eq!(line_in("PayTest.java:0 and PayTest.java:x", "PayTest.java"), None);
    assert_eq!(line_in("expected 200", "PayTest.java"), None);
}

#[test]
fn a_line_from_the_server_wins_and_a_test_without_a_file_has_no_file_property() {
    let mut with_line = change("unit", "Pay", "refund");
    with_line.line = Some(7);
    with_line.message = Some("test_pay.py:42".to_string());
    let mut without_file = change("unit", "Pay", "cart");
    without_file.file = None;
    without_file.message = None;
    without_file.base_status = None;
    let lines = annotations(&input(vec![with_line, without_file]));
    assert!(lines[0].starts_with("::error file=tests/test_pay.py,line=7,title="), "{}", lines[0]);
    assert_eq!(lines[1], "::error title=New failure%3A unit › Pay › cart::failed; not in the base run");
}

#[test]
fn the_token_warning_comes_first_even_when_nothing_else_could_be_read() {
    let mut input = input(numbered(2));
    input.token_warning = Some("the token expires at 2026-11-25T12:00:00Z (in 3 days); rotate it".to_string());
    input.findings = Err("the token cannot read runs".to_string());
    assert_eq!(annotations(&input), ["::warning::the token expires at 2026-11-25T12:00:00Z (in 3 days); rotate it"]);
    assert!(markdown(&input).contains("> **Warning:** the token expires at 2026\\-11\\-25T12\\:00\\:00Z"));
}

#[test]
fn pats_and_keys_that_expire_within_7_days_are_warned_about() {
    let now = datetime!(2026-11-22 12:00 UTC);
    let warn = |kind: &str, at| expiry_warning(kind, Some(at), now);
    assert_eq!(
        warn("pat", datetime!(2026-11-25 12:00 UTC)).as_deref(),
        Some("the token expires at 2026-11-25T12:00:00Z (in 3 days); rotate it")
    );
    assert!(warn("key", datetime!(2026-11-22 17:30 UTC)).unwrap().contains("(in 5 hours)"));
    assert!(warn("key", datetime!(2026-11-23 13:00 UTC)).unwrap().contains("(in 1 day)"));
    assert!(warn("pat", datetime!(2026-11-22 12:30 UTC)).unwrap().contains("(in less than an hour)"));
    assert!(
        warn("pat", datetime!(2026-11-22 11:00 UTC)).unwrap().contains("(in less than an hour)"),
        "a clock behind the server's"
    );
    assert!(warn("pat", datetime!(2026-11-29 11:59 UTC)).unwrap().contains("(in 6 days)"));
    assert_eq!(warn("pat", datetime!(2026-11-29 12:00 UTC)), None, "7 days is not within 7 days");
    assert!(warn("pat", datetime!(2026-11-25 13:00 +01:00)).unwrap().contains("at 2026-11-25T12:00:00Z"), "in UTC");
    assert_eq!(expiry_warning("pat", None, now), None, "never expires");
}

#[test]
fn oidc_tokens_and_unknown_kinds_are_never_warned_about() {
    let now = datetime!(2026-11-22 12:00 UTC);
    for kind in ["oidc", "", "PAT", "session"] {
        assert_eq!(expiry_warning(kind, Some(datetime!(2026-11-22 12:10 UTC)), now), None, "{kind}");
    }
}
