//! Project API keys over `/api/v1/projects/{project}/keys`, and the
//! isolation of one project's key from every other project.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

#[tokio::test]
async fn keys_are_created_listed_renamed_rescoped_disabled_rotated_and_deleted() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");

    let empty = get(&app, "/api/v1/projects/alpha/keys", &admin).await.expect(StatusCode::OK);
    assert_eq!(empty, json!({"keys": [], "next_cursor": null}));

    let response = post(
        &app,
        "/api/v1/projects/alpha/keys",
        &admin,
        json!({"name": "ci", "permissions": ["runs:write", "runs:read"], "expires_in_days": 30}),
    )
    .await;
    let created = response.expect(StatusCode::CREATED);
    assert_eq!(response.header("cache-control").as_deref(), Some("no-store"));
    let secret = created["token"].as_str().expect("the secret, once").to_string();
    assert!(is_token(&secret) && secret.starts_with("prc_key_"));
    assert_eq!(created["kind"], "key");
    assert_eq!(created["name"], "ci");
    assert_eq!(created["projects"], json!(["alpha"]));
    assert_eq!(created["permissions"], json!(["runs:read", "runs:write"]));
    assert_eq!(created["status"], "active");
    assert_eq!(created["created_by"]["type"], "token");
    assert!((unix(created["expires_at"].as_str().unwrap()) - (now_unix() + 30 * 86_400)).abs() < 60);
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/projects/alpha/keys/{id}");

    let listed = get(&app, "/api/v1/projects/alpha/keys", &admin).await.expect(StatusCode::OK);
    let key = find(&listed, "keys", &id);
    assert!(key.get("token").is_none(), "never the secret again");
    assert_eq!(key["preview"], created["preview"]);
    // Keys are not personal tokens.
    let own = get(&app, "/api/v1/tokens", &admin).await.expect(StatusCode::OK);
    assert!(own["tokens"].as_array().unwrap().iter().all(|t| t["kind"] == "pat"));

    let me = whoami(&app, &secret).await.expect(StatusCode::OK);
    assert_eq!(me["token"]["id"], id.as_str());
    assert_eq!(me["project"]["slug"], "alpha");

    // Rename and re-scope: 200 with the whole key.
    let renamed = patch(&app, &path, &admin, json!({"name": "ci-main"})).await.expect(StatusCode::OK);
    assert_eq!(renamed["name"], "ci-main");
    assert_eq!(renamed["id"], id.as_str());
    assert!(renamed.get("token").is_none());
    let rescoped =
        patch(&app, &path, &admin, json!({"permissions": ["projects:read", "runs:read"]})).await.expect(StatusCode::OK);
    assert_eq!(rescoped["permissions"], json!(["projects:read", "runs:read"]));
    let me = whoami(&app, &secret).await.expect(StatusCode::OK);
    assert_eq!(me["token"]["permissions"], json!(["projects:read", "runs:read"]), "re-scoping applies at once");
    assert_eq!(me["token"]["name"], "ci-main");
    for outside in
        [json!(["tokens:create"]), json!(["projects:manage"]), json!(["runs:read", "audit:read"]), json!(["runs:fly"])]
    {
        let r = patch(&app, &path, &admin, json!({"permissions": outside})).await;
        r.expect_code(StatusCode::UNPROCESSABLE_ENTITY, "invalid_permission");
    }
    let r =
        post(&app, "/api/v1/projects/alpha/keys", &admin, json!({"name": "k", "permissions": ["users:admin"]})).await;
    r.expect_code(StatusCode::UNPROCESSABLE_ENTITY, "invalid_permission");
    let r = patch(&app, &path, &admin, json!({"permissions": []})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = patch(&app, &path, &admin, json!({"owner": "me"})).await;
    r.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    assert_eq!(
        whoami(&app, &secret).await.expect(StatusCode::OK)["token"]["permissions"],
        json!(["projects:read", "runs:read"])
    );

    // Disabled: 401 token_disabled at the next request; re-enabled: works.
    let disabled = patch(&app, &path, &admin, json!({"disabled": true})).await.expect(StatusCode::OK);
    assert_eq!(disabled["status"], "disabled");
    whoami(&app, &secret).await.expect_401("token_disabled", "API key is disabled");
    get(&app, "/api/v1/projects", &secret).await.expect_401("token_disabled", "API key is disabled");
    let enabled = patch(&app, &path, &admin, json!({"disabled": false})).await.expect(StatusCode::OK);
    assert_eq!(enabled["status"], "active");
    whoami(&app, &secret).await.expect(StatusCode::OK);

    // Rotate: a new key with the same name and permissions, the old one revoked.
    let response = send(api(&app, Method::POST, &format!("{path}/rotate"), &admin)).await;
    let rotated = response.expect(StatusCode::CREATED);
    assert_eq!(response.header("cache-control").as_deref(), Some("no-store"));
    let new_secret = rotated["token"].as_str().unwrap().to_string();
    assert!(new_secret.starts_with("prc_key_") && new_secret != secret);
    for field in ["name", "kind", "permissions", "projects"] {
        assert_eq!(rotated[field], enabled[field], "{field}");
    }
    whoami(&app, &secret).await.expect_401("token_revoked", "API key revoked");
    whoami(&app, &new_secret).await.expect(StatusCode::OK);
    // A disabled key stays disabled through a rotation.
    let new_id = rotated["id"].as_str().unwrap().to_string();
    let new_path = format!("/api/v1/projects/alpha/keys/{new_id}");
    patch(&app, &new_path, &admin, json!({"disabled": true})).await.expect(StatusCode::OK);
    let again = post(&app, &format!("{new_path}/rotate"), &admin, json!({"grace_seconds": 60}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(again["status"], "disabled");
    whoami(&app, again["token"].as_str().unwrap()).await.expect_401("token_disabled", "API key is disabled");
    patch(&app, &new_path, &admin, json!({"disabled": false})).await.expect(StatusCode::OK);
    whoami(&app, &new_secret).await.expect(StatusCode::OK);

    // Delete: 204, then the key is unknown.
    let deleted = delete(&app, &new_path, &admin).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.text.is_empty());
    whoami(&app, &new_secret).await.expect_401("invalid_token", "Invalid API key");
    delete(&app, &new_path, &admin).await.expect_code(StatusCode::NOT_FOUND, "not_found");
    patch(&app, &new_path, &admin, json!({"name": "x"})).await.expect_code(StatusCode::NOT_FOUND, "not_found");

    let events = audit_events(&app, &admin, "&action=token.").await;
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in
        ["token.created", "token.updated", "token.disabled", "token.enabled", "token.rotated", "token.deleted"]
    {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let updates: Vec<&Value> =
        events.iter().filter(|e| e["action"] == "token.updated" && e["target"]["id"] == id.as_str()).collect();
    assert_eq!(updates.len(), 2, "one rename, one re-scope (refused changes are not audited)");
}

#[tokio::test]
async fn keys_need_projects_manage_and_cannot_grant_more_than_the_creator_holds() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    let key = cli_key(&app, "alpha", "projects:read,runs:read,runs:write");
    let key_id = token_id(&app, &key).await;
    // A key cannot manage keys, not even itself.
    get(&app, "/api/v1/projects/alpha/keys", &key).await.expect_403("projects:manage");
    post(&app, "/api/v1/projects/alpha/keys", &key, json!({"name": "k", "permissions": ["runs:read"]}))
        .await
        .expect_403("projects:manage");
    patch(&app, &format!("/api/v1/projects/alpha/keys/{key_id}"), &key, json!({"disabled": true}))
        .await
        .expect_403("projects:manage");
    post(&app, &format!("/api/v1/projects/alpha/keys/{key_id}/rotate"), &key, json!({}))
        .await
        .expect_403("projects:manage");
    delete(&app, &format!("/api/v1/projects/alpha/keys/{key_id}"), &key).await.expect_403("projects:manage");
    get(&app, "/api/v1/tokens", &key).await.expect_403("tokens:create");
    post(&app, "/api/v1/tokens", &key, json!({"name": "t", "permissions": ["runs:read"]}))
        .await
        .expect_403("tokens:create");
    whoami(&app, &key).await.expect(StatusCode::OK);

    // A manager holding only runs:read grants only that.
    let manager = cli_token(&app, ADMIN_EMAIL, "manager", "projects:read,projects:manage,runs:read", &[]);
    post(&app, "/api/v1/projects/alpha/keys", &manager, json!({"name": "k", "permissions": ["runs:write"]}))
        .await
        .expect_403("runs:write");
    patch(
        &app,
        &format!("/api/v1/projects/alpha/keys/{key_id}"),
        &manager,
        json!({"permissions": ["artifacts:write"]}),
    )
    .await
    .expect_403("artifacts:write");
    post(&app, "/api/v1/projects/alpha/keys", &manager, json!({"name": "k", "permissions": ["runs:read"]}))
        .await
        .expect(StatusCode::CREATED);
    // Input errors.
    for bad in [
        json!({"name": "k"}),
        json!({"name": "", "permissions": ["runs:read"]}),
        json!({"name": "k", "permissions": []}),
        json!({"name": "k", "permissions": ["runs:read"], "colour": "blue"}),
        json!({"name": "k", "permissions": ["runs:read"], "expires_in_days": "soon"}),
        json!({"name": "k", "permissions": ["runs:read"], "expires_in_days": 7, "expires_at": rfc3339(now_unix() + 3600)}),
    ] {
        let r = post(&app, "/api/v1/projects/alpha/keys", &admin, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    let r = post(
        &app,
        "/api/v1/projects/alpha/keys",
        &admin,
        json!({"name": "k", "permissions": ["runs:read"], "expires_in_days": 400}),
    )
    .await;
    r.expect_code(StatusCode::UNPROCESSABLE_ENTITY, "policy_violation");
}

#[tokio::test]
async fn a_key_of_one_project_sees_nothing_of_another() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "alpha");
    create_project(&app, "beta");
    let alpha_key = cli_key(&app, "alpha", "projects:read,runs:read,runs:write,artifacts:write");
    let beta_key = post(&app, "/api/v1/projects/beta/keys", &admin, json!({"name": "b", "permissions": ["runs:read"]}))
        .await
        .expect(StatusCode::CREATED);
    let beta_id = beta_key["id"].as_str().unwrap();

    let listed = get(&app, "/api/v1/projects", &alpha_key).await.expect(StatusCode::OK);
    assert_eq!(listed["projects"].as_array().unwrap().len(), 1);
    assert_eq!(listed["projects"][0]["slug"], "alpha");
    for field in ["slug", "name", "default_branch", "created_at"] {
        assert!(listed["projects"][0].get(field).is_some(), "{field}");
    }

    let routes: Vec<(Method, String, Value)> = vec![
        (Method::GET, "keys".into(), Value::Null),
        (Method::POST, "keys".into(), json!({"name": "x", "permissions": ["runs:read"]})),
        (Method::PATCH, format!("keys/{beta_id}"), json!({"disabled": true})),
        (Method::DELETE, format!("keys/{beta_id}"), Value::Null),
        (Method::POST, format!("keys/{beta_id}/rotate"), json!({})),
    ];
    for (method, rest, body) in &routes {
        let mut answers = Vec::new();
        for project in ["beta", "does-not-exist"] {
            let mut request = api(&app, method.clone(), &format!("/api/v1/projects/{project}/{rest}"), &alpha_key);
            if !body.is_null() {
                request = request.json(body);
            }
            let r = send(request).await;
            r.expect_error(StatusCode::NOT_FOUND, "project_not_found", "Project not found.");
            answers.push(r.text);
        }
        assert_eq!(answers[0], answers[1], "{method} {rest}: a hidden project looks like a missing one");
    }
    // Beta's key is untouched.
    let beta = get(&app, "/api/v1/projects/beta/keys", &admin).await.expect(StatusCode::OK);
    assert_eq!(find(&beta, "keys", beta_id)["status"], "active");
    // Beta's key through alpha's path is not found either.
    patch(&app, &format!("/api/v1/projects/alpha/keys/{beta_id}"), &admin, json!({"name": "moved"}))
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
    // A key cannot revoke another project's key through /tokens either.
    let r = delete(&app, &format!("/api/v1/tokens/{beta_id}"), &alpha_key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    whoami(&app, beta_key["token"].as_str().unwrap()).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn whoami_of_a_key_follows_a_renamed_project_at_once() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, "alpha");
    let key = cli_key(&app, "alpha", "runs:read");
    let before = whoami(&app, &key).await.expect(StatusCode::OK);
    assert_eq!(before["project"]["name"], "ALPHA");
    // Renamed in the web UI: the key's cached check notices at the next request.
    let (browser, status) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let fields = [("name", "Alpha renamed"), ("default_branch", "trunk")];
    let saved = app.submit(&browser, "/projects/alpha/settings", "/projects/alpha/settings", &fields).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let after = whoami(&app, &key).await.expect(StatusCode::OK);
    assert_eq!(after["project"]["name"], "Alpha renamed");
    assert_eq!(after["project"]["default_branch"], "trunk");
}

#[tokio::test]
async fn a_bad_token_is_401_even_when_the_body_is_bad_too() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let revoked = another_admin_token(&app, "doomed");
    let id = token_id(&app, &revoked).await;
    delete(&app, &format!("/api/v1/tokens/{id}"), &admin).await.expect(StatusCode::NO_CONTENT);
    for token in [revoked.as_str(), forge_token("pat").as_str()] {
        for _ in 0..5 {
            let response = send(
                api(&app, Method::POST, "/api/v1/tokens", token)
                    .header("content-type", "application/json")
                    .body("{not json"),
            )
            .await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{}", response.text);
        }
    }
}
