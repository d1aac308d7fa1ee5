//! Feedback inside the CI job (API.md section 12): `proctor upload` on a
//! simulated GitHub Actions writes the run's Markdown summary to
//! `$GITHUB_STEP_SUMMARY` and annotates new failures with workflow
//! commands, hostile test names staying text; a token that cannot read
//! runs gets the counts and the reason; an expiring key one warning.

use crate::api_helpers::*;
use crate::helpers::*;
use crate::upload::{text, upload_with_env};

#[tokio::test]
async fn on_github_actions_new_failures_reach_the_step_summary_and_the_annotations() {
    let app = TestApp::spawn().await;
    create_project(&app, "web");
    let key = cli_key(&app, "web", "runs:write,runs:read");
    let dir = tempfile::tempdir().unwrap();
    let hostile = "x|y &lt;script&gt;alert(1)&lt;/script&gt;&#10;::warning::fake";
    let report = |login: &str, other: &str| {
        format!(
            r#"<testsuite name="unit"><testcase classname="a.B" name="login" file="tests/a.py">{login}</testcase>
               <testcase classname="a.B" name="{hostile}">{other}</testcase></testsuite>"#
        )
    };
    std::fs::write(dir.path().join("green.xml"), report("", "")).unwrap();
    let red = report(r#"<failure message="expected 200&#10;::error::pwned"/>"#, r#"<failure message="50% | *boom*"/>"#);
    std::fs::write(dir.path().join("red.xml"), red).unwrap();
    let summary = dir.path().join("step-summary.md");
    let github = [("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())];
    let flags = |branch: &'static str| {
        vec![
            "--url",
            app.base.as_str(),
            "--token",
            key.as_str(),
            "--project",
            "web",
            "--name",
            "unit",
            "--branch",
            branch,
        ]
    };
    let base = upload_with_env(dir.path(), &[&flags("main")[..], &["green.xml"]].concat(), &github);
    assert!(base.status.success(), "{}", text(&base.stderr));
    std::fs::write(&summary, "# Build\n").unwrap(); // a new step, with an earlier writer
    let out = upload_with_env(dir.path(), &[&flags("feature")[..], &["red.xml"]].concat(), &github);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "stdout holds only the run's URL: {stdout}");

    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.starts_with("# Build\n"), "appended: {markdown}");
    assert!(markdown.contains("Proctor: unit failed"), "{markdown}");
    assert!(markdown.contains("**2 new failures**"), "{markdown}");
    assert!(markdown.contains(stdout.trim()), "the run's link: {markdown}");
    assert!(markdown.contains("expected 200"), "{markdown}");
    assert!(!markdown.contains("<script>") && markdown.contains("\\<script\\>"), "escaped, not HTML: {markdown}");
    assert!(markdown.contains("x\\|y"), "a | does not break the table: {markdown}");

    // Every line GitHub would read as a command: the two annotations, nothing smuggled in.
    let commands: Vec<&str> = stderr.lines().filter(|l| l.starts_with("::") || l.starts_with("##[")).collect();
    assert_eq!(commands.len(), 2, "{stderr}");
    assert!(commands.iter().all(|c| c.starts_with("::error ")), "{commands:?}");
    assert!(commands.iter().any(|c| c.contains("file=tests/a.py") && c.contains("%0A::error::pwned")), "{commands:?}");
    assert!(commands.iter().any(|c| c.contains("%0A%3A%3Awarning%3A%3Afake") && c.contains("50%25")), "{commands:?}");
}

#[tokio::test]
async fn a_token_that_cannot_read_runs_gets_the_counts_and_the_reason() {
    let app = TestApp::spawn().await;
    create_project(&app, "web");
    let key = cli_key(&app, "web", "runs:write");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("unit.xml"), crate::ingest::junit_report("u", 1)).unwrap();
    let summary = dir.path().join("summary.md");
    let args = ["--url", &app.base, "--token", &key, "--project", "web", "--name", "unit", "--summary"];
    let out = upload_with_env(dir.path(), &[&args[..], &[summary.to_str().unwrap(), "unit.xml"]].concat(), &[]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("Proctor: unit passed") && markdown.contains("1 passed"), "{markdown}");
    assert!(markdown.contains("not read them"), "why the rest is missing: {markdown}");
    assert!(!stderr.lines().any(|l| l.starts_with("::")), "not on GitHub Actions: {stderr}");
}

#[tokio::test]
async fn an_expiring_key_gives_one_warning() {
    let app = TestApp::spawn().await;
    create_project(&app, "web");
    let out = app.cli(&[
        "key",
        "create",
        "--project",
        "web",
        "--name",
        "ci",
        "--permissions",
        "runs:write",
        "--expires-in-days",
        "6",
    ]);
    let key = text(&out.stdout).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("unit.xml"), crate::ingest::junit_report("u", 1)).unwrap();
    let args = ["--url", app.base.as_str(), "--token", key.as_str(), "--project", "web", "unit.xml"];
    let out = upload_with_env(dir.path(), &args, &[("GITHUB_ACTIONS", "true")]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("::warning::")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("rotate it"), "{warnings:?}");
}
