//! The events besides `run.finished` and `token.revoked`: a test becoming
//! flaky, quarantined and released, and tokens about to expire (7 days and
//! 1 day before, once each, on a moved clock).

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{add_hook, server_args, setup, Setup};
use crate::api_helpers::*;
use crate::helpers::*;

fn types(got: &[super::receiver::Received]) -> Vec<String> {
    got.iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect()
}

async fn upload_xml(s: &Setup, xml: &str) -> Value {
    let path = "/api/v1/projects/web/results?name=unit&branch=main&commit=c1";
    let request = api(&s.app, reqwest::Method::POST, path, &s.admin)
        .header("content-type", "application/xml")
        .body(xml.to_string());
    send(request).await.expect(StatusCode::CREATED)
}

#[tokio::test]
async fn a_test_made_flaky_by_a_run_is_announced_once() {
    let s = setup().await;
    add_hook(&s, json!({"url": s.receiver.url("/flaky"), "events": ["test.flaky"]})).await;
    let flaky = r#"<testsuite name="web"><testcase classname="Checkout" name="pays"><flakyFailure message="once"/></testcase>
<testcase classname="Cart" name="adds"/></testsuite>"#;
    upload_xml(&s, flaky).await;
    let got = s.receiver.wait_for(1).await;
    let body = got[0].json();
    assert_eq!(body["type"], "test.flaky");
    assert_eq!(
        (body["data"]["test"]["name"].as_str(), body["data"]["signals"].clone()),
        (Some("pays"), json!(["retry"]))
    );
    upload_xml(&s, flaky).await; // flaky already: no second event
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(s.receiver.received().len(), 1, "{:?}", types(&s.receiver.received()));
}

#[tokio::test]
async fn quarantine_and_release_are_announced() {
    let s = setup().await;
    add_hook(&s, json!({"url": s.receiver.url("/q"), "events": ["test.quarantined", "test.released"]})).await;
    let rule = post(
        &s.app,
        "/api/v1/projects/web/quarantine",
        &s.admin,
        json!({"pattern": {"name": "pays*"}, "reason": "card iframe races", "expires_in_days": 7}),
    )
    .await
    .expect(StatusCode::CREATED);
    delete(&s.app, &format!("/api/v1/projects/web/quarantine/{}", rule["id"].as_str().unwrap()), &s.admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let got = s.receiver.wait_for(2).await;
    assert_eq!(types(&got), ["test.quarantined", "test.released"]);
    assert_eq!(got[0].json()["data"]["reason"], "card iframe races");
    assert_eq!(got[1].json()["data"]["rule"]["id"], rule["id"]);
}

#[tokio::test]
async fn tokens_are_warned_seven_days_and_one_day_before_they_expire_once_each() {
    let s = setup().await;
    add_hook(&s, json!({"url": s.receiver.url("/p"), "events": ["token.expiring"]})).await;
    post(&s.app, "/api/v1/webhooks", &s.admin, json!({"url": s.receiver.url("/i"), "events": ["token.expiring"]}))
        .await
        .expect(StatusCode::CREATED);
    let key = post(
        &s.app,
        "/api/v1/projects/web/keys",
        &s.admin,
        json!({"name": "ci", "permissions": ["runs:write"], "expires_in_days": 30}),
    )
    .await
    .expect(StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(s.receiver.received().is_empty(), "30 days out: no warning");

    // 24 days on: the 7-day warning, to the project's and the instance's hooks.
    let mut app = s.app.restart_with([server_args(Some("loopback")), later(24 * 86_400)].concat()).await;
    let got = s.receiver.wait_for(2).await;
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/i", "/p"]);
    let data = &got[0].json()["data"];
    assert_eq!((data["days"].as_u64(), data["token"]["preview"].clone()), (Some(7), key["preview"].clone()));
    // Again the same day: nothing new. 29.5 days on: the 1-day warning.
    app = app.restart_with([server_args(Some("loopback")), later(24 * 86_400 + 3600)].concat()).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(s.receiver.received().len(), 2);
    app = app.restart_with([server_args(Some("loopback")), later(29 * 86_400 + 43_200)].concat()).await;
    let got = s.receiver.wait_for(4).await;
    assert!(got[2..].iter().all(|r| r.json()["data"]["days"] == 1), "{got:#?}");
    // A token made inside the 1-day horizon gets only that warning.
    let args: Vec<String> = later(29 * 86_400 + 43_200);
    let flags: Vec<&str> = args.iter().map(String::as_str).collect();
    cli_token(&app, ADMIN_EMAIL, "short", "runs:read", &[&["--expires-in-days", "1"], flags.as_slice()].concat());
    let _app = app.restart_with([server_args(Some("loopback")), later(29 * 86_400 + 43_200 + 60)].concat()).await;
    let got = s.receiver.wait_for(5).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let got_all = s.receiver.received();
    assert_eq!(got_all.len(), 5, "{got:#?}");
    assert_eq!((got_all[4].path.as_str(), got_all[4].json()["data"]["days"].as_u64()), ("/i", Some(1)));
}
