//! Unit tests of `summary.rs`: the summary and the Markdown escaping that
//! hostile test names must not get through; the fixtures here serve
//! `workflow_tests.rs` too.

use super::*;
use time::macros::datetime;

pub(crate) const URL: &str = "https://proctor.example.com/projects/web/runs/run-1";

pub(crate) fn change(suite: &str, classname: &str, name: &str) -> TestChange {
    TestChange {
        test_id: format!("{suite}/{classname}/{name}"),
        suite: suite.to_string(),
        classname: classname.to_string(),
        name: name.to_string(),
        file: Some("tests/test_pay.py".to_string()),
        status: "failed".to_string(),
        base_status: Some("passed".to_string()),
        message: Some("expected 200, got 500\nat line 3".to_string()),
        ..TestChange::default()
    }
}

pub(crate) fn numbered(n: usize) -> Vec<TestChange> {
    (0..n).map(|i| change("unit", "Pay", &format!("case {i}"))).collect()
}

pub(crate) fn result(name: &str, status: &str) -> TestResult {
    TestResult {
        test_id: format!("unit/Pay/{name}"),
        suite: "unit".to_string(),
        classname: "Pay".to_string(),
        name: name.to_string(),
        message: Some("timeout after 30 s".to_string()),
        quarantined: status != "flaky",
    }
}

pub(crate) fn failed_run() -> Run {
    Run {
        id: "run-1".to_string(),
        status: Some("failed".to_string()),
        name: Some("CI/test".to_string()),
        branch: Some("feature/pay".to_string()),
        commit: Some("0123456789abcdef0123456789abcdef01234567".to_string()),
        tests: Some(812),
        passed: Some(790),
        failed: Some(2),
        errors: Some(0),
        skipped: Some(15),
        flaky: Some(5),
        quarantined: Some(1),
        ..Run::default()
    }
}

pub(crate) fn input(new_failures: Vec<TestChange>) -> SummaryInput {
    let base_run =
        Some(Run { id: "base-1".to_string(), commit: Some("fedcba9876543210".to_string()), ..Run::default() });
    let comparison = Comparison { base_run, new_failures, ..Comparison::default() };
    SummaryInput {
        run: failed_run(),
        url: URL.to_string(),
        findings: Ok(Findings { comparison, ..Findings::default() }),
        token_warning: None,
        workspace: None,
    }
}

/// How often `c` occurs in `text` not escaped by a backslash.
fn unescaped(text: &str, c: char) -> usize {
    let mut backslashes = 0;
    let mut count = 0;
    for ch in text.chars() {
        if ch == c && backslashes % 2 == 0 {
            count += 1;
        }
        backslashes = if ch == '\\' { backslashes + 1 } else { 0 };
    }
    count
}

#[test]
fn markdown_escaping_makes_every_special_character_literal() {
    assert_eq!(escape_markdown("a|b"), "a\\|b");
    assert_eq!(escape_markdown("<script>alert(1)</script>"), "\\<script\\>alert\\(1\\)\\</script\\>");
    assert_eq!(escape_markdown("`x` *y* _z_ [l](u) &lt; # ~"), "\\`x\\` \\*y\\* \\_z\\_ \\[l\\]\\(u\\) \\&lt; \\# \\~");
    assert_eq!(escape_markdown("one\r\ntwo\tthree"), "one  two three");
    assert_eq!(escape_markdown("a\\|b"), "a\\\\\\|b", "a backslash cannot unescape the pipe after it");
    assert_eq!(escape_markdown("\u{202E}txt.exe\u{0007}"), "\u{FFFD}txt\\.exe\u{FFFD}");
    assert_eq!(escape_markdown("Zoë › 日本"), "Zoë › 日本");
}

#[test]
fn hostile_names_stay_inside_their_table_cells() {
    let hostile = [
        "a|b",
        "<script>alert(1)</script>",
        "``code`` | `tick",
        "*bold* _it_ ~~s~~",
        "line one\nline two\r\n| injected | row |",
        "[click](javascript:alert(1)) <img src=x onerror=alert(1)>",
        "&lt;b&gt; &#124; \\|",
        "\u{202E}gnp.exe",
    ];
    let tests: Vec<TestChange> = hostile
        .iter()
        .map(|name| TestChange {
            message: Some(format!("{name}\nsecond line")),
            file: Some(name.to_string()),
            ..change("s|", "<c>", name)
        })
        .collect();
    let text = markdown(&input(tests));
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| Test ")).collect();
    assert_eq!(rows.len(), hostile.len(), "{text}");
    for row in &rows {
        assert_eq!(unescaped(row, '|'), 4, "three cells exactly: {row}");
        for c in ['<', '>', '`', '*', '_', '[', '&', '~'] {
            assert_eq!(unescaped(row, c), 0, "{c} is escaped in {row}");
        }
        assert!(!row.contains("second line"), "only the first line of a message: {row}");
    }
    assert!(!text.contains('\u{202E}'));
}

#[test]
fn a_token_without_runs_read_gets_counts_and_link_and_the_reason() {
    let mut input = input(numbered(3));
    input.findings = Err("the token cannot read runs (it lacks runs:read)".to_string());
    let text = markdown(&input);
    assert!(text.starts_with("### ❌ Proctor: CI/test failed\n"), "{text}");
    assert!(text.contains("**812 tests**: 790 passed, 2 failed, 15 skipped, 5 flaky, 1 quarantined"), "{text}");
    assert!(
        text.contains(&format!("[Open the run in Proctor]({URL}) · branch feature/pay · commit 0123456789")),
        "{text}"
    );
    assert!(
        text.contains("_New failures, flaky and quarantined tests are not shown: the token cannot read runs \\(it lacks runs\\:read\\)_"),
        "{text}"
    );
    assert!(!text.contains("####"), "no section: {text}");
    assert!(text.ends_with(")_\n"));
}

#[test]
fn the_comparison_links_the_base_run_or_says_there_is_none() {
    let text = markdown(&input(numbered(2)));
    assert!(
        text.contains(
            "Against [the base run \\(commit fedcba9876\\)](https://proctor.example.com/projects/web/runs/base-1): \
             **2 new failures**, 0 still failing, 0 fixed, 0 slower"
        ),
        "{text}"
    );
    assert!(text.contains("#### New failures (2)\n\n| Test | File | Message |\n|---|---|---|\n"), "{text}");
    assert!(text.contains("| unit › Pay › case 0 | tests/test\\_pay\\.py | expected 200, got 500 |"), "{text}");

    let mut alone = input(vec![change("unit", "Pay", "x")]);
    if let Ok(findings) = &mut alone.findings {
        findings.comparison.base_run = None;
    }
    assert!(markdown(&alone).contains("so every failure counts as new: **1 new failure**"));
}

#[test]
fn long_lists_are_capped_and_say_how_many_more_there_are() {
    let mut input = input(numbered(60));
    if let Ok(findings) = &mut input.findings {
        findings.flaky = (0..25).map(|i| result(&format!("flaky {i}"), "flaky")).collect();
        findings.quarantined = vec![result("refund", "failed")];
    }
    input.run.flaky = Some(30);
    input.run.quarantined = Some(1);
    let text = markdown(&input);
    assert_eq!(text.lines().filter(|l| l.starts_with("| unit › Pay › case ")).count(), 50);
    assert!(text.contains("| unit › Pay › case 49 |") && !text.contains("case 50 |"));
    let more = format!("… and 10 more on [the run's page]({URL}).");
    assert_eq!(text.matches(&more).count(), 2, "new failures and flaky tests: {text}");
    assert!(text.contains("#### Flaky tests (30)\n\n- unit › Pay › flaky 0: timeout after 30 s\n"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("- unit › Pay › flaky ")).count(), 20);
    assert!(text.contains("#### Quarantined failures (1)\n\n- unit › Pay › refund: timeout after 30 s"), "{text}");
    assert!(text.len() < 64 * 1024, "{}", text.len());
}

#[test]
fn the_slowest_regressions_come_as_a_table_of_durations() {
    let mut input = input(Vec::new());
    let slow = |name: &str, before: i64, now: i64| TestChange {
        base_duration_ms: Some(before),
        duration_ms: Some(now),
        ..change("unit", "Pay", name)
    };
    if let Ok(findings) = &mut input.findings {
        findings.comparison.slower = vec![slow("pay", 40_000, 125_000), slow("cart", 900, 1_450)];
        findings.comparison.slower.extend((0..12).map(|i| slow(&format!("s{i}"), 100, 200)));
    }
    let text = markdown(&input);
    assert!(text.contains("**0 new failures**, 0 still failing, 0 fixed, 14 slower"), "{text}");
    assert!(text.contains("#### Slower (14)\n\n| Test | Before | Now |\n|---|---:|---:|\n"), "{text}");
    assert!(
        text.contains("| unit › Pay › pay | 40.0 s | 2 min 5 s |\n| unit › Pay › cart | 900 ms | 1.4 s |"),
        "{text}"
    );
    assert!(text.contains("… and 4 more on [the run's page]"), "{text}");
    assert!(!text.contains("#### New failures"));
}

#[test]
fn errored_and_open_runs_say_so() {
    let mut input = input(Vec::new());
    input.run = Run {
        id: "run-1".to_string(),
        status: Some("errored".to_string()),
        reason: Some("No test results: the uploaded reports held no test cases".to_string()),
        tests: Some(0),
        ..Run::default()
    };
    let text = markdown(&input);
    assert!(text.starts_with("### ⚠️ Proctor: run errored\n\n**0 tests**\n\n[Open the run"), "{text}");
    assert!(text.contains("> **Errored:** No test results\\: the uploaded reports held no test cases"), "{text}");

    input.run = Run { id: "run-1".to_string(), status: Some("running".to_string()), tests: Some(0), ..Run::default() };
    let text = markdown(&input);
    assert!(text.starts_with("### ⏳ Proctor: run still running (left open for other shards)\n\n[Open"), "{text}");
}

#[test]
fn links_go_only_to_http_and_cannot_be_broken_out_of() {
    assert_eq!(link("run", "https://p.example/a b)c<d>"), "[run](https://p.example/a%20b%29c%3Cd%3E)");
    assert_eq!(link("x] [y", "http://p/r"), "[x\\] \\[y](http://p/r)");
    assert_eq!(link("run", "javascript:alert(1)"), "run");
    assert_eq!(
        sibling(URL, "run-1", "b/../x").as_deref(),
        Some("https://proctor.example.com/projects/web/runs/b%2F%2E%2E%2Fx")
    );
    assert_eq!(sibling("https://p/other", "run-1", "b"), None);
}

#[test]
fn titles_and_lines_read_as_proctor_run_shows_them() {
    assert_eq!(title("unit", "a.B", "login"), "unit › a.B › login");
    assert_eq!(title("unit", "unit", "login"), "unit › login");
    assert_eq!(title("", "", ""), "(unnamed test)");
    assert_eq!(first_line(Some("\n  \n  timeout after 30 s \nat x")), Some("timeout after 30 s"));
    assert_eq!(first_line(Some(" \n ")), None);
    assert_eq!(cut("abcdef", 4), "abc…");
    assert_eq!(cut("abcd", 4), "abcd");
    assert_eq!(short_commit("0123456789abcdef"), "0123456789");
    assert_eq!(short_commit("v1.2-rc"), "v1.2-rc");
    assert_eq!(duration(0), "0 ms");
    assert_eq!(duration(59_999), "60.0 s");
    assert_eq!(one_line("a\n::error::x\r\u{202E}b"), "a ::error::x  b");
}

#[test]
fn the_servers_answers_deserialize() {
    let run: Run = serde_json::from_str(
        r#"{"id": "r1", "project": "web", "status": "failed", "commit": "abc", "branch": "main", "build_id": "7",
            "build_url": null, "name": "unit", "tags": {}, "created_at": "2026-11-22T20:17:40Z", "finished_at": null,
            "duration_ms": 12, "tests": 3, "passed": 1, "failed": 1, "errors": 0, "skipped": 0, "flaky": 1, "quarantined": 0}"#,
    )
    .unwrap();
    assert_eq!((run.status.as_deref(), run.tests, run.quarantined), (Some("failed"), Some(3), Some(0)));
    let open: Run = serde_json::from_str(r#"{"id":"run-1","status":"running"}"#).unwrap();
    assert_eq!(open.tests, None);

    let compare: Comparison = serde_json::from_str(
        r#"{"run": {"id": "r1"}, "base_run": null,
            "new_failures": [{"test_id": "t1", "suite": "unit", "classname": "Checkout", "name": "pays",
                              "file": "checkout_test.py", "status": "failed", "base_status": "passed",
                              "duration_ms": 120, "base_duration_ms": 100, "message": "expected 200, got 500"}],
            "fixed": [], "still_failing": [], "slower": []}"#,
    )
    .unwrap();
    assert!(compare.base_run.is_none());
    assert_eq!(compare.new_failures[0].title(), "unit › Checkout › pays");
    assert_eq!(compare.new_failures[0].line, None);

    let page: serde_json::Value = serde_json::from_str(
        r#"{"tests": [{"test_id": "t1", "suite": "unit", "classname": "C", "name": "n", "file": null, "status": "failed",
                       "duration_ms": 5, "retries": 0, "message": null, "details": null, "quarantined": true,
                       "fingerprint": "0011223344556677", "failing_since": null, "first_failed_at": null,
                       "known_flaky": null, "quarantine": null}], "next_cursor": null}"#,
    )
    .unwrap();
    let results: Vec<TestResult> = serde_json::from_value(page["tests"].clone()).unwrap();
    assert!(results[0].quarantined);
}

#[test]
fn whoami_says_the_kind_the_expiry_and_whether_runs_can_be_read() {
    let pat: WhoAmI = serde_json::from_str(
        r#"{"token": {"id": "01a2", "kind": "pat", "name": "bob-ci", "preview": "prc_pat_r9g6…hSrZ",
                      "permissions": ["projects:read", "runs:write"], "projects": null, "expires_at": "2027-02-20T20:17:40Z"},
            "user": {"id": "u", "email": "bob@example.com"}}"#,
    )
    .unwrap();
    assert_eq!(pat.token.kind.as_deref(), Some("pat"));
    assert_eq!(pat.token.expires_at, Some(datetime!(2027-02-20 20:17:40 UTC)));
    assert_eq!(pat.token.can_read_runs(), Some(false));
    let key: WhoAmI = serde_json::from_str(
        r#"{"token": {"kind": "key", "permissions": ["runs:read", "runs:write"], "expires_at": null}, "project": {}}"#,
    )
    .unwrap();
    assert_eq!((key.token.expires_at, key.token.can_read_runs()), (None, Some(true)));
    let bare: WhoAmI = serde_json::from_str(r#"{"token": {}}"#).unwrap();
    assert_eq!((bare.token.kind.as_deref(), bare.token.can_read_runs()), (None, None));
}
