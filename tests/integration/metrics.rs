//! `GET /metrics` (API.md section 10): off by default (404), then only for
//! the metrics token (401 otherwise); requests counted by route template,
//! reports and test cases ingested, refusals by reason, token checks by
//! outcome, the database's size; the output checked by Prometheus' own
//! parser (`promtool check metrics`, Debian's `prometheus` package).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use reqwest::{Method, StatusCode};

use crate::api_helpers::*;
use crate::helpers::*;
use crate::results_api::Reader;

const TOKEN: &str = "scrape-me-0123456789abcdef";

async fn scrape(app: &TestApp, bearer: Option<&str>) -> reqwest::Response {
    let mut request = client().get(app.url("/metrics"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("GET /metrics")
}

#[tokio::test]
async fn metrics_are_off_without_a_token() {
    let app = TestApp::spawn().await;
    assert_eq!(scrape(&app, Some(TOKEN)).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_need_the_token_and_count_what_the_server_did() {
    let r =
        Reader::start_with(SpawnOptions { args: vec!["--metrics-token".into(), TOKEN.into()], ..Default::default() })
            .await;
    for bearer in [None, Some("scrape-me-0123456789abcdeX"), Some("")] {
        let refused = scrape(&r.app, bearer).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{bearer:?}");
        assert!(refused.headers().contains_key("www-authenticate"));
    }
    let run = r.run_of("web", "branch=main", &[("a", "passed", 1), ("b", "failed", 2)]).await;
    r.get(&format!("/api/v1/projects/web/runs/{}", run["id"].as_str().unwrap())).await;
    let bad = api(&r.app, Method::POST, "/api/v1/projects/web/results", &r.token)
        .header("content-type", "application/xml")
        .body("<testsuite><testcase");
    send(bad).await.expect_code(StatusCode::BAD_REQUEST, "invalid_report");
    get(&r.app, "/api/v1/whoami", &forge_token("pat")).await;

    let response = scrape(&r.app, Some(TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    for line in [
        r#"proctor_http_requests_total{route="/api/v1/projects/{project}/results",method="POST",status="201"} 1"#,
        r#"proctor_http_requests_total{route="/api/v1/projects/{project}/runs/{run}",method="GET",status="200"} 1"#,
        "proctor_reports_ingested_total 1",
        "proctor_testcases_ingested_total 2",
        r#"proctor_reports_rejected_total{reason="invalid_report"} 1"#,
        r#"proctor_token_checks_total{outcome="invalid"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(text.contains(r#"proctor_token_checks_total{outcome="ok"}"#), "{text}");
    assert!(text.contains("proctor_http_request_duration_seconds_bucket{"), "{text}");
    let (db, wal) = (value(&text, "proctor_database_size_bytes"), value(&text, "proctor_wal_size_bytes"));
    assert!(db >= 4096.0 && db + wal > 4096.0, "the database's files: {db} + {wal} bytes");
    assert!(!text.contains(run["id"].as_str().unwrap()), "a run id would make a series per run");
    assert!(!text.contains(TOKEN) && !text.contains(&r.token), "no secret in the output");
    promtool_accepts(&text);
    // The scrape itself is counted by its route.
    let again = scrape(&r.app, Some(TOKEN)).await.text().await.unwrap();
    assert!(again.contains(r#"proctor_http_requests_total{route="/metrics",method="GET",status="200"} 1"#), "{again}");
}

fn value(text: &str, name: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// `promtool check metrics` reads the exposition from stdin and fails on
/// anything Prometheus would not ingest (it also lints names and help).
fn promtool_accepts(text: &str) {
    ensure_promtool();
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool check metrics refused the scrape:\n{said}\n---\n{text}");
}

/// Installs Debian's `prometheus` package (for promtool) when it is missing
/// and the tests run as root, as `.ci/run` does.
fn ensure_promtool() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let found = || Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if found() {
        return;
    }
    let script = "command -v promtool || { apt-get update && apt-get install -y --no-install-recommends prometheus; }";
    let output = Command::new("flock")
        .args(["/tmp/proctor-promtool-install.lock", "sh", "-c", script])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output();
    assert!(
        output.as_ref().is_ok_and(|o| o.status.success()) && found(),
        "promtool is missing and could not be installed (apt-get install prometheus): {output:?}"
    );
}

/// The alert rules docs/operations.md recommends are valid Prometheus rules.
#[test]
fn the_documented_alert_rules_are_valid() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md")).unwrap();
    let after = doc.split("Three alert rules worth having").nth(1).expect("the rules in docs/operations.md");
    let yaml = after.split("```yaml\n").nth(1).and_then(|b| b.split("```").next()).expect("a yaml block");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, yaml).unwrap();
    ensure_promtool();
    let out = Command::new("promtool").args(["check", "rules"]).arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.contains("3 rules found"), "{said}");
}
