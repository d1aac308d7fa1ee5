//! Secrets: anyone may revoke a leaked token without an account, and no
//! secret ever appears in the log, the audit trail, a list or an error.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

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
