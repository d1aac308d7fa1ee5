//! The outbox across a `kill -9`: events committed while the worker is
//! stuck on an earlier delivery are sent after the restart; the one that
//! was in flight (sent, its answer never recorded) arrives again with the
//! same `webhook-id` (at least once), none is lost, and one endpoint's
//! events still arrive in order.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::receiver::Reply;
use super::{add_hook, server_args, setup, upload, Setup};
use crate::api_helpers::*;

const RUNS: usize = 8;

#[tokio::test]
async fn events_committed_before_a_kill_9_arrive_after_the_restart_in_order_the_one_in_flight_again() {
    let s = setup().await;
    let hook = add_hook(&s, json!({"url": s.receiver.url("/d"), "events": ["run.finished"]})).await;
    let hook = hook["id"].as_str().unwrap().to_string();
    // The first delivery hangs, so the worker is mid-send when the server
    // dies and every later event is committed but not yet sent.
    s.receiver.script([Reply::Slow(Duration::from_secs(30))]);
    for i in 0..RUNS {
        upload(&s, &format!("unit-{i}"), i % 2).await;
    }
    s.receiver.wait_for(1).await;
    let Setup { mut app, admin, receiver } = s;
    app.kill9();
    assert_eq!(receiver.received().len(), 1, "only the first was sent before the kill");

    let app = app.restart_with(server_args(Some("loopback"))).await;
    poll(Duration::from_secs(20), "every run.finished delivered after the restart", || {
        let got = receiver.received();
        let ids: BTreeSet<String> = got.iter().map(|r| r.header("webhook-id")).collect();
        async move { (ids.len() == RUNS).then_some(()) }
    })
    .await;
    let got = receiver.received();
    assert!(got.len() <= RUNS + 1, "only the delivery in flight may come twice: {} requests", got.len());
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"), "the in-flight one again, first");
    let mut names: Vec<String> = Vec::new();
    for r in &got {
        let name = r.json()["data"]["run"]["name"].as_str().unwrap().to_string();
        if names.last() != Some(&name) {
            names.push(name);
        }
    }
    let expected: Vec<String> = (0..RUNS).map(|i| format!("unit-{i}")).collect();
    assert_eq!(names, expected, "in commit order");

    let path = format!("/api/v1/projects/web/webhooks/{hook}/deliveries?limit=50");
    let log = get(&app, &path, &admin).await.expect(StatusCode::OK);
    let statuses: Vec<&str> =
        log["deliveries"].as_array().unwrap().iter().map(|d| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["succeeded"; RUNS], "one delivery row per event, each succeeded");
}
