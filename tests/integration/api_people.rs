//! Users, service accounts and roles over the API (API.md section 5).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

#[tokio::test]
async fn users_are_created_listed_paginated_and_updated() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let response = post(
        &app,
        "/api/v1/users",
        &admin,
        json!({"email": "Mia@Example.com", "name": "Mia", "role": "viewer", "password": PASSWORD}),
    )
    .await;
    let mia = response.expect(StatusCode::CREATED);
    let fields: Vec<&String> = mia.as_object().unwrap().keys().collect();
    for field in ["id", "email", "name", "role", "active", "created_at"] {
        assert!(mia.get(field).is_some(), "{field} in {fields:?}");
    }
    assert!(!response.text.contains("password") && !response.text.contains("argon2"), "{}", response.text);
    assert_eq!(mia["email"], "mia@example.com");
    assert_eq!(mia["role"], "viewer");
    assert_eq!(mia["active"], true);
    unix(mia["created_at"].as_str().unwrap());
    let mia_id = mia["id"].as_str().unwrap().to_string();
    // The new user can log in with that password.
    assert_eq!(app.login("mia@example.com", PASSWORD).await.1, StatusCode::SEE_OTHER);
    // The role defaults to member.
    let max =
        post(&app, "/api/v1/users", &admin, json!({"email": "max@example.com", "name": "Max", "password": PASSWORD}))
            .await
            .expect(StatusCode::CREATED);
    assert_eq!(max["role"], "member");

    let all = get(&app, "/api/v1/users", &admin).await.expect(StatusCode::OK);
    assert_eq!(all["users"].as_array().unwrap().len(), 3);
    assert_eq!(all["next_cursor"], Value::Null);
    // Pagination: one at a time, every user exactly once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/users?limit=1".to_string();
    loop {
        let page = get(&app, &path, &admin).await.expect(StatusCode::OK);
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 1);
        seen.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/users?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    let all_ids: Vec<String> =
        all["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen, all_ids);
    get(&app, "/api/v1/users?limit=500", &admin).await.expect_code(StatusCode::BAD_REQUEST, "invalid_request");

    // PATCH: 200 with the whole user.
    let path = format!("/api/v1/users/{mia_id}");
    let renamed = patch(&app, &path, &admin, json!({"name": "Mia M."})).await.expect(StatusCode::OK);
    assert_eq!(renamed["name"], "Mia M.");
    assert_eq!(renamed["email"], "mia@example.com");
    let promoted = patch(&app, &path, &admin, json!({"role": "member"})).await.expect(StatusCode::OK);
    assert_eq!(promoted["role"], "member");
    let off = patch(&app, &path, &admin, json!({"active": false})).await.expect(StatusCode::OK);
    assert_eq!(off["active"], false);
    assert_eq!(app.login("mia@example.com", PASSWORD).await.1, StatusCode::UNAUTHORIZED);
    patch(&app, &path, &admin, json!({"role": "nope"}))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "unknown_role");
    patch(&app, "/api/v1/users/00000000-0000-0000-0000-000000000000", &admin, json!({"name": "x"}))
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
    patch(&app, &path, &admin, json!({"email": "new@example.com"}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    // The last user admin cannot be demoted.
    let me = whoami(&app, &admin).await.expect(StatusCode::OK);
    let admin_id = me["user"]["id"].as_str().unwrap();
    patch(&app, &format!("/api/v1/users/{admin_id}"), &admin, json!({"role": "member"}))
        .await
        .expect_code(StatusCode::CONFLICT, "last_admin");

    let actions: Vec<String> = audit_events(&app, &admin, "&action=user.")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for action in ["user.created", "user.updated", "user.role_changed", "user.deactivated"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn user_input_errors_have_specific_codes() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let valid = json!({"email": "mia@example.com", "name": "Mia", "role": "member", "password": PASSWORD});
    post(&app, "/api/v1/users", &admin, valid.clone()).await.expect(StatusCode::CREATED);
    post(&app, "/api/v1/users", &admin, valid.clone()).await.expect_code(StatusCode::CONFLICT, "email_taken");
    let mut upper = valid.clone();
    upper["email"] = json!("MIA@example.com");
    post(&app, "/api/v1/users", &admin, upper).await.expect_code(StatusCode::CONFLICT, "email_taken");
    let mut unknown_role = valid.clone();
    unknown_role["email"] = json!("x@example.com");
    unknown_role["role"] = json!("overlord");
    post(&app, "/api/v1/users", &admin, unknown_role)
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "unknown_role");
    for (field, value) in [("email", json!("not-an-email")), ("password", json!("short")), ("name", json!(""))] {
        let mut bad = valid.clone();
        bad["email"] = json!("y@example.com");
        bad[field] = value;
        let r = post(&app, "/api/v1/users", &admin, bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text);
        assert!(r.json()["error"].is_string());
    }
    let mut extra = valid.clone();
    extra["email"] = json!("z@example.com");
    extra["is_admin"] = json!(true);
    post(&app, "/api/v1/users", &admin, extra).await.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    post(&app, "/api/v1/users", &admin, json!({"email": "w@example.com"}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    let r = send(
        api(&app, Method::POST, "/api/v1/users", &admin)
            .header("Content-Type", "application/json")
            .body("{\"email\": "),
    )
    .await;
    r.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    let r = send(
        api(&app, Method::POST, "/api/v1/users", &admin).header("Content-Type", "text/plain").body(valid.to_string()),
    )
    .await;
    r.expect_code(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let r = send(api(&app, Method::POST, "/api/v1/users", &admin).form(&[("email", "v@example.com")])).await;
    r.expect_code(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert_eq!(list_all(&app, &admin, "/api/v1/users", "users").await.len(), 2, "only the admin and mia");

    // Only users:admin; and nobody grants a role beyond their own.
    api_user(&app, &admin, "max@example.com", "member").await;
    let max = cli_token(&app, "max@example.com", "max", "projects:read,tokens:create", &[]);
    get(&app, "/api/v1/users", &max).await.expect_403("users:admin");
    post(&app, "/api/v1/users", &max, json!({"email": "q@example.com", "name": "Q", "password": PASSWORD}))
        .await
        .expect_403("users:admin");
    let limited = cli_token(&app, ADMIN_EMAIL, "people", "users:admin,projects:read", &[]);
    post(
        &app,
        "/api/v1/users",
        &limited,
        json!({"email": "q@example.com", "name": "Q", "role": "admin", "password": PASSWORD}),
    )
    .await
    .expect_code(StatusCode::FORBIDDEN, "missing_permission");
    post(
        &app,
        "/api/v1/users",
        &limited,
        json!({"email": "q@example.com", "name": "Q", "role": "viewer", "password": PASSWORD}),
    )
    .await
    .expect_code(StatusCode::FORBIDDEN, "missing_permission");
}

#[tokio::test]
async fn service_accounts_are_created_listed_and_updated() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let created = post(&app, "/api/v1/service-accounts", &admin, json!({"name": "deployer", "role": "member"}))
        .await
        .expect(StatusCode::CREATED);
    for field in ["id", "name", "role", "active", "created_at"] {
        assert!(created.get(field).is_some(), "{field} in {created}");
    }
    assert_eq!(created["name"], "deployer");
    assert_eq!(created["role"], "member");
    assert_eq!(created["active"], true);
    let id = created["id"].as_str().unwrap().to_string();
    post(&app, "/api/v1/service-accounts", &admin, json!({"name": "nightly"})).await.expect(StatusCode::CREATED);

    let listed = get(&app, "/api/v1/service-accounts", &admin).await.expect(StatusCode::OK);
    assert_eq!(listed["service_accounts"].as_array().unwrap().len(), 2);
    assert_eq!(listed["next_cursor"], Value::Null);
    let page = get(&app, "/api/v1/service-accounts?limit=1", &admin).await.expect(StatusCode::OK);
    assert_eq!(page["service_accounts"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
    let users = get(&app, "/api/v1/users", &admin).await.expect(StatusCode::OK);
    assert_eq!(users["users"].as_array().unwrap().len(), 1, "service accounts are not users");

    // A token owned by the service account follows its role.
    let sa_token = cli_token(&app, "deployer", "deploy", "projects:read,runs:write", &[]);
    let me = whoami(&app, &sa_token).await.expect(StatusCode::OK);
    assert_eq!(me["user"]["id"], id.as_str(), "a service account appears as the user, without an email");
    assert!(me["user"].get("email").is_none());
    assert_eq!(me["token"]["permissions"], json!(["projects:read", "runs:write"]));
    let path = format!("/api/v1/service-accounts/{id}");
    let changed =
        patch(&app, &path, &admin, json!({"role": "viewer", "name": "deploy-bot"})).await.expect(StatusCode::OK);
    assert_eq!(changed["role"], "viewer");
    assert_eq!(changed["name"], "deploy-bot");
    assert_eq!(whoami(&app, &sa_token).await.expect(StatusCode::OK)["token"]["permissions"], json!(["projects:read"]));
    patch(&app, &path, &admin, json!({"role": "ghost"}))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "unknown_role");
    post(&app, "/api/v1/service-accounts", &admin, json!({"name": "x", "role": "ghost"}))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "unknown_role");
    post(&app, "/api/v1/service-accounts", &admin, json!({"name": ""}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    // A user's id is not a service account's.
    let me = whoami(&app, &admin).await.expect(StatusCode::OK);
    patch(
        &app,
        &format!("/api/v1/service-accounts/{}", me["user"]["id"].as_str().unwrap()),
        &admin,
        json!({"name": "x"}),
    )
    .await
    .expect_code(StatusCode::NOT_FOUND, "not_found");
    // Deactivation revokes its tokens.
    patch(&app, &path, &admin, json!({"active": false})).await.expect(StatusCode::OK);
    whoami(&app, &sa_token).await.expect_401("token_revoked", "API key revoked");
}

#[tokio::test]
async fn roles_are_listed_created_changed_and_deleted_but_builtins_are_read_only() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let listed = get(&app, "/api/v1/roles", &admin).await.expect(StatusCode::OK);
    let roles = listed["roles"].as_array().unwrap();
    assert_eq!(listed["next_cursor"], Value::Null);
    let builtin = |name: &str| roles.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("{name}")).clone();
    assert_eq!(builtin("admin")["builtin"], true);
    assert_eq!(builtin("admin")["permissions"].as_array().unwrap().len(), 10);
    assert_eq!(
        builtin("member")["permissions"],
        json!(["projects:read", "runs:read", "runs:write", "artifacts:write", "tokens:create", "tests:manage"])
    );
    assert_eq!(builtin("viewer")["permissions"], json!(["projects:read", "runs:read", "tokens:create"]));

    let created =
        post(&app, "/api/v1/roles", &admin, json!({"name": "auditor", "permissions": ["audit:read", "projects:read"]}))
            .await
            .expect(StatusCode::CREATED);
    assert_eq!(created, json!({"name": "auditor", "permissions": ["projects:read", "audit:read"], "builtin": false}));
    let listed = get(&app, "/api/v1/roles", &admin).await.expect(StatusCode::OK);
    assert!(listed["roles"].as_array().unwrap().iter().any(|r| r["name"] == "auditor" && r["builtin"] == false));

    let changed = patch(&app, "/api/v1/roles/auditor", &admin, json!({"permissions": ["audit:read"]}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed, json!({"name": "auditor", "permissions": ["audit:read"], "builtin": false}));

    for name in ["admin", "member", "viewer"] {
        patch(&app, &format!("/api/v1/roles/{name}"), &admin, json!({"permissions": ["runs:read"]}))
            .await
            .expect_code(StatusCode::CONFLICT, "builtin_role");
        delete(&app, &format!("/api/v1/roles/{name}"), &admin).await.expect_code(StatusCode::CONFLICT, "builtin_role");
    }
    post(&app, "/api/v1/roles", &admin, json!({"name": "member", "permissions": ["runs:read"]}))
        .await
        .expect_code(StatusCode::CONFLICT, "role_exists");
    post(&app, "/api/v1/roles", &admin, json!({"name": "auditor", "permissions": ["runs:read"]}))
        .await
        .expect_code(StatusCode::CONFLICT, "role_exists");
    post(&app, "/api/v1/roles", &admin, json!({"name": "x", "permissions": ["runs:fly"]}))
        .await
        .expect_code(StatusCode::UNPROCESSABLE_ENTITY, "invalid_permission");
    post(&app, "/api/v1/roles", &admin, json!({"name": "Not Valid", "permissions": ["runs:read"]}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    post(&app, "/api/v1/roles", &admin, json!({"name": "x", "permissions": ["runs:read"], "builtin": true}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    patch(&app, "/api/v1/roles/ghost", &admin, json!({"permissions": ["runs:read"]}))
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
    delete(&app, "/api/v1/roles/ghost", &admin).await.expect_code(StatusCode::NOT_FOUND, "not_found");

    // A role in use cannot be deleted; an unused one can.
    let user = api_user(&app, &admin, "ann@example.com", "auditor").await;
    delete(&app, "/api/v1/roles/auditor", &admin).await.expect_code(StatusCode::CONFLICT, "role_in_use");
    patch(&app, &format!("/api/v1/users/{user}"), &admin, json!({"role": "viewer"})).await.expect(StatusCode::OK);
    let deleted = delete(&app, "/api/v1/roles/auditor", &admin).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.text.is_empty());
    assert!(!get(&app, "/api/v1/roles", &admin).await.expect(StatusCode::OK)["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "auditor"));

    // A role can't hold more than its creator.
    let limited = cli_token(&app, ADMIN_EMAIL, "people", "users:admin,projects:read", &[]);
    post(&app, "/api/v1/roles", &limited, json!({"name": "runner", "permissions": ["runs:write"]}))
        .await
        .expect_403("runs:write");
    post(&app, "/api/v1/roles", &limited, json!({"name": "reader", "permissions": ["projects:read"]}))
        .await
        .expect(StatusCode::CREATED);

    let actions: Vec<String> = audit_events(&app, &admin, "&action=role.")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for action in ["role.created", "role.updated", "role.deleted"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}
