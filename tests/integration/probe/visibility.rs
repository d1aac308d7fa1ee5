//! What a caller sees stays within what it may: key details only for those
//! who manage a project, and a project-restricted token learns nothing of
//! other projects from the token list or the audit log.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

#[tokio::test]
async fn project_settings_show_key_details_only_to_project_managers() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    create_project(&app, "web");
    let key = cli_key(&app, "web", "runs:read");
    let preview = whoami(&app, &key).await.expect(StatusCode::OK)["token"]["preview"].as_str().unwrap().to_string();
    let used = client()
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(&key)
        .header("user-agent", "probe-agent/7.1")
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::OK);

    // "Last used" is written within seconds; the manager sees it once it is.
    poll(Duration::from_secs(10), "the key's last use on project settings", || async {
        let page = app.get(&admin, "/projects/web/settings").await.text().await.unwrap();
        (page.contains(&preview) && page.contains("probe-agent/7.1")).then_some(())
    })
    .await;

    let viewer = app.user_session(&admin, "vera@example.com", "viewer").await;
    let response = app.get(&viewer, "/projects/web/settings").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    for secretish in [preview.as_str(), "probe-agent/7.1", "127.0.0.1", "runs:read"] {
        assert!(!page.contains(secretish), "a viewer sees {secretish:?} on project settings:\n{page}");
    }
    assert!(page.contains("shown to people who manage it"), "{page}");
}

fn ids(body: &Value) -> Vec<String> {
    body["tokens"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_project_restricted_token_lists_and_touches_only_tokens_of_its_projects() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    create_project(&app, "secret");
    let web_key = token_id(&app, &cli_key(&app, "web", "runs:read")).await;
    let secret_key = token_id(&app, &cli_key(&app, "secret", "runs:read")).await;
    let both = token_id(&app, &cli_token(&app, ADMIN_EMAIL, "both", "runs:read", &["--projects", "web,secret"])).await;
    let every = token_id(&app, &cli_token(&app, ADMIN_EMAIL, "every", "runs:read", &[])).await;
    let restricted = cli_token(
        &app,
        ADMIN_EMAIL,
        "web-admin",
        "projects:read,tokens:create,tokens:admin,audit:read",
        &["--projects", "web"],
    );

    let everything = ids(&get(&app, "/api/v1/tokens?all=true", &admin).await.expect(StatusCode::OK));
    assert!([&web_key, &secret_key, &both, &every].iter().all(|id| everything.contains(id)), "{everything:?}");

    let listed = get(&app, "/api/v1/tokens?all=true", &restricted).await.expect(StatusCode::OK);
    assert!(!listed.to_string().contains("secret"), "the restricted token learns of project secret: {listed}");
    let listed = ids(&listed);
    assert!(listed.contains(&web_key), "{listed:?}");
    assert!(!listed.contains(&secret_key) && !listed.contains(&both), "{listed:?}");
    // A PAT for every project reaches beyond `web` too.
    assert!(!listed.contains(&every), "{listed:?}");
    // Its own list (all=false) follows the same rule.
    let own = ids(&get(&app, "/api/v1/tokens", &restricted).await.expect(StatusCode::OK));
    assert!(!own.contains(&both), "{own:?}");
    // Paging through in pages of one still finds the visible ones, and only them.
    let mut paged = Vec::new();
    let mut path = "/api/v1/tokens?all=true&limit=1".to_string();
    loop {
        let page = get(&app, &path, &restricted).await.expect(StatusCode::OK);
        paged.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/tokens?all=true&limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, listed);

    // The hidden ones answer as missing ones do: rotating the all-projects
    // PAT would hand the restricted token an unrestricted secret.
    for id in [&secret_key, &both, &every] {
        post(&app, &format!("/api/v1/tokens/{id}/rotate"), &restricted, json!({}))
            .await
            .expect_code(StatusCode::NOT_FOUND, "not_found");
        send(api(&app, Method::DELETE, &format!("/api/v1/tokens/{id}"), &restricted))
            .await
            .expect_code(StatusCode::NOT_FOUND, "not_found");
        patch(&app, &format!("/api/v1/tokens/{id}"), &restricted, json!({"name": "x"}))
            .await
            .expect_code(StatusCode::NOT_FOUND, "not_found");
    }
    // The instance-wide audit log is not for a project-restricted token.
    let message =
        get(&app, "/api/v1/audit", &restricted).await.expect_code(StatusCode::FORBIDDEN, "missing_permission");
    assert!(message.contains("restricted to some projects"), "{message}");
    get(&app, "/api/v1/audit", &admin).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn nobody_rotates_a_token_into_a_secret_holding_more_than_they_hold() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    // A narrow token of the admin may manage the admin's tokens (tokens:create) …
    let narrow = cli_token(&app, ADMIN_EMAIL, "narrow", "runs:read,tokens:create", &[]);
    let broad = token_id(&app, &admin).await;
    let message = post(&app, &format!("/api/v1/tokens/{broad}/rotate"), &narrow, json!({}))
        .await
        .expect_code(StatusCode::FORBIDDEN, "missing_permission");
    assert!(message.contains("missing required permission"), "{message}");
    whoami(&app, &admin).await.expect(StatusCode::OK);
    // … and a key manager holding only runs:read cannot rotate a runs:write key.
    let writer_key = token_id(&app, &cli_key(&app, "web", "runs:write")).await;
    let manager = cli_token(&app, ADMIN_EMAIL, "manager", "projects:read,projects:manage,runs:read", &[]);
    post(&app, &format!("/api/v1/projects/web/keys/{writer_key}/rotate"), &manager, json!({}))
        .await
        .expect_code(StatusCode::FORBIDDEN, "missing_permission");
    // Within what one holds, rotation works as before.
    let own = token_id(&app, &cli_token(&app, ADMIN_EMAIL, "own", "runs:read", &[])).await;
    post(&app, &format!("/api/v1/tokens/{own}/rotate"), &narrow, json!({})).await.expect(StatusCode::CREATED);
}
