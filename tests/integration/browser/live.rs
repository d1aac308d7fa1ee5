//! A running run in a real browser: its page and the project's runs reload
//! by themselves while it runs, and show it finished once CI finalizes it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::harness::{
    assert_text, describe, log_in_as_admin, must, run_in_browser, screenshot, wait_for, wait_for_path,
};
use super::results::{baseline_report, SLUG};
use crate::api_helpers::{api, cli_token, create_admin, create_project, send};
use crate::helpers::{TestApp, ADMIN_EMAIL};

/// A run still receiving shards: its page and the project's runs reload by
/// themselves (app.js, `data-refresh`) and show the run finished once CI
/// finalizes it, with no click.
#[tokio::test]
async fn a_running_run_updates_in_the_browser_when_it_finishes() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, SLUG);
    let token = cli_token(&app, ADMIN_EMAIL, "ci upload", "runs:write,runs:read", &[]);
    let create = api(&app, Method::POST, &format!("/api/v1/projects/{SLUG}/runs"), &token)
        .json(&json!({"name": "ci", "branch": "main", "build_id": "77"}));
    let run = send(create).await.expect(StatusCode::CREATED);
    let run_id = run["id"].as_str().unwrap_or_else(|| panic!("no run id in {run}")).to_string();
    let shard = api(&app, Method::POST, &format!("/api/v1/projects/{SLUG}/runs/{run_id}/reports"), &token)
        .header("content-type", "application/xml")
        .body(baseline_report());
    send(shard).await.expect(StatusCode::CREATED);
    let finalize = api(&app, Method::POST, &format!("/api/v1/projects/{SLUG}/runs/{run_id}/finalize"), &token);
    run_in_browser(&app, "live", move |c, base, shots| live_flow(c, base, shots, run_id, finalize)).await;
}

async fn live_flow(c: Client, base: String, shots: PathBuf, run_id: String, finalize: reqwest::RequestBuilder) {
    log_in_as_admin(&c, &base).await;

    let project_path = format!("/projects/{SLUG}");
    must(c.goto(&format!("{base}{project_path}")).await, "open the project");
    wait_for(&c, "table.runs").await;
    assert_eq!(refresh_attribute(&c).await.as_deref(), Some("10"), "a running run keeps the runs page live");

    let run_path = format!("/projects/{SLUG}/runs/{run_id}");
    must(c.goto(&format!("{base}{run_path}")).await, "open the running run");
    let heading = must(wait_for(&c, "main h1").await.text().await, "read the run heading");
    assert_eq!(heading, "ci running");
    assert_text(&c, &["still running (this page updates every 10 s)"]).await;
    assert_eq!(refresh_attribute(&c).await.as_deref(), Some("10"));
    screenshot(&c, &shots, "results-running.png").await;

    // CI finishes: the open page follows within one refresh, same address.
    send(finalize).await.expect(StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let heading = match c.find(Locator::Css("main h1")).await {
            Ok(h) => h.text().await.unwrap_or_default(),
            Err(_) => String::new(), // between two page loads
        };
        if heading == "ci passed" {
            break;
        }
        assert!(Instant::now() < deadline, "the run page did not update by itself: {}", describe(&c).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_for_path(&c, &run_path).await;
    assert_eq!(refresh_attribute(&c).await, None, "a finished run's page stays put");
    screenshot(&c, &shots, "results-finished.png").await;
}

async fn refresh_attribute(c: &Client) -> Option<String> {
    let body = must(c.find(Locator::Css("body")).await, "find <body>");
    must(body.attr("data-refresh").await, "read data-refresh")
}
