//! Per-token rate limits (429, `Retry-After`, a limit changed by
//! `tokens:admin`) and the "last used" record of each token.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::rate_limited_app;
use crate::api_helpers::*;
use crate::helpers::*;

// ---------------------------------------------------------------------------
// Rate limits

#[tokio::test]
async fn beyond_the_rate_limit_is_429_and_tokens_admin_can_change_a_tokens_limit() {
    let app = TestApp::spawn_with(rate_limited_app(5)).await;
    let admin = admin_token(&app).await;
    let busy = cli_token(&app, ADMIN_EMAIL, "busy", ALL_PERMISSIONS, &[]);
    let mut id = String::new();
    for expected in [4, 3, 2, 1, 0] {
        let r = whoami(&app, &busy).await;
        id = r.expect(StatusCode::OK)["token"]["id"].as_str().unwrap().to_string();
        assert_eq!(r.header("ratelimit-policy").as_deref(), Some(r#""default";q=5;w=60"#));
        assert_eq!(ratelimit(&r).0, expected);
    }
    let limited = whoami(&app, &busy).await;
    let message = limited.expect_code(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(!message.is_empty());
    let retry: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=12).contains(&retry), "Retry-After {retry}");
    assert_eq!(limited.header("ratelimit-policy").as_deref(), Some(r#""default";q=5;w=60"#));
    assert_eq!(ratelimit(&limited).0, 0);
    assert!(limited.header("proctor-token-expiration").is_some());
    // Other tokens have their own buckets.
    whoami(&app, &admin).await.expect(StatusCode::OK);

    // tokens:admin raises this token's limit.
    let updated = patch(&app, &format!("/api/v1/tokens/{id}"), &admin, json!({"rate_limit_per_minute": 100}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated["rate_limit_per_minute"], 100);
    assert_eq!(updated["name"], "busy");
    let r = whoami(&app, &busy).await;
    assert_eq!(r.header("ratelimit-policy").as_deref(), Some(r#""default";q=100;w=60"#), "{:?}", r.status);
    poll(Duration::from_secs(3), "the raised limit to admit a request", || async {
        let r = whoami(&app, &busy).await;
        assert_eq!(r.header("ratelimit-policy").as_deref(), Some(r#""default";q=100;w=60"#));
        (r.status == StatusCode::OK).then_some(())
    })
    .await;
    patch(&app, &format!("/api/v1/tokens/{id}"), &admin, json!({"rate_limit_per_minute": 0}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_request");

    // The owner of a token may rename it but not change its limit.
    api_user(&app, &admin, "mia@example.com", "member").await;
    let mia = cli_token(&app, "mia@example.com", "mia", "projects:read,tokens:create", &[]);
    let mia_id = token_id(&app, &mia).await;
    patch(&app, &format!("/api/v1/tokens/{mia_id}"), &mia, json!({"rate_limit_per_minute": 100}))
        .await
        .expect_403("tokens:admin");
    let renamed = patch(&app, &format!("/api/v1/tokens/{mia_id}"), &mia, json!({"name": "renamed"})).await;
    assert_eq!(renamed.expect(StatusCode::OK)["name"], "renamed");
    assert_eq!(renamed.header("ratelimit-policy").as_deref(), Some(r#""default";q=5;w=60"#));
}

// ---------------------------------------------------------------------------
// Last used

#[tokio::test]
async fn last_used_is_recorded_within_five_seconds() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let used = cli_token(&app, ADMIN_EMAIL, "used", "projects:read", &[]);
    let agent = "proctor-tests/1.0 (last-used)";
    let http = reqwest::Client::builder().user_agent(agent).build().unwrap();
    let started = now_unix();
    let mut id = String::new();
    for _ in 0..3 {
        let r = send(http.get(app.url("/api/v1/whoami")).bearer_auth(&used)).await;
        id = r.expect(StatusCode::OK)["token"]["id"].as_str().unwrap().to_string();
    }
    let last_use = Instant::now();
    let token = poll(Duration::from_secs(5), "last used to be recorded", || async {
        let listed = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
        let t = find(&listed, "tokens", &id).clone();
        (t["request_count"].as_i64().unwrap() >= 3).then_some(t)
    })
    .await;
    assert!(last_use.elapsed() <= Duration::from_secs(5));
    assert_eq!(token["request_count"], 3);
    assert_eq!(token["last_used_ip"], "127.0.0.1");
    assert_eq!(token["last_used_user_agent"], agent);
    assert_eq!(token["recent_ips"], json!(["127.0.0.1"]));
    let at = unix(token["last_used_at"].as_str().unwrap());
    assert!(at >= started && at <= now_unix(), "{}", token["last_used_at"]);
    // Failed authentications are not uses.
    let fresh = cli_token(&app, ADMIN_EMAIL, "fresh", "projects:read", &[]);
    let fresh_id = token_id(&app, &fresh).await;
    let victim_id = fresh_id.clone();
    delete(&app, &format!("/api/v1/tokens/{victim_id}"), &admin).await.expect(StatusCode::NO_CONTENT);
    whoami(&app, &fresh).await.expect_401("token_revoked", "API key revoked");
    let t = poll(Duration::from_secs(5), "the first use to be recorded", || async {
        let listed = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
        let t = find(&listed, "tokens", &fresh_id).clone();
        (t["request_count"] == 1).then_some(t)
    })
    .await;
    assert_eq!(t["last_used_user_agent"], Value::Null);
}
