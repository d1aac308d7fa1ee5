//! The access-token API (API.md sections 2, 5, 6 and 8): the error table,
//! the headers of authenticated responses, rate limits, immediate
//! revocation, rotation, the expiration policy, "last used", escalation,
//! offline changes, leaked-token reports, secrets and the audit trail.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

const MEMBER_PERMISSIONS: &str = "projects:read,runs:read,runs:write,artifacts:write,tokens:create";

fn rate_limited_app(per_minute: u32) -> SpawnOptions {
    SpawnOptions { args: vec!["--rate-limit-per-minute".into(), per_minute.to_string()], ..Default::default() }
}

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
// Headers and rate limits

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

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn revocation_is_immediate_while_eight_clients_hammer_the_token() {
    let app = TestApp::spawn_with(rate_limited_app(1_000_000)).await;
    let admin = admin_token(&app).await;
    let victim = cli_token(&app, ADMIN_EMAIL, "victim", "projects:read", &[]);
    let id = token_id(&app, &victim).await;
    let url = app.url("/api/v1/whoami");
    let stop = Arc::new(AtomicBool::new(false));
    let ok_count = Arc::new(AtomicUsize::new(0));
    let revoked_seen = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (url, victim, stop, ok_count, revoked_seen) =
            (url.clone(), victim.clone(), stop.clone(), ok_count.clone(), revoked_seen.clone());
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut seen: Vec<(Instant, u16, String)> = Vec::new();
            let mut counted = false;
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let response = http.get(&url).bearer_auth(&victim).send().await.expect("request");
                let status = response.status().as_u16();
                let body: Value = response.json().await.expect("JSON");
                let code = body["error"].as_str().unwrap_or_default().to_string();
                if status == 200 {
                    ok_count.fetch_add(1, Ordering::SeqCst);
                } else if code == "token_revoked" && !counted {
                    counted = true;
                    revoked_seen.fetch_add(1, Ordering::SeqCst);
                }
                seen.push((sent, status, code));
            }
            seen
        }));
    }
    poll(Duration::from_secs(10), "the clients to warm up", || async {
        (ok_count.load(Ordering::SeqCst) >= 200).then_some(())
    })
    .await;
    let response = api(&app, reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}"), &admin).send().await.unwrap();
    let revoked_at = Instant::now();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    poll(Duration::from_secs(10), "every client to see the revocation", || async {
        (revoked_seen.load(Ordering::SeqCst) == 8).then_some(())
    })
    .await;
    // A few more rounds after everyone noticed.
    let after_all = ok_count.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let mut after = 0;
    let mut before_ok = 0;
    for task in tasks {
        let seen = task.await.unwrap();
        let mut last_ok_index = None;
        for (i, (sent, status, code)) in seen.iter().enumerate() {
            if *sent > revoked_at {
                after += 1;
                assert_eq!(
                    (*status, code.as_str()),
                    (401, "token_revoked"),
                    "a request sent {:?} after the revoke response got {status}",
                    sent.duration_since(revoked_at)
                );
            } else if *status == 200 {
                before_ok += 1;
            }
            if *status == 200 {
                last_ok_index = Some(i);
            }
        }
        let (_, last_status, last_code) = seen.last().unwrap();
        assert_eq!((*last_status, last_code.as_str()), (401, "token_revoked"));
        // Once revoked, never successful again on this client.
        if let Some(i) = last_ok_index {
            assert!(seen[i + 1..].iter().all(|(_, s, _)| *s == 401));
        }
    }
    assert_eq!(ok_count.load(Ordering::SeqCst), after_all, "no success after all clients saw the revocation");
    assert!(after >= 8, "requests were sent after the revocation ({after})");
    assert!(before_ok >= 200);
}

// ---------------------------------------------------------------------------
// Rotation

#[tokio::test]
async fn rotation_without_grace_revokes_the_old_secret_at_once() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    create_project(&app, "beta");
    let (old, created) = api_token(
        &app,
        &admin,
        json!({"name": "deploy", "permissions": ["projects:read", "runs:read", "tokens:create"], "projects": ["alpha", "beta"], "expires_in_days": 30}),
    )
    .await;
    whoami(&app, &old).await.expect(StatusCode::OK);
    let id = created["id"].as_str().unwrap();
    let response = send(api(&app, reqwest::Method::POST, &format!("/api/v1/tokens/{id}/rotate"), &admin)).await;
    let rotated = response.expect(StatusCode::CREATED);
    assert_eq!(response.header("cache-control").as_deref(), Some("no-store"));
    let new = rotated["token"].as_str().expect("the new secret").to_string();
    assert!(is_token(&new) && new.starts_with("prc_pat_") && new != old);
    assert_ne!(rotated["id"], created["id"]);
    assert_ne!(rotated["preview"], created["preview"]);
    for field in ["name", "kind", "permissions", "projects", "owner"] {
        assert_eq!(rotated[field], created[field], "{field}");
    }
    assert_eq!(rotated["projects"], json!(["alpha", "beta"]));
    assert_eq!(rotated["status"], "active");
    // A new expiry under the current policy (the default, 90 days).
    assert!((unix(rotated["expires_at"].as_str().unwrap()) - (now_unix() + 90 * 86_400)).abs() < 120);

    whoami(&app, &old).await.expect_401("token_revoked", "API key revoked");
    let me = whoami(&app, &new).await.expect(StatusCode::OK);
    assert_eq!(me["token"]["name"], "deploy");
    assert_eq!(me["token"]["projects"], json!(["alpha", "beta"]));
    let listed = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
    assert_eq!(find(&listed, "tokens", id)["status"], "revoked");
    assert!(find(&listed, "tokens", rotated["id"].as_str().unwrap()).get("token").is_none());
}

#[tokio::test]
async fn rotation_with_grace_keeps_the_old_secret_working_until_it_ends() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let old = cli_token(&app, ADMIN_EMAIL, "ci", "projects:read,tokens:create", &[]);
    let id = token_id(&app, &old).await;
    // The owner rotates its own token.
    let started = Instant::now();
    let rotated = post(&app, &format!("/api/v1/tokens/{id}/rotate"), &old, json!({"grace_seconds": 2}))
        .await
        .expect(StatusCode::CREATED);
    let new = rotated["token"].as_str().unwrap().to_string();
    whoami(&app, &old).await.expect(StatusCode::OK);
    whoami(&app, &new).await.expect(StatusCode::OK);
    poll(Duration::from_secs(6), "the grace period to end", || async {
        let r = whoami(&app, &old).await;
        if r.status == StatusCode::OK {
            return None;
        }
        r.expect_401("token_revoked", "API key revoked");
        Some(())
    })
    .await;
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "revoked before the grace period ended: {:?}",
        started.elapsed()
    );
    whoami(&app, &new).await.expect(StatusCode::OK);
    let events = audit_events(&app, &admin, "&action=token.rotated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["details"]["grace_seconds"], 2);
}

#[tokio::test]
async fn rotation_refuses_bad_grace_periods_without_rotating() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let old = cli_token(&app, ADMIN_EMAIL, "ci", "projects:read", &[]);
    let id = token_id(&app, &old).await;
    let path = format!("/api/v1/tokens/{id}/rotate");
    let count = || sql_count(&app, "SELECT count(*) FROM tokens");
    let before = count();
    post(&app, &path, &admin, json!({"grace_seconds": 86_401}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    for bad in [json!({"grace_seconds": -1}), json!({"grace_seconds": "60"}), json!({"grace_secs": 60})] {
        let r = post(&app, &path, &admin, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert!(r.json()["error"].is_string());
    }
    let r = send(
        api(&app, reqwest::Method::POST, &path, &admin).header("Content-Type", "application/json").body("{not json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = send(
        api(&app, reqwest::Method::POST, &path, &admin).header("Content-Type", "text/plain").body("grace_seconds=60"),
    )
    .await;
    r.expect_code(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert_eq!(count(), before, "nothing was rotated");
    whoami(&app, &old).await.expect(StatusCode::OK);
    // The upper bound itself is allowed.
    let rotated = post(&app, &path, &admin, json!({"grace_seconds": 86_400})).await.expect(StatusCode::CREATED);
    whoami(&app, &old).await.expect(StatusCode::OK);
    whoami(&app, rotated["token"].as_str().unwrap()).await.expect(StatusCode::OK);
    // Rotating someone else's token is hidden from a non-admin.
    api_user(&app, &admin, "mia@example.com", "member").await;
    let mia = cli_token(&app, "mia@example.com", "mia", "tokens:create", &[]);
    let new_id = rotated["id"].as_str().unwrap();
    post(&app, &format!("/api/v1/tokens/{new_id}/rotate"), &mia, json!({}))
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
}

// ---------------------------------------------------------------------------
// The expiration policy

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

// ---------------------------------------------------------------------------
// No escalation

#[tokio::test]
async fn a_token_never_creates_a_token_with_more_permissions() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    api_user(&app, &admin, "mia@example.com", "member").await;
    let mia = cli_token(&app, "mia@example.com", "mia", MEMBER_PERMISSIONS, &[]);
    let t = |perms: Value| json!({"name": "child", "permissions": perms});
    post(&app, "/api/v1/tokens", &mia, t(json!(["users:admin"]))).await.expect_403("users:admin");
    post(&app, "/api/v1/tokens", &mia, t(json!(["runs:read", "tokens:admin"]))).await.expect_403("tokens:admin");
    let (_, child) = api_token(&app, &mia, t(json!(["runs:read"]))).await;
    assert_eq!(child["owner"]["type"], "user");
    assert_eq!(child["owner"]["name"], "mia");
    assert_eq!(child["created_by"]["type"], "token");

    // The role caps what a token chosen beyond it may do, and the CLI too.
    let out =
        app.cli(&["token", "create", "--owner", "mia@example.com", "--name", "x", "--permissions", "users:admin"]);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("users:admin"));

    // A token with only runs:read cannot create tokens at all …
    let reader = cli_token(&app, ADMIN_EMAIL, "reader", "runs:read", &[]);
    post(&app, "/api/v1/tokens", &reader, t(json!(["runs:read"]))).await.expect_403("tokens:create");
    // … and with tokens:create, not beyond what it holds.
    let creator = cli_token(&app, ADMIN_EMAIL, "creator", "runs:read,tokens:create", &[]);
    post(&app, "/api/v1/tokens", &creator, t(json!(["runs:write"]))).await.expect_403("runs:write");
    post(&app, "/api/v1/tokens", &creator, t(json!(["runs:read", "tokens:create"]))).await.expect(StatusCode::CREATED);
    let count = sql_count(&app, "SELECT count(*) FROM tokens");
    assert_eq!(count, 6, "admin, mia, mia's child, reader, creator, creator's child: nothing refused was made");
    // Nor can a member make themselves more.
    post(&app, "/api/v1/roles", &mia, json!({"name": "boss", "permissions": ["users:admin"]}))
        .await
        .expect_403("users:admin");
}

#[tokio::test]
async fn a_token_restricted_to_a_project_cannot_reach_beyond_it() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    create_project(&app, "beta");
    let alpha_only = cli_token(&app, ADMIN_EMAIL, "alpha-only", ALL_PERMISSIONS, &["--projects", "alpha"]);
    let t = |projects: Value| json!({"name": "child", "permissions": ["projects:read"], "projects": projects});
    let r = post(&app, "/api/v1/tokens", &alpha_only, t(Value::Null)).await;
    r.expect_code(StatusCode::FORBIDDEN, "missing_permission");
    let r = post(&app, "/api/v1/tokens", &alpha_only, json!({"name": "child", "permissions": ["projects:read"]})).await;
    r.expect_code(StatusCode::FORBIDDEN, "missing_permission");
    post(&app, "/api/v1/tokens", &alpha_only, t(json!(["beta"]))).await.expect_error(
        StatusCode::NOT_FOUND,
        "project_not_found",
        "Project not found.",
    );
    post(&app, "/api/v1/tokens", &alpha_only, t(json!(["alpha", "beta"]))).await.expect_error(
        StatusCode::NOT_FOUND,
        "project_not_found",
        "Project not found.",
    );
    let nowhere = post(&app, "/api/v1/tokens", &alpha_only, t(json!(["nowhere"]))).await;
    let hidden = post(&app, "/api/v1/tokens", &alpha_only, t(json!(["beta"]))).await;
    assert_eq!((nowhere.status, nowhere.text), (hidden.status, hidden.text), "hidden looks like missing");
    let (_, child) = api_token(&app, &alpha_only, t(json!(["alpha"]))).await;
    assert_eq!(child["projects"], json!(["alpha"]));
    // Keys of other projects neither.
    post(&app, "/api/v1/projects/beta/keys", &alpha_only, json!({"name": "k", "permissions": ["runs:read"]}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "project_not_found", "Project not found.");
    let listed = get(&app, "/api/v1/projects", &alpha_only).await.expect(StatusCode::OK);
    let slugs: Vec<&str> = listed["projects"].as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["alpha"]);
    let all = get(&app, "/api/v1/projects", &admin).await.expect(StatusCode::OK);
    assert_eq!(all["projects"].as_array().unwrap().len(), 2);
    assert_eq!(all["next_cursor"], Value::Null);
    let first = get(&app, "/api/v1/projects?limit=1", &admin).await.expect(StatusCode::OK);
    assert_eq!(first["projects"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = get(&app, &format!("/api/v1/projects?limit=1&cursor={cursor}"), &admin).await.expect(StatusCode::OK);
    assert_eq!(second["projects"].as_array().unwrap().len(), 1);
    assert_ne!(second["projects"][0]["slug"], first["projects"][0]["slug"]);
    assert_eq!(second["next_cursor"], Value::Null);
    // A restricted token pages through what it can see only.
    let only = get(&app, "/api/v1/projects?limit=1", &alpha_only).await.expect(StatusCode::OK);
    assert_eq!(only["projects"][0]["slug"], "alpha");
    assert_eq!(only["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_role_change_applies_to_the_owners_tokens_at_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    post(
        &app,
        "/api/v1/roles",
        &admin,
        json!({"name": "keeper", "permissions": ["projects:read", "projects:manage", "audit:read", "tokens:create"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let kim = api_user(&app, &admin, "kim@example.com", "keeper").await;
    let token =
        cli_token(&app, "kim@example.com", "kim", "projects:read,projects:manage,audit:read,tokens:create", &[]);
    let new_key = json!({"name": "k", "permissions": ["projects:read"]});
    post(&app, "/api/v1/projects/alpha/keys", &token, new_key.clone()).await.expect(StatusCode::CREATED);
    get(&app, "/api/v1/audit", &token).await.expect(StatusCode::OK);

    // The role loses a permission: the token does at once.
    patch(
        &app,
        "/api/v1/roles/keeper",
        &admin,
        json!({"permissions": ["projects:read", "projects:manage", "tokens:create"]}),
    )
    .await
    .expect(StatusCode::OK);
    get(&app, "/api/v1/audit", &token).await.expect_403("audit:read");
    let me = whoami(&app, &token).await.expect(StatusCode::OK);
    assert_eq!(me["token"]["permissions"], json!(["projects:read", "projects:manage", "tokens:create"]));
    patch(
        &app,
        "/api/v1/roles/keeper",
        &admin,
        json!({"permissions": ["projects:read", "projects:manage", "audit:read", "tokens:create"]}),
    )
    .await
    .expect(StatusCode::OK);
    get(&app, "/api/v1/audit", &token).await.expect(StatusCode::OK);

    // The owner gets another role.
    let changed =
        patch(&app, &format!("/api/v1/users/{kim}"), &admin, json!({"role": "member"})).await.expect(StatusCode::OK);
    assert_eq!(changed["role"], "member");
    post(&app, "/api/v1/projects/alpha/keys", &token, new_key.clone()).await.expect_403("projects:manage");
    get(&app, "/api/v1/audit", &token).await.expect_403("audit:read");
    patch(&app, &format!("/api/v1/users/{kim}"), &admin, json!({"role": "keeper"})).await.expect(StatusCode::OK);
    post(&app, "/api/v1/projects/alpha/keys", &token, new_key).await.expect(StatusCode::CREATED);

    let events = audit_events(&app, &admin, "").await;
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["role.created", "role.updated", "user.role_changed", "user.created"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn deactivating_the_owner_revokes_their_tokens_for_good() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let mia = api_user(&app, &admin, "mia@example.com", "member").await;
    let first = cli_token(&app, "mia@example.com", "one", MEMBER_PERMISSIONS, &[]);
    let second = cli_token(&app, "mia@example.com", "two", "runs:read", &[]);
    whoami(&app, &first).await.expect(StatusCode::OK);
    whoami(&app, &second).await.expect(StatusCode::OK);

    let off =
        patch(&app, &format!("/api/v1/users/{mia}"), &admin, json!({"active": false})).await.expect(StatusCode::OK);
    assert_eq!(off["active"], false);
    whoami(&app, &first).await.expect_401("token_revoked", "API key revoked");
    whoami(&app, &second).await.expect_401("token_revoked", "API key revoked");
    // One cannot deactivate oneself through one's own token.
    let me = whoami(&app, &admin).await.expect(StatusCode::OK);
    let admin_id = me["user"]["id"].as_str().unwrap();
    patch(&app, &format!("/api/v1/users/{admin_id}"), &admin, json!({"active": false}))
        .await
        .expect_code(StatusCode::CONFLICT, "cannot_deactivate_self");

    let on = patch(&app, &format!("/api/v1/users/{mia}"), &admin, json!({"active": true})).await.expect(StatusCode::OK);
    assert_eq!(on["active"], true);
    whoami(&app, &first).await.expect_401("token_revoked", "API key revoked");
    whoami(&app, &second).await.expect_401("token_revoked", "API key revoked");
    let all = get(&app, "/api/v1/tokens?all=true", &admin).await.expect(StatusCode::OK);
    let hers: Vec<&Value> = all["tokens"].as_array().unwrap().iter().filter(|t| t["owner"]["id"] == mia).collect();
    assert_eq!(hers.len(), 2);
    assert!(hers.iter().all(|t| t["status"] == "revoked"));
    // New tokens work again.
    let third = cli_token(&app, "mia@example.com", "three", "runs:read", &[]);
    whoami(&app, &third).await.expect(StatusCode::OK);

    let events = audit_events(&app, &admin, "").await;
    assert!(events.iter().any(|e| e["action"] == "user.deactivated" && e["target"]["id"] == mia));
    let revoked: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "token.revoked" && e["details"]["reason"] == "owner_deactivated")
        .collect();
    assert_eq!(revoked.len(), 2);
}

// ---------------------------------------------------------------------------
// Offline changes

#[tokio::test]
async fn offline_tokens_and_offline_revocations_take_effect_at_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    whoami(&app, &admin).await.expect(StatusCode::OK);
    // Made by another process while the server runs: accepted at once.
    let offline = cli_token(&app, ADMIN_EMAIL, "offline", "projects:read", &[]);
    let id = token_id(&app, &offline).await;
    for _ in 0..3 {
        whoami(&app, &offline).await.expect(StatusCode::OK);
    }
    // Revoked by another connection (as the CLI would): refused at once.
    sql(&app, &format!("UPDATE tokens SET revoked_at = strftime('%s','now') WHERE id = '{id}'"));
    whoami(&app, &offline).await.expect_401("token_revoked", "API key revoked");
    whoami(&app, &admin).await.expect(StatusCode::OK);

    // A role changed offline applies at the next request.
    create_project(&app, "alpha");
    post(
        &app,
        "/api/v1/roles",
        &admin,
        json!({"name": "keeper", "permissions": ["projects:read", "projects:manage", "tokens:create"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let kim = api_user(&app, &admin, "kim@example.com", "keeper").await;
    let token = cli_token(&app, "kim@example.com", "kim", "projects:read,projects:manage", &[]);
    for _ in 0..2 {
        get(&app, "/api/v1/projects/alpha/keys", &token).await.expect(StatusCode::OK);
    }
    sql(&app, &format!("UPDATE accounts SET role = 'viewer' WHERE id = '{kim}'"));
    get(&app, "/api/v1/projects/alpha/keys", &token).await.expect_403("projects:manage");
    sql(&app, "UPDATE roles SET permissions = 'projects:read' WHERE name = 'keeper'");
    sql(&app, &format!("UPDATE accounts SET role = 'keeper' WHERE id = '{kim}'"));
    get(&app, "/api/v1/projects/alpha/keys", &token).await.expect_403("projects:manage");
    sql(&app, "UPDATE roles SET permissions = 'projects:read projects:manage' WHERE name = 'keeper'");
    get(&app, "/api/v1/projects/alpha/keys", &token).await.expect(StatusCode::OK);
    // A key made offline works at once, too.
    let key = cli_key(&app, "alpha", "runs:read");
    whoami(&app, &key).await.expect(StatusCode::OK);
}

// ---------------------------------------------------------------------------
// Leaked tokens

#[tokio::test]
async fn anyone_can_revoke_a_leaked_token_without_an_account() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    let leaked = cli_token(&app, ADMIN_EMAIL, "leaked", "projects:read", &[]);
    let leaked_key = cli_key(&app, "alpha", "runs:write");
    whoami(&app, &leaked).await.expect(StatusCode::OK);
    whoami(&app, &leaked_key).await.expect(StatusCode::OK);
    let http = client();
    let report = |token: Value| send(http.post(app.url("/api/v1/tokens/revoke")).json(&json!({"token": token})));
    for token in [&leaked, &leaked_key] {
        let r = report(json!(token)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert!(r.text.is_empty());
        whoami(&app, token).await.expect_401("token_revoked", "API key revoked");
    }
    // Unknown, garbage, and again: the same answer.
    for token in [json!(forge_token("pat")), json!("garbage"), json!(""), json!(leaked)] {
        assert_eq!(report(token).await.status, StatusCode::NO_CONTENT);
    }
    whoami(&app, &admin).await.expect(StatusCode::OK);
    let events = audit_events(&app, &admin, "&action=token.revoked").await;
    assert_eq!(events.len(), 2, "one event per revoked token: {events:?}");
    assert!(events.iter().all(|e| e["details"]["reason"] == "reported_leaked" && e["actor"]["type"] == "system"));
}

// ---------------------------------------------------------------------------
// Secrets

#[tokio::test]
async fn no_secret_ever_appears_in_logs_audit_lists_or_errors() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    let mut secrets = vec![admin.clone()];
    let mut bodies: Vec<String> = Vec::new();

    let (pat, created) =
        api_token(&app, &admin, json!({"name": "ci", "permissions": ["projects:read", "tokens:create"]})).await;
    secrets.push(pat.clone());
    let pat_preview = created["preview"].as_str().unwrap().to_string();
    whoami(&app, &pat).await.expect(StatusCode::OK);
    // Failed authentications with a wrong token.
    let last = pat.chars().last().unwrap();
    let wrong = format!("{}{}", &pat[..pat.len() - 1], if last == 'x' { 'y' } else { 'x' });
    let forged = forge_token("pat");
    secrets.push(wrong.clone());
    secrets.push(forged.clone());
    for bad in [&wrong, &forged] {
        bodies.push(whoami(&app, bad).await.text);
    }
    bodies.push(send(api(&app, reqwest::Method::GET, "/api/v1/whoami", &pat).header("X-Api-Key", &admin)).await.text);
    // Secrets sent where they do not belong come back redacted, if at all.
    let id = created["id"].as_str().unwrap().to_string();
    let misplaced = [
        ("/api/v1/tokens", json!({"name": "x", "permissions": [pat.clone()]})),
        ("/api/v1/tokens", json!({"name": "x", "permissions": ["projects:read"], "expires_at": pat.clone()})),
        ("/api/v1/tokens", json!({"name": "x", "permissions": ["projects:read"], "expires_in_days": pat.clone()})),
        ("/api/v1/tokens", json!({"name": "x", "permissions": ["projects:read"], pat.clone(): 1})),
    ];
    for (path, body) in misplaced {
        let r = post(&app, path, &admin, body).await;
        assert!(r.status.is_client_error(), "{}", r.text);
        bodies.push(r.text);
    }
    let r = patch(&app, &format!("/api/v1/tokens/{id}"), &admin, json!({"rate_limit_per_minute": pat.clone()})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    bodies.push(r.text);
    let r = post(&app, "/api/v1/projects/alpha/keys", &admin, json!({"name": "k", "permissions": [pat.clone()]})).await;
    assert!(r.status.is_client_error());
    bodies.push(r.text);

    // Rotate, then revoke.
    let rotated = post(&app, &format!("/api/v1/tokens/{id}/rotate"), &pat, json!({})).await.expect(StatusCode::CREATED);
    let new = rotated["token"].as_str().unwrap().to_string();
    secrets.push(new.clone());
    bodies.push(whoami(&app, &pat).await.text);
    whoami(&app, &new).await.expect(StatusCode::OK);
    delete(&app, &format!("/api/v1/tokens/{}", rotated["id"].as_str().unwrap()), &new)
        .await
        .expect(StatusCode::NO_CONTENT);
    bodies.push(whoami(&app, &new).await.text);
    // A project key's life.
    let key = post(&app, "/api/v1/projects/alpha/keys", &admin, json!({"name": "k", "permissions": ["runs:read"]}))
        .await
        .expect(StatusCode::CREATED);
    let key_secret = key["token"].as_str().unwrap().to_string();
    secrets.push(key_secret.clone());
    whoami(&app, &key_secret).await.expect(StatusCode::OK);
    let key_id = key["id"].as_str().unwrap();
    let key2 = post(&app, &format!("/api/v1/projects/alpha/keys/{key_id}/rotate"), &admin, json!({}))
        .await
        .expect(StatusCode::CREATED);
    secrets.push(key2["token"].as_str().unwrap().to_string());
    let reported = cli_token(&app, ADMIN_EMAIL, "reported", "projects:read", &[]);
    secrets.push(reported.clone());
    send(client().post(app.url("/api/v1/tokens/revoke")).json(&json!({"token": reported}))).await;
    // Give "last used" a chance to be flushed, so its rows are read back too.
    poll(Duration::from_secs(5), "last used to be flushed", || async {
        let listed = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
        (find(&listed, "tokens", &id)["request_count"].as_i64().unwrap() > 0).then_some(())
    })
    .await;

    let events = audit_events(&app, &admin, "").await;
    bodies.push(serde_json::to_string(&events).unwrap());
    bodies.push(get(&app, "/api/v1/tokens", &admin).await.text);
    bodies.push(get(&app, "/api/v1/tokens?all=true", &admin).await.text);
    bodies.push(get(&app, "/api/v1/projects/alpha/keys", &admin).await.text);
    let log = app.log();
    assert!(log.contains("/api/v1/whoami"), "the log is captured");
    for secret in &secrets {
        let random_part = &secret[8..];
        assert!(!log.contains(random_part), "a secret is in the log");
        for body in &bodies {
            assert!(!body.contains(random_part), "a secret is in a response: {body}");
        }
    }
    // The preview identifies the token that acted.
    assert!(events.iter().any(|e| e["action"] == "token.rotated" && e["actor"]["preview"] == pat_preview));
    assert!(serde_json::to_string(&events).unwrap().contains(&pat_preview));
}

// ---------------------------------------------------------------------------
// Audit

#[tokio::test]
async fn every_token_and_people_change_is_audited_with_the_acting_token() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let me = whoami(&app, &admin).await.expect(StatusCode::OK);
    let (admin_id, admin_preview) = (me["token"]["id"].clone(), me["token"]["preview"].clone());
    create_project(&app, "alpha");
    let agent = "audit-agent/2.0";
    let with_agent = reqwest::Client::builder().user_agent(agent).build().unwrap();
    let created = send(
        with_agent
            .post(app.url("/api/v1/tokens"))
            .bearer_auth(&admin)
            .json(&json!({"name": "ci", "permissions": ["projects:read"]})),
    )
    .await
    .expect(StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    patch(&app, &format!("/api/v1/tokens/{id}"), &admin, json!({"name": "ci-renamed"})).await.expect(StatusCode::OK);
    let rotated =
        post(&app, &format!("/api/v1/tokens/{id}/rotate"), &admin, json!({})).await.expect(StatusCode::CREATED);
    delete(&app, &format!("/api/v1/tokens/{}", rotated["id"].as_str().unwrap()), &admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let key = post(&app, "/api/v1/projects/alpha/keys", &admin, json!({"name": "k", "permissions": ["runs:read"]}))
        .await
        .expect(StatusCode::CREATED);
    let key_path = format!("/api/v1/projects/alpha/keys/{}", key["id"].as_str().unwrap());
    patch(&app, &key_path, &admin, json!({"disabled": true})).await.expect(StatusCode::OK);
    patch(&app, &key_path, &admin, json!({"disabled": false})).await.expect(StatusCode::OK);
    put(&app, "/api/v1/settings/token-policy", &admin, json!({"max_days": 200})).await.expect(StatusCode::OK);
    post(&app, "/api/v1/roles", &admin, json!({"name": "auditor", "permissions": ["audit:read"]}))
        .await
        .expect(StatusCode::CREATED);
    patch(&app, "/api/v1/roles/auditor", &admin, json!({"permissions": ["audit:read", "projects:read"]}))
        .await
        .expect(StatusCode::OK);
    let mia = api_user(&app, &admin, "mia@example.com", "member").await;
    patch(&app, &format!("/api/v1/users/{mia}"), &admin, json!({"role": "auditor"})).await.expect(StatusCode::OK);
    patch(&app, &format!("/api/v1/users/{mia}"), &admin, json!({"active": false})).await.expect(StatusCode::OK);

    // The same bad token five times: one auth.failed.
    let forged = forge_token("pat");
    for _ in 0..5 {
        whoami(&app, &forged).await.expect_401("invalid_token", "Invalid API key");
    }
    // A revoked token used again and again: one more.
    let revoked = cli_token(&app, ADMIN_EMAIL, "gone", "projects:read", &[]);
    let revoked_id = token_id(&app, &revoked).await;
    delete(&app, &format!("/api/v1/tokens/{revoked_id}"), &admin).await.expect(StatusCode::NO_CONTENT);
    for _ in 0..5 {
        whoami(&app, &revoked).await.expect_401("token_revoked", "API key revoked");
    }

    let events = audit_events(&app, &admin, "").await;
    let by_admin = |action: &str| -> Vec<&Value> {
        events.iter().filter(|e| e["action"] == action && e["actor"]["id"] == admin_id).collect()
    };
    for action in [
        "token.created",
        "token.updated",
        "token.rotated",
        "token.revoked",
        "token.disabled",
        "token.enabled",
        "token_policy.updated",
        "role.created",
        "role.updated",
        "user.created",
        "user.role_changed",
        "user.deactivated",
    ] {
        let found = by_admin(action);
        assert!(!found.is_empty(), "{action} by the admin token in {events:#?}");
        let actor = &found[0]["actor"];
        assert_eq!(actor["type"], "token", "{action}");
        assert_eq!(actor["preview"], admin_preview, "{action}");
        assert_eq!(actor["name"], "admin", "{action}");
        assert_eq!(found[0]["ip"], "127.0.0.1", "{action}");
        for field in ["id", "at", "actor", "action", "target", "ip", "user_agent", "details"] {
            assert!(found[0].get(field).is_some(), "{action} has {field}");
        }
        unix(found[0]["at"].as_str().unwrap());
    }
    let first = by_admin("token.created").into_iter().find(|e| e["target"]["id"] == id).expect("ci created");
    assert_eq!(first["user_agent"], agent);
    assert_eq!(first["target"]["type"], "token");
    assert_eq!(first["target"]["name"], created["preview"]);

    let forged_preview = format!("{}…{}", &forged[..12], &forged[forged.len() - 4..]);
    let failed: Vec<&Value> = events.iter().filter(|e| e["action"] == "auth.failed").collect();
    assert_eq!(
        failed
            .iter()
            .filter(
                |e| e["actor"]["preview"] == forged_preview.as_str() || e["target"]["name"] == forged_preview.as_str()
            )
            .count(),
        1,
        "five failures with one token, one event: {failed:#?}"
    );
    let revoked_preview = created_preview_of(&events, &revoked_id);
    assert_eq!(failed.iter().filter(|e| e["target"]["name"] == revoked_preview.as_str()).count(), 1, "{failed:#?}");

    // Filters and pagination.
    let created_events = audit_events(&app, &admin, "&action=token.created").await;
    assert!(created_events.len() >= 3);
    assert!(created_events.iter().all(|e| e["action"] == "token.created"));
    assert_eq!(created_events.len(), events.iter().filter(|e| e["action"] == "token.created").count());
    let token_events = audit_events(&app, &admin, "&action=token.").await;
    assert!(token_events.iter().all(|e| e["action"].as_str().unwrap().starts_with("token.")));
    let mine = audit_events(&app, &admin, &format!("&actor={}", admin_preview.as_str().unwrap())).await;
    assert!(!mine.is_empty() && mine.iter().all(|e| e["actor"]["preview"] == admin_preview));
    let about_ci = audit_events(&app, &admin, &format!("&target={id}")).await;
    let about: Vec<&str> = about_ci.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(about, ["token.rotated", "token.updated", "token.created"], "newest first");

    let mut paged: Vec<Value> = Vec::new();
    let mut path = "/api/v1/audit?limit=2".to_string();
    loop {
        let page = get(&app, &path, &admin).await.expect(StatusCode::OK);
        let items = page["events"].as_array().unwrap();
        assert!(items.len() <= 2);
        paged.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(items.len(), 2);
                path = format!("/api/v1/audit?limit=2&cursor={cursor}");
            }
            None => break,
        }
    }
    let ids: Vec<i64> = paged.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats: {ids:?}");
    let all_ids: Vec<i64> = audit_events(&app, &admin, "").await.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, all_ids, "pages of 2 add up to the whole log");
    get(&app, "/api/v1/audit?limit=0", &admin).await.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    get(&app, "/api/v1/audit?limit=201", &admin).await.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    get(&app, "/api/v1/audit?cursor=%%%", &admin).await.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
}

fn created_preview_of(events: &[Value], token_id: &str) -> String {
    events
        .iter()
        .find(|e| e["action"] == "token.created" && e["target"]["id"] == token_id)
        .and_then(|e| e["target"]["name"].as_str())
        .unwrap_or_else(|| panic!("no token.created for {token_id}"))
        .to_string()
}

// ---------------------------------------------------------------------------
// Managing one's tokens

#[tokio::test]
async fn people_see_and_manage_their_own_tokens_and_admins_everyones() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let mia_id = api_user(&app, &admin, "mia@example.com", "member").await;
    let mia = cli_token(&app, "mia@example.com", "mia", MEMBER_PERMISSIONS, &[]);
    let (_, own) =
        api_token(&app, &mia, json!({"name": "second", "permissions": ["runs:read"], "expires_in_days": 7})).await;
    for field in [
        "id",
        "kind",
        "name",
        "preview",
        "permissions",
        "projects",
        "owner",
        "status",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "last_used_user_agent",
        "recent_ips",
        "request_count",
        "exceeds_policy",
    ] {
        assert!(own.get(field).is_some(), "{field} in {own}");
    }
    assert_eq!(own["kind"], "pat");
    assert_eq!(own["owner"], json!({"type": "user", "id": mia_id, "name": "mia"}));
    assert_eq!(own["projects"], Value::Null);
    assert_eq!(own["status"], "active");
    assert_eq!(own["permissions"], json!(["runs:read"]));

    let listed = get(&app, "/api/v1/tokens", &mia).await.expect(StatusCode::OK);
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|t| t["owner"]["id"] == mia_id && t.get("token").is_none()));
    assert!(listed.get("next_cursor").is_some());
    get(&app, "/api/v1/tokens?all=true", &mia).await.expect_403("tokens:admin");
    let all = get(&app, "/api/v1/tokens?all=true", &admin).await.expect(StatusCode::OK);
    assert_eq!(all["tokens"].as_array().unwrap().len(), 3);
    let admins = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
    assert_eq!(admins["tokens"].as_array().unwrap().len(), 1, "own tokens only without all=true");

    // Paginated.
    let page = get(&app, "/api/v1/tokens?all=true&limit=2", &admin).await.expect(StatusCode::OK);
    assert_eq!(page["tokens"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a next page").to_string();
    let rest =
        get(&app, &format!("/api/v1/tokens?all=true&limit=2&cursor={cursor}"), &admin).await.expect(StatusCode::OK);
    assert_eq!(rest["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    // Someone else's token is not found for a non-admin; an admin may revoke it.
    let admin_token_id = token_id(&app, &admin).await;
    delete(&app, &format!("/api/v1/tokens/{admin_token_id}"), &mia)
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
    patch(&app, &format!("/api/v1/tokens/{admin_token_id}"), &mia, json!({"name": "mine"}))
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
    whoami(&app, &admin).await.expect(StatusCode::OK);
    delete(&app, &format!("/api/v1/tokens/{}", own["id"].as_str().unwrap()), &admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let listed = get(&app, "/api/v1/tokens", &mia).await.expect(StatusCode::OK);
    assert_eq!(find(&listed, "tokens", own["id"].as_str().unwrap())["status"], "revoked");
    // Revoking one's own token with one's token.
    let mia_token_id = token_id(&app, &mia).await;
    delete(&app, &format!("/api/v1/tokens/{mia_token_id}"), &mia).await.expect(StatusCode::NO_CONTENT);
    whoami(&app, &mia).await.expect_401("token_revoked", "API key revoked");

    // Input errors.
    for bad in [
        json!({"name": "x", "permissions": []}),
        json!({"name": "", "permissions": ["runs:read"]}),
        json!({"name": "x".repeat(101), "permissions": ["runs:read"]}),
        json!({"name": "x", "permissions": ["runs:read"], "expires_in_days": 7, "expires_at": rfc3339(now_unix() + 3600)}),
        json!({"name": "x", "permissions": ["runs:read"], "colour": "blue"}),
        json!({"permissions": ["runs:read"]}),
    ] {
        let r = post(&app, "/api/v1/tokens", &admin, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert!(r.json()["error"].is_string());
    }
    post(&app, "/api/v1/tokens", &admin, json!({"name": "x", "permissions": ["runs:fly"]}))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "invalid_permission");
    post(&app, "/api/v1/tokens", &admin, json!({"name": "x", "permissions": ["runs:read"], "expires_in_days": 0}))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
    let r = send(
        api(&app, reqwest::Method::POST, "/api/v1/tokens", &admin).header("Content-Type", "text/plain").body("{}"),
    )
    .await;
    r.expect_code(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let r = send(
        api(&app, reqwest::Method::POST, "/api/v1/tokens", &admin).header("Content-Type", "application/json").body("{"),
    )
    .await;
    r.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    get(&app, "/api/v1/nothing-here", &admin).await.expect_code(StatusCode::NOT_FOUND, "not_found");
}

// ---------------------------------------------------------------------------
// The command line

#[tokio::test]
async fn cli_token_and_key_create_print_only_the_secret() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, "alpha");
    let out = app.cli(&[
        "token",
        "create",
        "--owner",
        ADMIN_EMAIL,
        "--name",
        "from-cli",
        "--permissions",
        "projects:read,runs:read",
        "--projects",
        "alpha",
        "--expires-in-days",
        "7",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout.strip_suffix('\n').expect("one line");
    assert!(is_token(secret) && secret.starts_with("prc_pat_"), "{stdout:?}");
    let body = whoami(&app, secret).await.expect(StatusCode::OK);
    assert_eq!(body["token"]["name"], "from-cli");
    assert_eq!(body["token"]["projects"], json!(["alpha"]));
    assert_eq!(body["token"]["permissions"], json!(["projects:read", "runs:read"]));
    assert!((unix(body["token"]["expires_at"].as_str().unwrap()) - (now_unix() + 7 * 86_400)).abs() < 60);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&secret[8..]), "the secret is printed once, on stdout");

    let out =
        app.cli(&["key", "create", "--project", "alpha", "--name", "ci-key", "--permissions", "runs:write,runs:read"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.strip_suffix('\n').expect("one line");
    assert!(is_token(key) && key.starts_with("prc_key_"), "{stdout:?}");
    let body = whoami(&app, key).await.expect(StatusCode::OK);
    assert_eq!(body["token"]["kind"], "key");
    assert_eq!(body["project"]["slug"], "alpha");

    for args in [
        vec!["token", "create", "--owner", ADMIN_EMAIL, "--name", "x", "--permissions", "runs:fly"],
        vec!["token", "create", "--owner", "nobody@example.com", "--name", "x", "--permissions", "runs:read"],
        vec![
            "token",
            "create",
            "--owner",
            ADMIN_EMAIL,
            "--name",
            "x",
            "--permissions",
            "runs:read",
            "--projects",
            "nowhere",
        ],
        vec!["token", "create", "--owner", ADMIN_EMAIL, "--name", "x", "--permissions", "runs:read", "--no-expiry"],
        vec!["key", "create", "--project", "alpha", "--name", "x", "--permissions", "runs:fly"],
        vec!["key", "create", "--project", "alpha", "--name", "x", "--permissions", "tokens:admin"],
        vec!["key", "create", "--project", "nowhere", "--name", "x", "--permissions", "runs:read"],
    ] {
        let out = app.cli(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", String::from_utf8_lossy(&out.stdout));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?}: a message on stderr");
    }
    let out = app.cli(&["token", "create", "--owner", ADMIN_EMAIL, "--name", "x", "--permissions", "runs:fly"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs:fly"));
}
