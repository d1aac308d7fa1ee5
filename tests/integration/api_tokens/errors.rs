//! The error table of the token API (no, malformed, revoked and expired
//! tokens, missing permissions, ambiguous credentials), the token headers
//! every route accepts, `whoami`, and the headers of authenticated responses.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

// ---------------------------------------------------------------------------
// The error table

#[tokio::test]
async fn no_token_is_401_credentials_required_without_an_error_attribute() {
    let app = TestApp::spawn().await;
    let http = client();
    for path in [
        "/api/v1/whoami",
        "/api/v1/tokens",
        "/api/v1/projects",
        "/api/v1/audit",
        "/api/v1/users",
        "/api/v1/settings/token-policy",
    ] {
        let r = send(http.get(app.url(path))).await;
        r.expect_error(StatusCode::UNAUTHORIZED, "credentials_required", "API key required");
        assert_eq!(r.header("www-authenticate").as_deref(), Some(r#"Bearer realm="proctor""#), "{path}");
        assert_eq!(r.header("ratelimit"), None, "no rate-limit headers without a token");
    }
    let r = send(http.post(app.url("/api/v1/tokens")).json(&json!({"name": "x", "permissions": ["runs:read"]}))).await;
    r.expect_error(StatusCode::UNAUTHORIZED, "credentials_required", "API key required");
    assert_eq!(r.header("www-authenticate").as_deref(), Some(r#"Bearer realm="proctor""#));
}

#[tokio::test]
async fn malformed_mistyped_and_unknown_tokens_are_401_invalid_token() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    whoami(&app, &admin).await.expect(StatusCode::OK);

    let last = admin.chars().last().unwrap();
    let flipped = format!("{}{}", &admin[..admin.len() - 1], if last == 'a' { 'b' } else { 'a' });
    let other_kind = admin.replacen("prc_pat_", "prc_key_", 1);
    let cases: Vec<String> = vec![
        "garbage".into(),
        "prc_pat_".into(),
        admin[..admin.len() - 1].to_string(),
        format!("{admin}0"),
        flipped,
        admin.replacen("prc_pat_", "prc_xyz_", 1),
        format!("{}-{}", &admin[..20], &admin[21..]),
        other_kind,
        forge_token("pat"),
        forge_token("key"),
    ];
    for bad in &cases {
        let r = whoami(&app, bad).await;
        r.expect_401("invalid_token", "Invalid API key");
        assert_eq!(r.header("ratelimit"), None);
    }
    // A forged token is well formed: the checksum alone does not reject it.
    let forged = forge_token("pat");
    let body = &forged[8..40];
    assert_eq!(&forged[40..], checksum(body));
    // Another scheme in Authorization is not a bearer token.
    let r = send(client().get(app.url("/api/v1/whoami")).header("Authorization", "Basic YWRtaW46cGFzcw==")).await;
    r.expect_401("invalid_token", "Invalid API key");
    // The good token still works.
    whoami(&app, &admin).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_token_is_401_token_revoked() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let victim = cli_token(&app, ADMIN_EMAIL, "victim", "projects:read", &[]);
    let id = token_id(&app, &victim).await;
    assert_eq!(delete(&app, &format!("/api/v1/tokens/{id}"), &admin).await.status, StatusCode::NO_CONTENT);
    for path in ["/api/v1/whoami", "/api/v1/projects", "/api/v1/tokens"] {
        get(&app, path, &victim).await.expect_401("token_revoked", "API key revoked");
    }
    // Idempotent: revoking again is still 204 and changes nothing.
    assert_eq!(delete(&app, &format!("/api/v1/tokens/{id}"), &admin).await.status, StatusCode::NO_CONTENT);
    let listed = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
    assert_eq!(find(&listed, "tokens", &id)["status"], "revoked");
}

#[tokio::test]
async fn a_token_works_until_its_expiry_then_is_401_token_expired() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let at = now_unix() + 3;
    let (secret, created) = api_token(
        &app,
        &admin,
        json!({"name": "short-lived", "permissions": ["projects:read"], "expires_at": rfc3339(at)}),
    )
    .await;
    assert_eq!(created["expires_at"], rfc3339(at));
    let first = whoami(&app, &secret).await;
    first.expect(StatusCode::OK);
    assert_eq!(first.header("proctor-token-expiration"), Some(rfc3339(at)));

    let successes = std::cell::Cell::new(0);
    poll(Duration::from_secs(8), "the token to expire", || async {
        let sent = now_unix();
        let r = whoami(&app, &secret).await;
        if r.status == StatusCode::OK {
            assert!(sent < at, "a request sent at {sent} succeeded with a token that expired at {at}");
            successes.set(successes.get() + 1);
            None
        } else {
            r.expect_401("token_expired", "API key expired");
            assert!(now_unix() >= at, "expired early");
            Some(())
        }
    })
    .await;
    assert!(successes.get() > 0, "the token worked before it expired");
    whoami(&app, &secret).await.expect_401("token_expired", "API key expired");
    let listed = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
    assert_eq!(find(&listed, "tokens", created["id"].as_str().unwrap())["status"], "expired");
}

#[tokio::test]
async fn a_missing_permission_is_403_insufficient_scope_and_keeps_the_headers() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    api_user(&app, &admin, "mia@example.com", "member").await;
    let mia = cli_token(&app, "mia@example.com", "mia", "projects:read,tokens:create", &[]);
    let expires = whoami(&app, &mia).await.expect(StatusCode::OK)["token"]["expires_at"].as_str().unwrap().to_string();

    let cases: Vec<(reqwest::Method, &str, Value, &str)> = vec![
        (reqwest::Method::GET, "/api/v1/audit", Value::Null, "audit:read"),
        (reqwest::Method::GET, "/api/v1/tokens?all=true", Value::Null, "tokens:admin"),
        (reqwest::Method::GET, "/api/v1/users", Value::Null, "users:admin"),
        (reqwest::Method::GET, "/api/v1/roles", Value::Null, "users:admin"),
        (reqwest::Method::GET, "/api/v1/service-accounts", Value::Null, "users:admin"),
        (reqwest::Method::PUT, "/api/v1/settings/token-policy", json!({}), "tokens:admin"),
        (reqwest::Method::GET, "/api/v1/projects/alpha/keys", Value::Null, "projects:manage"),
        (
            reqwest::Method::POST,
            "/api/v1/projects/alpha/keys",
            json!({"name": "k", "permissions": ["runs:read"]}),
            "projects:manage",
        ),
        (reqwest::Method::POST, "/api/v1/tokens", json!({"name": "t", "permissions": ["runs:read"]}), "runs:read"),
    ];
    for (method, path, body, permission) in cases {
        let mut request = api(&app, method, path, &mia);
        if !body.is_null() {
            request = request.json(&body);
        }
        let r = send(request).await;
        r.expect_403(permission);
        assert_auth_headers(&r, 1200, Some(&expires));
    }
}

#[tokio::test]
async fn two_different_tokens_in_one_request_are_400_ambiguous_credentials() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let other = another_admin_token(&app, "other");
    let http = client();
    let url = app.url("/api/v1/whoami");
    let mixes = [
        http.get(&url).bearer_auth(&admin).header("X-Api-Key", &other),
        http.get(&url).bearer_auth(&admin).header("Project-Token", &other),
        http.get(&url).header("X-Api-Key", &admin).header("Project-Token", &other),
        http.get(&url).bearer_auth(&admin).header("X-Api-Key", "garbage"),
        http.get(&url)
            .header("Authorization", format!("Bearer {admin}"))
            .header("Authorization", format!("Bearer {other}")),
        http.get(&url).header("X-Api-Key", &admin).header("X-Api-Key", &other),
    ];
    for request in mixes {
        let r = send(request).await;
        let message = r.expect_code(StatusCode::BAD_REQUEST, "ambiguous_credentials");
        assert!(!message.contains(&admin) && !message.contains(&other));
    }
    // The same token twice is one token.
    send(http.get(&url).bearer_auth(&admin).header("X-Api-Key", &admin).header("Project-Token", &admin))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn every_token_header_is_accepted_on_every_route() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    let key = cli_key(&app, "alpha", "projects:read,runs:read");
    let http = client();
    for token in [&admin, &key] {
        for header in ["Authorization", "X-Api-Key", "Project-Token"] {
            let value = if header == "Authorization" { format!("Bearer {token}") } else { token.to_string() };
            let r = send(http.get(app.url("/api/v1/whoami")).header(header, &value)).await;
            let body = r.expect(StatusCode::OK);
            assert_eq!(body["token"]["kind"], if token.starts_with("prc_key_") { "key" } else { "pat" });
            let r = send(http.get(app.url("/api/v1/projects")).header(header, &value)).await;
            assert_eq!(r.expect(StatusCode::OK)["projects"][0]["slug"], "alpha", "{header}");
        }
    }
    // A write route through X-Api-Key and Project-Token.
    for header in ["X-Api-Key", "Project-Token"] {
        let r = send(
            http.post(app.url("/api/v1/tokens"))
                .header(header, &admin)
                .json(&json!({"name": header, "permissions": ["runs:read"]})),
        )
        .await;
        assert_eq!(r.expect(StatusCode::CREATED)["name"], header);
    }
    // The scheme is case-insensitive.
    send(http.get(app.url("/api/v1/whoami")).header("Authorization", format!("bearer {admin}")))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn whoami_describes_the_token_and_its_owner_or_project() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    let mia_id = api_user(&app, &admin, "mia@example.com", "viewer").await;
    // Chosen beyond the viewer role: the effective permissions are the intersection.
    api_user(&app, &admin, "max@example.com", "member").await;
    let mia = cli_token(&app, "mia@example.com", "mia-ci", "projects:read,tokens:create", &["--projects", "alpha"]);
    let body = whoami(&app, &mia).await.expect(StatusCode::OK);
    assert_eq!(body["token"]["kind"], "pat");
    assert_eq!(body["token"]["name"], "mia-ci");
    assert_eq!(body["token"]["projects"], json!(["alpha"]));
    assert_eq!(body["token"]["permissions"], json!(["projects:read", "tokens:create"]));
    assert!(body["token"]["preview"].as_str().unwrap().starts_with(&mia[..12]));
    assert!(body["token"]["preview"].as_str().unwrap().ends_with(&mia[mia.len() - 4..]));
    assert!(body["token"]["preview"].as_str().unwrap().contains('…'));
    assert_eq!(body["user"]["id"], mia_id);
    assert_eq!(body["user"]["email"], "mia@example.com");
    assert_eq!(body["user"]["role"], "viewer");
    assert!(body.get("project").is_none());
    let keys: Vec<&String> = body["token"].as_object().unwrap().keys().collect();
    for field in ["id", "kind", "name", "preview", "permissions", "projects", "expires_at"] {
        assert!(body["token"].get(field).is_some(), "{field} in {keys:?}");
    }
    assert!(body["token"].get("token").is_none(), "never the secret");

    let key = cli_key(&app, "alpha", "runs:write");
    let body = whoami(&app, &key).await.expect(StatusCode::OK);
    assert_eq!(body["token"]["kind"], "key");
    assert_eq!(body["token"]["projects"], json!(["alpha"]));
    assert_eq!(body["project"]["slug"], "alpha");
    assert!(body.get("user").is_none());

    cli_ok(&app, &["admin", "create-service-account", "--name", "deployer", "--role", "member"]);
    let sa = cli_token(&app, "deployer", "deploy", "runs:write", &[]);
    let body = whoami(&app, &sa).await.expect(StatusCode::OK);
    assert_eq!(body["user"]["name"], "deployer");
    assert!(body["user"].get("email").is_none());
}

// ---------------------------------------------------------------------------
// Headers

#[tokio::test]
async fn authenticated_responses_carry_expiration_and_rate_limit_headers() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let first = whoami(&app, &admin).await;
    let body = first.expect(StatusCode::OK);
    let expires = body["token"]["expires_at"].as_str().unwrap().to_string();
    assert_auth_headers(&first, 1200, Some(&expires));
    let ninety_days = now_unix() + 90 * 86_400;
    assert!((unix(&expires) - ninety_days).abs() < 120, "default expiry is 90 days: {expires}");

    let (r1, _) = ratelimit(&first);
    let second = get(&app, "/api/v1/tokens", &admin).await;
    second.expect(StatusCode::OK);
    assert_auth_headers(&second, 1200, Some(&expires));
    let (r2, t2) = ratelimit(&second);
    assert!(r1 < 1200 && r2 <= r1, "remaining goes down: {r1} then {r2}");
    assert!(t2 >= 1, "a used bucket is not full");

    // Errors of an authenticated request carry them too.
    let not_found = delete(&app, "/api/v1/tokens/00000000-0000-0000-0000-000000000000", &admin).await;
    not_found.expect_code(StatusCode::NOT_FOUND, "not_found");
    assert_auth_headers(&not_found, 1200, Some(&expires));
    let invalid = post(&app, "/api/v1/tokens", &admin, json!({"name": "", "permissions": ["runs:read"]})).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.text);
    assert_auth_headers(&invalid, 1200, Some(&expires));

    // A token that never expires has no expiration header.
    put(&app, "/api/v1/settings/token-policy", &admin, json!({"allow_no_expiry": true})).await.expect(StatusCode::OK);
    let (forever, created) =
        api_token(&app, &admin, json!({"name": "forever", "permissions": ["projects:read"], "expires_at": null})).await;
    assert_eq!(created["expires_at"], Value::Null);
    let r = whoami(&app, &forever).await;
    assert_eq!(r.expect(StatusCode::OK)["token"]["expires_at"], Value::Null);
    assert_auth_headers(&r, 1200, None);
    let denied = get(&app, "/api/v1/audit", &forever).await;
    denied.expect_403("audit:read");
    assert_auth_headers(&denied, 1200, None);
    let cli_forever = cli_token(&app, ADMIN_EMAIL, "cli-forever", "projects:read", &["--no-expiry"]);
    assert_auth_headers(&whoami(&app, &cli_forever).await, 1200, None);
}
