//! The token expiration policy through the API: `PUT` replaces it and needs
//! `tokens:admin`, `user_choice` bounds what a new token may ask for,
//! `fixed` gives every token the same lifetime, and older tokens that
//! exceed a stricter policy are flagged.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::MEMBER_PERMISSIONS;
use crate::api_helpers::*;
use crate::helpers::*;

#[tokio::test]
async fn token_policy_put_replaces_the_whole_policy_and_needs_tokens_admin() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    let key = cli_key(&app, "alpha", "runs:read");
    api_user(&app, &admin, "mia@example.com", "member").await;
    let mia = cli_token(&app, "mia@example.com", "mia", MEMBER_PERMISSIONS, &[]);
    let defaults = json!({"mode": "user_choice", "fixed_days": 90, "max_days": 365, "allow_no_expiry": false, "revoke_unused_after_days": null});
    for token in [&admin, &mia, &key] {
        assert_eq!(get(&app, "/api/v1/settings/token-policy", token).await.expect(StatusCode::OK), defaults);
    }
    let full = json!({"mode": "fixed", "fixed_days": 30, "max_days": 60, "allow_no_expiry": true, "revoke_unused_after_days": 45});
    assert_eq!(put(&app, "/api/v1/settings/token-policy", &admin, full.clone()).await.expect(StatusCode::OK), full);
    assert_eq!(get(&app, "/api/v1/settings/token-policy", &mia).await.expect(StatusCode::OK), full);
    // Absent fields take their defaults.
    let partial =
        put(&app, "/api/v1/settings/token-policy", &admin, json!({"max_days": 30})).await.expect(StatusCode::OK);
    let expected = json!({"mode": "user_choice", "fixed_days": 90, "max_days": 30, "allow_no_expiry": false, "revoke_unused_after_days": null});
    assert_eq!(partial, expected);
    assert_eq!(get(&app, "/api/v1/settings/token-policy", &key).await.expect(StatusCode::OK), expected);

    put(&app, "/api/v1/settings/token-policy", &mia, json!({})).await.expect_403("tokens:admin");
    put(&app, "/api/v1/settings/token-policy", &key, json!({})).await.expect_403("tokens:admin");
    let r = put(&app, "/api/v1/settings/token-policy", &admin, json!({"max_days": 0})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.json()["message"].as_str().unwrap().contains("max_days"));
    let r = put(&app, "/api/v1/settings/token-policy", &admin, json!({"max_day": 10})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "unknown fields are refused: {}", r.text);
    let r = put(&app, "/api/v1/settings/token-policy", &admin, json!({"mode": "sometimes"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(
        get(&app, "/api/v1/settings/token-policy", &admin).await.expect(StatusCode::OK),
        expected,
        "refused PUTs change nothing"
    );

    let events = audit_events(&app, &admin, "&action=token_policy.updated").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["details"]["to"], expected);
    assert_eq!(events[0]["actor"]["type"], "token");
}

#[tokio::test]
async fn user_choice_policy_limits_what_a_token_may_ask_for() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let create = |expiry: Value| {
        let mut body = json!({"name": "t", "permissions": ["projects:read"]});
        body.as_object_mut().unwrap().extend(expiry.as_object().unwrap().clone());
        body
    };
    put(&app, "/api/v1/settings/token-policy", &admin, json!({"mode": "user_choice", "max_days": 30}))
        .await
        .expect(StatusCode::OK);

    let r = post(&app, "/api/v1/tokens", &admin, create(json!({"expires_in_days": 60}))).await;
    let message = r.expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
    assert!(message.contains("max_days"), "{message}");
    let too_far = rfc3339(now_unix() + 31 * 86_400);
    let message = post(&app, "/api/v1/tokens", &admin, create(json!({"expires_at": too_far})))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
    assert!(message.contains("max_days"), "{message}");
    let message = post(&app, "/api/v1/tokens", &admin, create(json!({"expires_at": "2020-01-01T00:00:00Z"})))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
    assert!(message.contains("expires_at"), "{message}");
    let message = post(&app, "/api/v1/tokens", &admin, create(json!({"expires_at": null})))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
    assert!(message.contains("allow_no_expiry"), "{message}");
    let message = post(&app, "/api/v1/tokens", &admin, create(json!({"expires_in_days": null})))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
    assert!(message.contains("allow_no_expiry"), "{message}");
    // Malformed instants are bad input, not a policy matter.
    let r = post(&app, "/api/v1/tokens", &admin, create(json!({"expires_at": "next tuesday"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let out = app.cli(&[
        "token",
        "create",
        "--owner",
        ADMIN_EMAIL,
        "--name",
        "x",
        "--permissions",
        "projects:read",
        "--expires-in-days",
        "60",
    ]);
    assert!(!out.status.success() && out.stdout.is_empty(), "the CLI obeys the policy too");
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_days"));

    // Within the policy.
    let (_, t) = api_token(&app, &admin, create(json!({"expires_in_days": 30}))).await;
    assert!((unix(t["expires_at"].as_str().unwrap()) - (now_unix() + 30 * 86_400)).abs() < 60);
    let (_, t) = api_token(&app, &admin, create(json!({}))).await;
    assert!(
        (unix(t["expires_at"].as_str().unwrap()) - (now_unix() + 30 * 86_400)).abs() < 60,
        "the default is capped by max_days"
    );
    let at = rfc3339(now_unix() + 3600);
    let (_, t) = api_token(&app, &admin, create(json!({"expires_at": at.clone()}))).await;
    assert_eq!(t["expires_at"], at);

    put(&app, "/api/v1/settings/token-policy", &admin, json!({"mode": "user_choice", "allow_no_expiry": true}))
        .await
        .expect(StatusCode::OK);
    let (forever, t) = api_token(&app, &admin, create(json!({"expires_at": null}))).await;
    assert_eq!(t["expires_at"], Value::Null);
    assert_eq!(t["exceeds_policy"], false);
    whoami(&app, &forever).await.expect(StatusCode::OK);
    let message = post(&app, "/api/v1/tokens", &admin, create(json!({"expires_in_days": 366})))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
    assert!(message.contains("max_days") && message.contains("365"), "{message}");
}

#[tokio::test]
async fn fixed_policy_gives_every_token_the_same_lifetime() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    put(&app, "/api/v1/settings/token-policy", &admin, json!({"mode": "fixed", "fixed_days": 7}))
        .await
        .expect(StatusCode::OK);
    let create = |expiry: Value| {
        let mut body = json!({"name": "t", "permissions": ["projects:read"]});
        body.as_object_mut().unwrap().extend(expiry.as_object().unwrap().clone());
        body
    };
    for choice in [
        json!({"expires_in_days": 30}),
        json!({"expires_in_days": 1}),
        json!({"expires_at": rfc3339(now_unix() + 86_400)}),
        json!({"expires_at": null}),
    ] {
        let message = post(&app, "/api/v1/tokens", &admin, create(choice.clone()))
            .await
            .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
        assert!(message.contains("fixed"), "{choice}: {message}");
    }
    let (secret, t) = api_token(&app, &admin, create(json!({}))).await;
    let expires = unix(t["expires_at"].as_str().unwrap());
    assert!((expires - (now_unix() + 7 * 86_400)).abs() < 60, "{}", t["expires_at"]);
    assert_eq!(whoami(&app, &secret).await.header("proctor-token-expiration"), Some(rfc3339(expires)));
    // Asking for exactly the fixed lifetime is not a different choice.
    api_token(&app, &admin, create(json!({"expires_in_days": 7}))).await;
    // Keys follow the policy too.
    create_project(&app, "alpha");
    let r = post(
        &app,
        "/api/v1/projects/alpha/keys",
        &admin,
        json!({"name": "k", "permissions": ["runs:read"], "expires_in_days": 90}),
    )
    .await;
    r.expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
    // Rotation gives a new expiry under the current policy.
    let rotated = post(&app, &format!("/api/v1/tokens/{}/rotate", t["id"].as_str().unwrap()), &admin, json!({}))
        .await
        .expect(StatusCode::CREATED);
    assert!((unix(rotated["expires_at"].as_str().unwrap()) - (now_unix() + 7 * 86_400)).abs() < 60);
}

#[tokio::test]
async fn tokens_created_before_a_stricter_policy_are_flagged() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let (_, long) =
        api_token(&app, &admin, json!({"name": "long", "permissions": ["projects:read"], "expires_in_days": 365}))
            .await;
    let (_, short) =
        api_token(&app, &admin, json!({"name": "short", "permissions": ["projects:read"], "expires_in_days": 7})).await;
    assert_eq!(long["exceeds_policy"], false);
    let listed = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
    assert_eq!(find(&listed, "tokens", long["id"].as_str().unwrap())["exceeds_policy"], false);

    put(&app, "/api/v1/settings/token-policy", &admin, json!({"max_days": 30})).await.expect(StatusCode::OK);
    for query in ["", "?all=true"] {
        let listed = get(&app, &format!("/api/v1/tokens{query}"), &admin).await.expect(StatusCode::OK);
        assert_eq!(find(&listed, "tokens", long["id"].as_str().unwrap())["exceeds_policy"], true);
        assert_eq!(find(&listed, "tokens", short["id"].as_str().unwrap())["exceeds_policy"], false);
    }
    // The admin token (90 days by default) exceeds it too; it still works.
    let me = whoami(&app, &admin).await.expect(StatusCode::OK);
    let listed = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
    assert_eq!(find(&listed, "tokens", me["token"]["id"].as_str().unwrap())["exceeds_policy"], true);
}
