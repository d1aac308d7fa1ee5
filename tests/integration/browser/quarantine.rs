//! The flaky-test loop in a real browser (issue 10): the flaky page shows a
//! test flaky by a retry → its Quarantine form → a new run whose only
//! failure is that test finalizes `passed`, its failure in its own section
//! → the flaky page shows it quarantined → Release.

use std::path::PathBuf;

use fantoccini::Client;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::harness::{
    assert_styled, assert_text, click, fill, log_in_as_admin, screenshot, submit, wait_for, wait_for_path,
};
use super::results::{cell, table_rows};
use crate::api_helpers::{api, cli_token, create_admin, create_project, send};
use crate::helpers::{TestApp, ADMIN_EMAIL};

const SLUG: &str = "shop";

pub(super) fn report(checkout: &str) -> String {
    format!(
        r#"<testsuite name="web"><testcase classname="Cart" name="adds_item"/>
<testcase classname="Checkout" name="pays">{checkout}</testcase></testsuite>"#
    )
}

async fn upload(base: &str, token: &str, commit: &str, xml: String) -> Value {
    let url = format!("{base}/api/v1/projects/{SLUG}/results?branch=main&name=ci&commit={commit}");
    let resp = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.expect("a run")
}

#[tokio::test]
async fn a_flaky_test_is_quarantined_forgiven_in_a_run_and_released_in_a_real_browser() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, SLUG);
    let token = cli_token(&app, ADMIN_EMAIL, "ci", "runs:write,runs:read", &[]);
    // `Checkout › pays` failed, then passed on a retry: flaky by `retry`.
    let flaky = report(r#"<flakyFailure message="card form did not load"/>"#);
    let path = format!("/api/v1/projects/{SLUG}/results?branch=main&name=ci&commit=c1");
    let request = api(&app, Method::POST, &path, &token).header("content-type", "application/xml").body(flaky);
    send(request).await.expect(StatusCode::CREATED);
    run_in_browser_flow(&app, token).await;
}

async fn run_in_browser_flow(app: &TestApp, token: String) {
    super::harness::run_in_browser(app, "quarantine", move |c, base, shots| flow(c, base, shots, token)).await;
}

async fn flow(c: Client, base: String, shots: PathBuf, token: String) {
    log_in_as_admin(&c, &base).await;
    let flaky_path = format!("/projects/{SLUG}/flaky");
    must_go(&c, &format!("{base}{flaky_path}")).await;
    wait_for(&c, "table.flaky").await;
    assert_styled(&c).await;
    let rows = table_rows(&c, "table.flaky").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(cell(&rows[0], "Test").starts_with("pays"), "{rows:#?}");
    assert_eq!(cell(&rows[0], "Retry"), "● 1", "{rows:#?}");
    assert!(cell(&rows[0], "State").starts_with("flaky"), "{rows:#?}");
    screenshot(&c, &shots, "quarantine-flaky.png").await;

    // Quarantine it from its row.
    click(&c, "table.flaky a[href*='/quarantine/new?test_id=']").await;
    wait_for(&c, "form input[name='reason']").await;
    fill(&c, "form input[name='reason']", "card form races the payment iframe").await;
    fill(&c, "form input[name='issue_url']", "https://tracker.example.com/PAY-12").await;
    screenshot(&c, &shots, "quarantine-form.png").await;
    submit(&c, "form[action$='/quarantine']").await;
    wait_for_path(&c, &format!("/projects/{SLUG}/quarantine")).await;
    assert_text(&c, &["Test quarantined", "card form races the payment iframe"]).await;

    // CI: the only failure is the quarantined test; the run passes.
    let run = upload(&base, &token, "c2", report(r#"<failure message="card form did not load"/>"#)).await;
    assert_eq!((run["status"].as_str(), run["quarantined"].as_i64()), (Some("passed"), Some(1)), "{run}");
    let run_id = run["id"].as_str().unwrap();
    must_go(&c, &format!("{base}/projects/{SLUG}/runs/{run_id}")).await;
    wait_for(&c, "#quarantined").await;
    assert_text(&c, &["Quarantined failures", "Checkout › pays", "quarantined until"]).await;
    let tiles = super::harness::must(
        c.execute(
            "return [...document.querySelectorAll('.stat')].map(s => s.className + ' ' + s.textContent.trim());",
            vec![],
        )
        .await,
        "read the run's counts",
    );
    let tiles: Vec<&str> = tiles.as_array().unwrap().iter().filter_map(|t| t.as_str()).collect();
    assert!(tiles.iter().any(|t| t.starts_with("stat warn") && t.contains("quarantined")), "{tiles:?}");
    assert!(
        tiles.iter().any(|t| t.starts_with("stat ") && !t.contains("err") && t.contains("failed")),
        "a forgiven failure is not red: {tiles:?}"
    );
    screenshot(&c, &shots, "quarantine-run.png").await;

    // The flaky page shows it quarantined, with its rule; release it there.
    must_go(&c, &format!("{base}{flaky_path}")).await;
    let rows = table_rows(&c, "table.flaky").await;
    assert!(cell(&rows[0], "State").starts_with("quarantined"), "{rows:#?}");
    assert!(cell(&rows[0], "State").contains("card form races the payment iframe"), "{rows:#?}");
    screenshot(&c, &shots, "quarantine-flaky-quarantined.png").await;
    submit(&c, "table.flaky form[action$='/release']").await;
    wait_for_path(&c, &format!("/projects/{SLUG}/quarantine")).await;
    assert_text(&c, &["Quarantine rule released"]).await;
    must_go(&c, &format!("{base}{flaky_path}")).await;
    let rows = table_rows(&c, "table.flaky").await;
    assert!(cell(&rows[0], "State").starts_with("flaky"), "released: {rows:#?}");
}

async fn must_go(c: &Client, url: &str) {
    super::harness::must(c.goto(url).await, &format!("open {url}"));
}
