//! The audit trail of the token API: every token and people change is
//! recorded with the acting token, repeated failures are recorded once, and
//! the log is filtered and paged.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

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
