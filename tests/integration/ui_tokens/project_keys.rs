//! Project API keys in Project Settings: created (shown once), disabled,
//! enabled, edited, rotated and deleted, and read-only for a viewer.

use reqwest::StatusCode;

use super::{body, create_project, ids_in, preview_of, secret_on, whoami, KEY_RE};
use crate::helpers::*;

#[tokio::test]
async fn project_keys_are_created_disabled_enabled_rotated_and_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    create_project(&app, &admin, "web").await;
    let settings = body(&app, &admin, "/projects/web/settings").await;
    assert!(settings.contains("No API keys") && settings.contains("action=\"/projects/web/keys\""));
    assert!(!settings.contains("value=\"tokens:admin\""), "only key permissions are offered");

    let refused = app
        .submit(
            &admin,
            "/projects/web/settings",
            "/projects/web/keys",
            &[("name", "bad"), ("permission", "tokens:admin")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("value=\"bad\""));

    let created = app
        .submit(
            &admin,
            "/projects/web/settings",
            "/projects/web/keys",
            &[("name", "CI"), ("permission", "runs:read"), ("permission", "runs:write"), ("expiration", "30")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let page = created.text().await.unwrap();
    let secret = secret_on(&page, KEY_RE);
    assert!(page.contains("--project web"));
    assert_eq!(whoami(&app, "x-api-key", &secret).await, StatusCode::OK);

    let settings = body(&app, &admin, "/projects/web/settings").await;
    assert!(settings.contains(&preview_of(&secret)) && !settings.contains(&secret));
    let id = ids_in(&settings, "/projects/web/keys/", "/disable").pop().expect("disable form");
    let disabled = app.submit(&admin, "/projects/web/settings", &format!("/projects/web/keys/{id}/disable"), &[]).await;
    assert_eq!(location(&disabled), "/projects/web/settings?notice=key_disabled");
    assert_eq!(whoami(&app, "x-api-key", &secret).await, StatusCode::UNAUTHORIZED);
    let settings = body(&app, &admin, &location(&disabled)).await;
    assert!(
        settings.contains("badge warn\">disabled") && settings.contains(&format!("/projects/web/keys/{id}/enable"))
    );
    let enabled = app.submit(&admin, "/projects/web/settings", &format!("/projects/web/keys/{id}/enable"), &[]).await;
    assert_eq!(location(&enabled), "/projects/web/settings?notice=key_enabled");
    assert_eq!(whoami(&app, "x-api-key", &secret).await, StatusCode::OK);

    let edited = app
        .submit(
            &admin,
            "/projects/web/settings",
            &format!("/projects/web/keys/{id}"),
            &[("name", "CI read"), ("permission", "runs:read")],
        )
        .await;
    assert_eq!(location(&edited), "/projects/web/settings?notice=key_updated");
    let check = crate::api_helpers::cli_token(&app, ADMIN_EMAIL, "check", crate::api_helpers::ALL_PERMISSIONS, &[]);
    let keys = crate::api_helpers::list_all(&app, &check, "/api/v1/projects/web/keys", "keys").await;
    let edited = keys.iter().find(|k| k["id"] == id.as_str()).expect("the edited key");
    assert_eq!(
        (&edited["name"], &edited["permissions"]),
        (&serde_json::json!("CI read"), &serde_json::json!(["runs:read"]))
    );

    let rotated = app
        .submit(&admin, "/projects/web/settings", &format!("/projects/web/keys/{id}/rotate"), &[("grace_seconds", "0")])
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let new_secret = secret_on(&rotated.text().await.unwrap(), KEY_RE);
    assert_eq!(whoami(&app, "x-api-key", &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&app, "x-api-key", &new_secret).await, StatusCode::OK);

    // A viewer sees neither the keys (as `GET …/keys` needs projects:manage) nor forms, and cannot act.
    let viewer = app.user_session(&admin, "vera@example.com", "viewer").await;
    let project = body(&app, &viewer, "/projects/web").await;
    assert!(project.contains("href=\"/projects/web/settings\""));
    let seen = body(&app, &viewer, "/projects/web/settings").await;
    assert!(!seen.contains(&preview_of(&new_secret)) && !seen.contains("CI read"));
    assert!(!seen.contains("<form method=\"post\" action=\"/projects/web"), "no forms for a viewer");
    let settings = body(&app, &admin, "/projects/web/settings").await;
    // Newest first: the rotated key heads the table.
    let new_id = ids_in(&settings, "/projects/web/keys/", "/delete").into_iter().next().unwrap();
    for action in [
        "/projects/web/keys".to_string(),
        format!("/projects/web/keys/{new_id}/disable"),
        format!("/projects/web/keys/{new_id}/delete"),
        format!("/projects/web/keys/{new_id}/rotate"),
    ] {
        let response =
            app.submit(&viewer, "/settings/tokens", &action, &[("name", "x"), ("permission", "runs:read")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(whoami(&app, "x-api-key", &new_secret).await, StatusCode::OK);

    let deleted =
        app.submit(&admin, "/projects/web/settings", &format!("/projects/web/keys/{new_id}/delete"), &[]).await;
    assert_eq!(location(&deleted), "/projects/web/settings?notice=key_deleted");
    assert_eq!(whoami(&app, "x-api-key", &new_secret).await, StatusCode::UNAUTHORIZED);
    let audit = app.audit_page(&admin, "?action=token.").await;
    for action in
        ["token.created", "token.disabled", "token.enabled", "token.updated", "token.rotated", "token.deleted"]
    {
        assert!(audit.contains(action), "{action}");
    }
}
