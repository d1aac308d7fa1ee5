//! Project Settings → Trusted publishers over real HTTP with a session:
//! presets, the add form (and its errors), the last exchanges with their
//! run link, the exchanged token on the settings page and its revocation,
//! removal, and the permission every route checks.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{exchange, now, setup, AUDIENCE};
use crate::api_helpers::*;
use crate::helpers::*;

const PAGE: &str = "/projects/web/settings/publishers";

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let response = app.get(client, path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.text().await.unwrap()
}

async fn publishers(app: &TestApp, admin: &str) -> Vec<Value> {
    let listed = get(app, "/api/v1/projects/web/trusted-publishers", admin).await.expect(StatusCode::OK);
    listed["trusted_publishers"].as_array().unwrap().clone()
}

#[tokio::test]
async fn presets_fill_the_form_and_a_publisher_is_added_refused_and_removed() {
    let s = setup().await;
    let (session, status) = s.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let github = page(&s.app, &session, PAGE).await;
    assert!(github.contains(&s.issuer.url), "the existing publisher is listed");
    assert!(github.contains("value=\"https://token.actions.githubusercontent.com\""), "GitHub is the default preset");
    assert!(github.contains("name=\"claim_name\" value=\"repository\"") && github.contains("value=\"workflow_ref\""));
    assert!(github.contains(&format!("name=\"audience\" value=\"{AUDIENCE}\"")), "the audience is the public URL");
    let gitlab = page(&s.app, &session, &format!("{PAGE}?preset=gitlab")).await;
    assert!(gitlab.contains("value=\"https://gitlab.com\"") && gitlab.contains("value=\"project_path\""));
    let other = page(&s.app, &session, &format!("{PAGE}?preset=other")).await;
    assert!(other.contains("name=\"issuer\" value=\"\""), "another issuer starts empty");

    // GitHub's issuer with no rule on `repository`: refused, the form kept.
    let github_issuer = "https://token.actions.githubusercontent.com";
    let fields = |repository: &'static str| {
        vec![
            ("preset", "github"),
            ("issuer", github_issuer),
            ("audience", AUDIENCE),
            ("claim_name", "repository"),
            ("claim_glob", repository),
            ("claim_name", "ref"),
            ("claim_glob", "refs/heads/main"),
            ("permission", "runs:write"),
            ("token_minutes", "10"),
        ]
    };
    let refused = s.app.submit(&session, PAGE, PAGE, &fields("")).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let text = refused.text().await.unwrap();
    assert!(text.contains("repository"), "the error names the missing rule: {text}");
    assert!(text.contains("value=\"refs/heads/main\"") && text.contains("name=\"token_minutes\" value=\"10\""));
    assert_eq!(publishers(&s.app, &s.admin).await.len(), 1, "nothing was added");
    let too_long =
        s.app.submit(&session, PAGE, PAGE, &[fields("acme/web"), vec![("token_minutes", "90")]].concat()).await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST, "the last token_minutes wins, and 90 is refused");
    let ten = [fields("acme/web"), vec![("token_minutes", "ten")]].concat();
    let not_a_number = s.app.submit(&session, PAGE, PAGE, &ten).await;
    assert_eq!(not_a_number.status(), StatusCode::BAD_REQUEST);
    let text = not_a_number.text().await.unwrap();
    assert!(text.contains("whole number of minutes"), "{text}");
    assert!(text.contains("name=\"token_minutes\" value=\"ten\""), "kept as sent");

    let added = s.app.submit(&session, PAGE, PAGE, &fields("acme/web")).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert!(location(&added).starts_with(&format!("{PAGE}?notice=publisher_created#publisher-")));
    let listed = publishers(&s.app, &s.admin).await;
    assert_eq!(listed.len(), 2);
    let new = &listed[1];
    assert_eq!(new["issuer"], github_issuer);
    assert_eq!(new["claims"], json!({"repository": "acme/web", "ref": "refs/heads/main"}));
    assert_eq!((new["permissions"].clone(), new["token_minutes"].clone()), (json!(["runs:write"]), json!(10)));
    let events = audit_events(&s.app, &s.admin, "&action=trusted_publisher.created").await;
    assert_eq!(events[0]["actor"]["name"], "Ada Admin", "audited as the person");

    let id = new["id"].as_str().unwrap();
    let removed = s.app.submit(&session, PAGE, &format!("{PAGE}/{id}/delete"), &[]).await;
    assert_eq!(location(&removed), format!("{PAGE}?notice=publisher_deleted"));
    assert_eq!(publishers(&s.app, &s.admin).await.len(), 1);
    let again = s.app.submit(&session, PAGE, &format!("{PAGE}/{id}/delete"), &[]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_lists_each_exchange_and_the_settings_page_revokes_its_token() {
    let s = setup().await;
    let (session, _) = s.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(page(&s.app, &session, PAGE).await.contains("None yet."));

    // A GitLab-shaped ID token: the run link is the pipeline on the issuer.
    let mut claims = s.issuer.claims(AUDIENCE, now());
    let map = claims.as_object_mut().unwrap();
    map.remove("repository");
    map.remove("run_id");
    map.insert("project_path".into(), json!("acme/web"));
    map.insert("pipeline_id".into(), json!("77"));
    map.insert("sha".into(), json!("0123456789abcdef0123456789abcdef01234567"));
    let body = exchange(&s.app, "web", &s.issuer.key.sign(&claims)).await.expect(StatusCode::CREATED);
    let token = body["token"].as_str().unwrap().to_string();

    let listed = page(&s.app, &session, PAGE).await;
    assert!(listed.contains("<td>acme/web</td>") && listed.contains("<code>refs/heads/main</code>"), "{listed}");
    assert!(listed.contains("title=\"0123456789abcdef0123456789abcdef01234567\">0123456789ab</code>"));
    assert!(listed.contains(&format!("href=\"{}/acme/web/-/pipelines/77\"", s.issuer.url)), "{listed}");

    let settings = page(&s.app, &session, "/projects/web/settings").await;
    assert!(settings.contains("1 trusted publisher.") && settings.contains("OIDC acme/web refs/heads/main"));
    assert!(!settings.contains(&token), "never the secret");
    let me = get(&s.app, "/api/v1/whoami", &token).await.expect(StatusCode::OK);
    let id = me["token"]["id"].as_str().unwrap();
    let action = format!("/projects/web/ci-tokens/{id}/revoke");
    assert!(settings.contains(&action));
    let revoked = s.app.submit(&session, "/projects/web/settings", &action, &[]).await;
    assert_eq!(location(&revoked), "/projects/web/settings?notice=ci_token_revoked#trusted-publishers");
    get(&s.app, "/api/v1/whoami", &token).await.expect_code(StatusCode::UNAUTHORIZED, "token_revoked");
    let settings = page(&s.app, &session, "/projects/web/settings").await;
    assert!(settings.contains("No live tokens") && !settings.contains(&action));
    // A key's id is not a CI token's.
    let key = post(&s.app, "/api/v1/projects/web/keys", &s.admin, json!({"name": "ci", "permissions": ["runs:write"]}))
        .await
        .expect(StatusCode::CREATED);
    let key_id = key["id"].as_str().unwrap();
    let wrong = s
        .app
        .submit(&session, "/projects/web/settings", &format!("/projects/web/ci-tokens/{key_id}/revoke"), &[])
        .await;
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_project_managers_see_or_change_trusted_publishers() {
    let s = setup().await;
    let (admin, _) = s.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let viewer = s.app.user_session(&admin, "vera@example.com", "viewer").await;
    assert_eq!(s.app.get(&viewer, PAGE).await.status(), StatusCode::FORBIDDEN);
    let id = publishers(&s.app, &s.admin).await[0]["id"].as_str().unwrap().to_string();
    let csrf_page = "/projects/web/settings";
    let tried = s.app.submit(&viewer, csrf_page, &format!("{PAGE}/{id}/delete"), &[]).await;
    assert_eq!(tried.status(), StatusCode::FORBIDDEN);
    let added = s.app.submit(&viewer, csrf_page, PAGE, &[("issuer", "https://gitlab.com")]).await;
    assert_eq!(added.status(), StatusCode::FORBIDDEN);
    assert_eq!(publishers(&s.app, &s.admin).await.len(), 1);
    let settings = s.app.get(&viewer, csrf_page).await.text().await.unwrap();
    assert!(!settings.contains("Manage trusted publishers"), "not offered to a viewer");
    // Without the CSRF field nothing changes.
    let forged = admin.post(s.app.url(&format!("{PAGE}/{id}/delete"))).form(&[("x", "y")]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(publishers(&s.app, &s.admin).await.len(), 1);
}
