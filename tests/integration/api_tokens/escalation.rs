//! No escalation: a token never creates a more powerful token or reaches
//! beyond its projects, and role changes and deactivation of its owner
//! apply to it at the next request.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::MEMBER_PERMISSIONS;
use crate::api_helpers::*;
use crate::helpers::*;

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
    let count = list_all(&app, &admin, "/api/v1/tokens?all=true", "tokens").await.len();
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
