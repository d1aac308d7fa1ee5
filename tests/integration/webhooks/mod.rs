//! Webhooks (API.md section 12) against a real receiver (`receiver.rs`):
//! signed deliveries the Standard Webhooks library verifies, the outbox's
//! retries on a moved clock, 410, redirects, only_changes, ping and
//! redelivery, and where deliveries may go (`--webhook-allow-hosts`).

mod durability;
mod events;
mod pages;
pub(crate) mod receiver;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;
use crate::ingest::junit_report;
use receiver::{Receiver, Reply};

const PUBLIC_URL: &str = "https://proctor.example.com";

struct Setup {
    app: TestApp,
    admin: String,
    receiver: Receiver,
}

fn server_args(allow: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = vec!["--public-url".into(), PUBLIC_URL.into()];
    if let Some(allow) = allow {
        args.extend(["--webhook-allow-hosts".to_string(), allow.to_string()]);
    }
    args
}

async fn setup() -> Setup {
    let receiver = Receiver::start();
    let app = TestApp::spawn_with(SpawnOptions { args: server_args(Some("loopback")), ..Default::default() }).await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    Setup { app, admin, receiver }
}

/// Adds a webhook to project `web`; returns it with its secret.
async fn add_hook(s: &Setup, body: Value) -> Value {
    post(&s.app, "/api/v1/projects/web/webhooks", &s.admin, body).await.expect(StatusCode::CREATED)
}

/// Uploads a finished run of `web` named `name` on main with `failing` failures.
async fn upload(s: &Setup, name: &str, failing: usize) -> Value {
    let mut xml = junit_report(name, 3);
    if failing > 0 {
        let failures: String = (0..failing)
            .map(|i| format!(r#"<testcase classname="Pay" name="card_{i}"><failure message="expected 200&#10;got 500"/></testcase>"#))
            .collect();
        xml = xml.replace("</testsuite>", &format!("{failures}</testsuite>"));
    }
    let path = format!("/api/v1/projects/web/results?name={name}&branch=main&commit=c1");
    let request =
        api(&s.app, reqwest::Method::POST, &path, &s.admin).header("content-type", "application/xml").body(xml);
    send(request).await.expect(StatusCode::CREATED)
}

async fn deliveries(s: &Setup, hook: &str) -> Vec<Value> {
    let path = format!("/api/v1/projects/web/webhooks/{hook}/deliveries");
    get(&s.app, &path, &s.admin).await.expect(StatusCode::OK)["deliveries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_finished_run_arrives_signed_as_standard_webhooks_verifies_it() {
    let s = setup().await;
    let hook = add_hook(&s, json!({"url": s.receiver.url("/hook"), "events": ["run.finished"]})).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{hook}");
    s.receiver.expect_secret(&secret);
    let listed = get(&s.app, "/api/v1/projects/web/webhooks", &s.admin).await.expect(StatusCode::OK);
    assert!(!listed.to_string().contains(&secret), "the secret is shown once");
    assert_eq!(listed["webhooks"][0]["format"], "standard");

    let run = upload(&s, "unit", 2).await;
    let got = s.receiver.wait_for(1).await;
    let request = &got[0];
    assert_eq!(request.verified, Some(true), "standardwebhooks verifies the signature");
    let body = request.json();
    assert_eq!(body["type"], "run.finished");
    assert_eq!(body["data"]["run"]["id"], run["id"]);
    assert_eq!(body["data"]["run"]["status"], "failed");
    assert_eq!(body["data"]["new_failures"][0]["message"], "expected 200", "the first line");
    assert_eq!(body["data"]["url"], format!("{PUBLIC_URL}/projects/web/runs/{}", run["id"].as_str().unwrap()));
    assert!(!request.body.windows(secret.len()).any(|w| w == secret.as_bytes()));

    let listed = deliveries(&s, hook["id"].as_str().unwrap()).await;
    let d = &listed[0];
    assert_eq!(
        (d["status"].as_str(), d["attempt"].as_u64(), d["response_code"].as_u64()),
        (Some("succeeded"), Some(1), Some(200))
    );
    assert_eq!(d["message_id"].as_str().unwrap(), request.header("webhook-id"));
    assert!(d["next_attempt_at"].is_null());

    // A rotated secret signs from then on; the old one no longer verifies.
    let rotated = post(
        &s.app,
        &format!("/api/v1/projects/web/webhooks/{}/rotate-secret", hook["id"].as_str().unwrap()),
        &s.admin,
        json!({}),
    )
    .await
    .expect(StatusCode::OK);
    upload(&s, "unit", 0).await;
    let got = s.receiver.wait_for(2).await;
    assert_eq!(got[1].verified, Some(false), "signed with the new secret");
    s.receiver.expect_secret(rotated["secret"].as_str().unwrap());
    upload(&s, "unit", 1).await;
    assert_eq!(s.receiver.wait_for(3).await[2].verified, Some(true));
}

#[tokio::test]
async fn a_failed_attempt_is_retried_on_the_server_clock_with_the_same_message_id() {
    let s = setup().await;
    let hook = add_hook(&s, json!({"url": s.receiver.url("/hook")})).await;
    let id = hook["id"].as_str().unwrap().to_string();
    s.receiver.script([Reply::Status(500), Reply::Status(503)]);
    upload(&s, "unit", 0).await;
    s.receiver.wait_for(1).await;
    let first = poll(std::time::Duration::from_secs(10), "the first attempt recorded", || async {
        let d = deliveries(&s, &id).await.remove(0);
        (d["attempt"] == 1).then_some(d)
    })
    .await;
    assert_eq!((first["status"].as_str(), first["response_code"].as_u64()), (Some("pending"), Some(500)));
    assert!(!first["next_attempt_at"].is_null(), "{first}");

    // Nothing more before the retry is due; a minute later (a moved clock)
    // it is sent again, then again after the back-off doubled.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(s.receiver.received().len(), 1, "not before its time");
    let app = s.app.restart_with([server_args(Some("loopback")), later(60)].concat()).await;
    s.receiver.wait_for(2).await;
    let app = app.restart_with([server_args(Some("loopback")), later(240)].concat()).await;
    let got = s.receiver.wait_for(3).await;
    let ids: Vec<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| i == &ids[0]), "one event, one message id: {ids:?}");
    let s = Setup { app, admin: s.admin, receiver: s.receiver };
    let done = poll(std::time::Duration::from_secs(10), "the delivery succeeded", || async {
        let d = deliveries(&s, &id).await.remove(0);
        (d["status"] == "succeeded").then_some(d)
    })
    .await;
    assert_eq!(done["attempt"], 3);
}

#[tokio::test]
async fn a_410_turns_the_endpoint_off_and_a_redirect_is_not_followed() {
    let s = setup().await;
    let gone = add_hook(&s, json!({"url": s.receiver.url("/gone")})).await;
    s.receiver.script([Reply::Status(410)]);
    upload(&s, "unit", 0).await;
    s.receiver.wait_for(1).await;
    let path = "/api/v1/projects/web/webhooks?limit=10".to_string();
    let hook = poll(std::time::Duration::from_secs(10), "the webhook disabled", || async {
        let listed = get(&s.app, &path, &s.admin).await.expect(StatusCode::OK);
        let hook = listed["webhooks"][0].clone();
        (hook["active"] == false).then_some(hook)
    })
    .await;
    assert!(hook["disabled_reason"].as_str().unwrap().contains("410"), "{hook}");
    let d = deliveries(&s, gone["id"].as_str().unwrap()).await.remove(0);
    assert_eq!((d["status"].as_str(), d["response_code"].as_u64()), (Some("failed"), Some(410)));
    upload(&s, "unit", 0).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(s.receiver.received().len(), 1, "a disabled webhook hears nothing");

    // A redirect is an answer like any other non-2xx: retried, never followed.
    patch(
        &s.app,
        &format!("/api/v1/projects/web/webhooks/{}", gone["id"].as_str().unwrap()),
        &s.admin,
        json!({"active": false}),
    )
    .await
    .expect(StatusCode::OK);
    let moved = add_hook(&s, json!({"url": s.receiver.url("/moved")})).await;
    s.receiver.script([Reply::Redirect(s.receiver.url("/elsewhere"))]);
    upload(&s, "unit", 0).await;
    let got = s.receiver.wait_for(2).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(s.receiver.received().iter().all(|r| r.path != "/elsewhere"), "{got:#?}");
    let d = deliveries(&s, moved["id"].as_str().unwrap()).await.remove(0);
    assert_eq!((d["status"].as_str(), d["response_code"].as_u64()), (Some("pending"), Some(302)));
}

#[tokio::test]
async fn only_changes_hears_a_run_only_when_its_status_changes() {
    let s = setup().await;
    add_hook(&s, json!({"url": s.receiver.url("/changes"), "only_changes": true})).await;
    upload(&s, "unit", 0).await; // the first run of unit on main: a change
    upload(&s, "unit", 0).await; // passed again: not a change
    upload(&s, "unit", 1).await; // failed: a change
    upload(&s, "e2e", 0).await; // another name: its first run
    let got = s.receiver.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let seen: Vec<(String, String)> = s
        .receiver
        .received()
        .iter()
        .map(|r| {
            let b = r.json();
            (
                b["data"]["run"]["name"].as_str().unwrap().to_string(),
                b["data"]["run"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{got:#?}");
    assert_eq!(
        seen,
        [("unit".into(), "passed".into()), ("unit".into(), "failed".into()), ("e2e".into(), "passed".into())]
    );
}

#[tokio::test]
async fn ping_and_redelivery_reuse_nothing_but_the_message_id_and_token_events_reach_project_and_instance() {
    let s = setup().await;
    let hook = add_hook(&s, json!({"url": s.receiver.url("/p"), "events": ["token.revoked"]})).await;
    let id = hook["id"].as_str().unwrap().to_string();
    let instance =
        post(&s.app, "/api/v1/webhooks", &s.admin, json!({"url": s.receiver.url("/i"), "events": ["token.revoked"]}))
            .await
            .expect(StatusCode::CREATED);
    let ping = post(&s.app, &format!("/api/v1/projects/web/webhooks/{id}/ping"), &s.admin, json!({}))
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(ping["event"], "webhook.ping");
    let got = s.receiver.wait_for(1).await;
    assert_eq!((got[0].path.as_str(), got[0].json()["type"].as_str()), ("/p", Some("webhook.ping")));

    // A project key revoked: both hooks hear it; a PAT: the instance's only.
    let key = post(&s.app, "/api/v1/projects/web/keys", &s.admin, json!({"name": "ci", "permissions": ["runs:write"]}))
        .await
        .expect(StatusCode::CREATED);
    delete(&s.app, &format!("/api/v1/tokens/{}", key["id"].as_str().unwrap()), &s.admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let got = s.receiver.wait_for(3).await;
    let mut paths: Vec<&str> = got[1..].iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/i", "/p"]);
    assert_eq!(got[1].json()["data"]["token"]["preview"], key["preview"]);
    assert!(
        !got[1].body.windows(8).any(|w| w == b"prc_key_")
            || !String::from_utf8_lossy(&got[1].body).contains(key["token"].as_str().unwrap_or("-"))
    );
    let pat = cli_token(&s.app, ADMIN_EMAIL, "laptop", "runs:read", &[]);
    let me = get(&s.app, "/api/v1/whoami", &pat).await.expect(StatusCode::OK);
    delete(&s.app, &format!("/api/v1/tokens/{}", me["token"]["id"].as_str().unwrap()), &s.admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let got = s.receiver.wait_for(4).await;
    assert_eq!(got[3].path, "/i");

    // Redelivery: a new delivery, the same message id.
    let first = deliveries(&s, &id).await.into_iter().find(|d| d["event"] == "token.revoked").unwrap();
    let path = format!("/api/v1/projects/web/webhooks/{id}/deliveries/{}/redeliver", first["id"].as_str().unwrap());
    let again = post(&s.app, &path, &s.admin, json!({})).await.expect(StatusCode::ACCEPTED);
    assert_ne!(again["id"], first["id"]);
    assert_eq!(again["message_id"], first["message_id"]);
    let got = s.receiver.wait_for(5).await;
    assert_eq!(got[4].header("webhook-id"), first["message_id"].as_str().unwrap());
    let _ = instance;
}

#[tokio::test]
async fn internal_destinations_are_refused_without_the_allow_list() {
    let receiver = Receiver::start();
    let app = TestApp::spawn_with(SpawnOptions { args: server_args(None), ..Default::default() }).await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    let port = receiver.base.rsplit(':').next().unwrap().to_string();
    for host in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]"] {
        let url = format!("http://{host}:{port}/hook");
        let refused = post(&app, "/api/v1/projects/web/webhooks", &admin, json!({"url": url})).await;
        let message = refused.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(message.contains("--webhook-allow-hosts"), "{message}");
    }
    // A name is resolved at every attempt: refused then, without a
    // connection (a bare listener counts any).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = Setup { app, admin, receiver };
    let hook = add_hook(&s, json!({"url": format!("http://localhost:{port}/hook")})).await;
    upload(&s, "unit", 0).await;
    let d = poll(std::time::Duration::from_secs(10), "the delivery refused", || async {
        let d = deliveries(&s, hook["id"].as_str().unwrap()).await.remove(0);
        (d["status"] == "refused").then_some(d)
    })
    .await;
    assert!(d["error"].as_str().unwrap().contains("may not reach"), "{d}");
    assert!(listener.accept().is_err(), "no connection was made");
}

#[tokio::test]
async fn a_slow_endpoint_delays_neither_the_upload_nor_another_endpoint() {
    let s = setup().await;
    let slow = Receiver::start();
    slow.script([Reply::Slow(std::time::Duration::from_secs(4))]);
    add_hook(&s, json!({"url": slow.url("/slow")})).await;
    add_hook(&s, json!({"url": s.receiver.url("/fast")})).await;
    let started = std::time::Instant::now();
    upload(&s, "unit", 0).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "the upload does not wait for deliveries");
    s.receiver.wait_for(1).await;
    slow.wait_for(1).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "the fast endpoint did not wait for the slow one");
}

#[tokio::test]
async fn a_run_finished_lists_the_new_failures_the_comparison_finds() {
    let s = setup().await;
    add_hook(&s, json!({"url": s.receiver.url("/new"), "events": ["run.finished"]})).await;
    let case = |class: &str, name: &str, outcome: &str| match outcome {
        "failed" => format!(
            r#"<testcase classname="{class}" name="{name}"><failure message="{name} broke&#10;trace"/></testcase>"#
        ),
        "error" => {
            format!(r#"<testcase classname="{class}" name="{name}"><error message="{name} crashed"/></testcase>"#)
        }
        "skipped" => format!(r#"<testcase classname="{class}" name="{name}"><skipped/></testcase>"#),
        _ => format!(r#"<testcase classname="{class}" name="{name}"/>"#),
    };
    let report = |cases: &[(&str, &str, &str)]| {
        let body: String = cases.iter().map(|(c, n, o)| case(c, n, o)).collect();
        format!(r#"<testsuite name="web">{body}</testsuite>"#)
    };
    let send_report = |xml: String, commit: &'static str| {
        let path = format!("/api/v1/projects/web/results?name=unit&branch=main&commit={commit}");
        send(api(&s.app, reqwest::Method::POST, &path, &s.admin).header("content-type", "application/xml").body(xml))
    };
    send_report(
        report(&[("A", "a", "failed"), ("B", "b", "failed"), ("C", "c", "passed"), ("D", "d", "skipped")]),
        "c1",
    )
    .await
    .expect(StatusCode::CREATED);
    // Fixed, still failing, newly failing (error, failure after a skip,
    // a test never seen), passing.
    let run = send_report(
        report(&[
            ("A", "a", "passed"),
            ("B", "b", "failed"),
            ("C", "c", "error"),
            ("D", "d", "failed"),
            ("E", "e", "failed"),
            ("F", "f", "passed"),
        ]),
        "c2",
    )
    .await
    .expect(StatusCode::CREATED);
    let got = s.receiver.wait_for(2).await;
    let data = &got[1].json()["data"];
    let path = format!("/api/v1/projects/web/runs/{}/compare", run["id"].as_str().unwrap());
    let compared = get(&s.app, &path, &s.admin).await.expect(StatusCode::OK);
    let names = |list: &Value, key: &str| -> Vec<String> {
        list.as_array().unwrap().iter().map(|f| f[key].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&data["new_failures"], "test"), ["c", "d", "e"]);
    assert_eq!(names(&data["new_failures"], "test"), names(&compared["new_failures"], "name"));
    assert_eq!(data["new_failure_count"], 3);
    assert_eq!(names(&data["new_failures"], "message"), ["c crashed", "d broke", "e broke"], "first lines");
}

#[tokio::test]
async fn deliveries_are_forgotten_30_days_on_and_newer_ones_kept() {
    let s = setup().await;
    let hook = add_hook(&s, json!({"url": s.receiver.url("/old")})).await;
    let id = hook["id"].as_str().unwrap().to_string();
    let ping = format!("/api/v1/projects/web/webhooks/{id}/ping");
    // One delivery now, one 20 days on; then, 31 days on, housekeeping (at
    // start) forgets the first only.
    let mut s = s;
    for (n, days) in [(1, 0), (2, 20)] {
        let Setup { app, admin, receiver } = s;
        let app = app.restart_with([server_args(Some("loopback")), later(days * 86_400)].concat()).await;
        s = Setup { app, admin, receiver };
        post(&s.app, &ping, &s.admin, json!({})).await.expect(StatusCode::ACCEPTED);
        s.receiver.wait_for(n).await;
        poll(std::time::Duration::from_secs(10), "the ping recorded", || async {
            (deliveries(&s, &id).await[0]["status"] == "succeeded").then_some(())
        })
        .await;
    }
    let both = deliveries(&s, &id).await;
    assert_eq!(both.len(), 2);
    let Setup { app, admin, receiver } = s;
    let app = app.restart_with([server_args(Some("loopback")), later(31 * 86_400)].concat()).await;
    let s = Setup { app, admin, receiver };
    poll(std::time::Duration::from_secs(10), "the old delivery pruned", || async {
        let left = deliveries(&s, &id).await;
        (left.len() == 1).then_some(left)
    })
    .await;
    assert_eq!(deliveries(&s, &id).await[0]["id"], both[0]["id"], "the newer (listed first) is kept");
}
