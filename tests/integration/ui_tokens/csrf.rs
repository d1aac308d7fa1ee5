//! CSRF: every token and key form refuses a bad or missing CSRF token and
//! changes nothing.

use reqwest::StatusCode;

use super::{body, create_project, generate_ok, ids_in, secret_on, whoami, KEY_RE};
use crate::api_helpers::{audit_events, cli_token, list_all, ALL_PERMISSIONS};
use crate::helpers::*;

#[tokio::test]
async fn every_token_form_refuses_a_bad_csrf_token() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    create_project(&app, &admin, "web").await;
    let secret = generate_ok(&app, &admin, &[("name", "keep"), ("permission", "runs:read")]).await;
    let key = app
        .submit(&admin, "/projects/web/settings", "/projects/web/keys", &[("name", "key"), ("permission", "runs:read")])
        .await;
    let key_secret = secret_on(&key.text().await.unwrap(), KEY_RE);
    let pat_id = ids_in(&body(&app, &admin, "/settings/tokens").await, "/settings/tokens/", "/revoke").pop().unwrap();
    let key_id =
        ids_in(&body(&app, &admin, "/projects/web/settings").await, "/projects/web/keys/", "/delete").pop().unwrap();
    let check = cli_token(&app, ADMIN_EMAIL, "check", ALL_PERMISSIONS, &[]);
    let tokens_before = list_all(&app, &check, "/api/v1/tokens?all=true", "tokens").await;
    let audit_before = audit_events(&app, &check, "").await.len();

    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/settings/tokens".into(), vec![("name", "new"), ("permission", "runs:read")]),
        (format!("/settings/tokens/{pat_id}/revoke"), vec![]),
        (format!("/settings/tokens/{pat_id}/rotate"), vec![("grace_seconds", "0")]),
        (format!("/settings/admin/tokens/{pat_id}/revoke"), vec![]),
        ("/settings/admin/policy".into(), vec![("mode", "fixed"), ("fixed_days", "7"), ("max_days", "30")]),
        ("/projects/web/keys".into(), vec![("name", "new"), ("permission", "runs:read")]),
        (format!("/projects/web/keys/{key_id}"), vec![("name", "renamed"), ("permission", "runs:write")]),
        (format!("/projects/web/keys/{key_id}/disable"), vec![]),
        (format!("/projects/web/keys/{key_id}/enable"), vec![]),
        (format!("/projects/web/keys/{key_id}/rotate"), vec![("grace_seconds", "0")]),
        (format!("/projects/web/keys/{key_id}/delete"), vec![]),
    ];
    for (action, fields) in &forms {
        for csrf in ["bogus", ""] {
            let mut all = vec![("csrf_token", csrf)];
            all.extend(fields.iter().copied());
            let response = admin.post(app.url(action)).form(&all).send().await.expect("POST");
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action} with csrf {csrf:?}");
            let page = response.text().await.unwrap();
            assert!(!page.contains("prc_"), "{action} leaked a secret");
        }
    }
    // Nothing was created, revoked, disabled, rotated or renamed, and nothing was audited.
    let tokens_after = list_all(&app, &check, "/api/v1/tokens?all=true", "tokens").await;
    assert_eq!(tokens_after.len(), tokens_before.len());
    for (after, before) in tokens_after.iter().zip(&tokens_before) {
        assert_eq!(
            (&after["id"], &after["name"], &after["status"]),
            (&before["id"], &before["name"], &before["status"])
        );
        assert_eq!(after["status"], "active", "{after}");
    }
    assert_eq!(audit_events(&app, &check, "").await.len(), audit_before);
    let policy = body(&app, &admin, "/settings/admin/policy").await;
    assert!(policy.contains("value=\"user_choice\" checked"));
    assert_eq!(whoami(&app, "authorization", &secret).await, StatusCode::OK);
    assert_eq!(whoami(&app, "x-api-key", &key_secret).await, StatusCode::OK);
}
