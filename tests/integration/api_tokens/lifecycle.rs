//! A token's life through the API: listing and managing one's own tokens
//! (and an admin everyone's), revocation that takes effect at once even
//! under load, and rotation with and without a grace period.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{rate_limited_app, MEMBER_PERMISSIONS};
use crate::api_helpers::*;
use crate::helpers::*;

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
    // A value of the wrong type is named by its field.
    let message = post(&app, "/api/v1/tokens", &admin, json!({"name": "x", "permissions": "runs:read"}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    assert!(message.starts_with("Invalid JSON body: permissions: invalid type: string"), "{message}");
    // Bodies over 256 KiB are refused in the contract's shape, required or optional ones.
    let huge = format!(r#"{{"name": "{}", "permissions": ["runs:read"]}}"#, "x".repeat(300 * 1024));
    for path in ["/api/v1/tokens".to_string(), format!("/api/v1/tokens/{}/rotate", token_id(&app, &admin).await)] {
        let r = send(
            api(&app, reqwest::Method::POST, &path, &admin)
                .header("Content-Type", "application/json")
                .body(huge.clone()),
        )
        .await;
        let message = r.expect_code(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        assert!(message.contains("262144 bytes"), "{path}: {message}");
    }
    get(&app, "/api/v1/nothing-here", &admin).await.expect_code(StatusCode::NOT_FOUND, "not_found");
}

// ---------------------------------------------------------------------------
// Immediate revocation

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
    // When the revoke answered, and how many clients have since sent a
    // request: without waiting for that, every client may have seen the
    // revocation on requests that were in flight, and stop before sending one.
    let revoked_at = Arc::new(OnceLock::<Instant>::new());
    let sent_after = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (url, victim, stop, ok_count, revoked_seen) =
            (url.clone(), victim.clone(), stop.clone(), ok_count.clone(), revoked_seen.clone());
        let (revoked_at, sent_after) = (revoked_at.clone(), sent_after.clone());
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut seen: Vec<(Instant, u16, String)> = Vec::new();
            let mut counted = false;
            let mut counted_after = false;
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                if !counted_after && revoked_at.get().is_some_and(|at| sent > *at) {
                    counted_after = true;
                    sent_after.fetch_add(1, Ordering::SeqCst);
                }
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
    revoked_at.set(Instant::now()).unwrap();
    let revoked_at = *revoked_at.get().unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    poll(Duration::from_secs(10), "every client to see the revocation and send after it", || async {
        (revoked_seen.load(Ordering::SeqCst) == 8 && sent_after.load(Ordering::SeqCst) == 8).then_some(())
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
    // Each token's id and status (the admin token's own last use moves as it lists).
    let tokens = || async {
        let all = list_all(&app, &admin, "/api/v1/tokens?all=true", "tokens").await;
        all.iter().map(|t| (t["id"].to_string(), t["status"].to_string())).collect::<Vec<_>>()
    };
    let before = tokens().await;
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
    assert_eq!(tokens().await, before, "nothing was rotated");
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
