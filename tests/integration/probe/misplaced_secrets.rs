//! A secret put in the wrong place is never kept whole: not from a query
//! string in the request log, not as a token's name, not from the login
//! form's email field (even lower-cased), not from a user agent, run
//! metadata or a test's failure message.

use reqwest::StatusCode;
use serde_json::json;

use crate::api_helpers::*;
use crate::helpers::*;

/// The random part of a secret, which must appear nowhere, in any case.
fn body_of(secret: &str) -> String {
    secret[8..].to_lowercase()
}

/// Every byte the server keeps (database, WAL, log) and the API shows, lower-cased.
async fn everything_kept(app: &TestApp, admin: &str, extra_pages: &[&str]) -> String {
    let mut all = app.log();
    for page in extra_pages {
        all.push_str(&get(app, page, admin).await.text);
    }
    for event in audit_events(app, admin, "").await {
        all.push_str(&event.to_string());
    }
    for entry in std::fs::read_dir(&app.data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all.to_lowercase()
}

#[tokio::test]
async fn a_token_in_a_query_string_a_user_agent_or_a_name_is_not_kept() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let victim = cli_token(&app, ADMIN_EMAIL, "victim", "projects:read", &[]);

    // In a query string, on a route that answers and on one that does not,
    // and percent-encoded.
    let encoded = victim.replace('_', "%5F");
    for path in [
        format!("/api/v1/whoami?token={victim}"),
        format!("/api/v1/nowhere?access_token={victim}"),
        format!("/api/v1/whoami?t={encoded}"),
    ] {
        client().get(app.url(&path)).bearer_auth(&admin).send().await.unwrap();
    }
    // As a user agent of an audited change.
    let created = client()
        .post(app.url("/api/v1/service-accounts"))
        .bearer_auth(&admin)
        .header("user-agent", format!("curl/8 {victim}"))
        .json(&json!({"name": "bot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    // As a token's, a service account's or a project's name: refused, not quoted back.
    for (path, body) in [
        ("/api/v1/tokens", json!({"name": victim, "permissions": ["projects:read"]})),
        ("/api/v1/tokens", json!({"name": format!("ci {victim}"), "permissions": ["projects:read"]})),
        ("/api/v1/service-accounts", json!({"name": victim.to_lowercase()})),
    ] {
        let message = post(&app, path, &admin, body).await.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(message.contains("must not contain an access token"), "{message}");
    }
    let tokens = get(&app, "/api/v1/tokens?all=true", &admin).await.expect(StatusCode::OK);
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), 2, "only the admin's and the victim's: {tokens}");

    let kept = everything_kept(&app, &admin, &["/api/v1/tokens?all=true", "/api/v1/service-accounts"]).await;
    assert!(!kept.contains(&body_of(&victim)), "the secret was kept somewhere");
    assert!(!kept.contains(&body_of(&encoded)), "the encoded secret was kept somewhere");
    assert!(app.log().contains("/api/v1/whoami?token=prc_pat_[redacted]"), "{}", app.log());
}

#[tokio::test]
async fn a_token_typed_as_the_login_email_is_not_kept_even_lower_cased() {
    let app = TestApp::spawn().await;
    let admin_session = app.setup_admin().await;
    let admin = cli_token(&app, ADMIN_EMAIL, "admin", ALL_PERMISSIONS, &[]);
    drop(admin_session);
    let victim = cli_token(&app, ADMIN_EMAIL, "victim", "projects:read", &[]);
    let (_, status) = app.login(&victim, "whatever password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let browser = app.browser();
    let page = app
        .submit(&browser, "/login", "/login", &[("email", &victim), ("password", "whatever password")])
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.to_lowercase().contains(&body_of(&victim)), "the login page echoes the secret");

    let failed = audit_events(&app, &admin, "&action=login.failed").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0]["target"]["name"], "prc_pat_[redacted]", "{failed:?}");
    let kept = everything_kept(&app, &admin, &[]).await;
    assert!(!kept.contains(&body_of(&victim)), "the secret was kept somewhere");
}

#[tokio::test]
async fn a_token_in_run_metadata_or_a_failure_message_is_cut_out() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    let victim = cli_key(&app, "web", "runs:write,runs:read");
    let run = post(
        &app,
        "/api/v1/projects/web/runs",
        &victim,
        json!({"name": "ci", "branch": "main", "build_url": format!("https://ci.example/job?t={victim}"),
               "tags": {"env": format!("TOKEN={victim}")}}),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(run["build_url"], "https://ci.example/job?t=prc_key_[redacted]", "{run}");
    let id = run["id"].as_str().unwrap();
    let report = format!(
        r#"<testsuite name="s"><testcase classname="c" name="t"><failure message="env has PROCTOR_TOKEN={victim}">printenv
PROCTOR_TOKEN={victim}</failure></testcase></testsuite>"#
    );
    let uploaded = client()
        .post(app.url(&format!("/api/v1/projects/web/runs/{id}/reports")))
        .bearer_auth(&victim)
        .header("content-type", "application/xml")
        .body(report)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let tests = get(&app, &format!("/api/v1/projects/web/runs/{id}/tests"), &admin).await.expect(StatusCode::OK);
    let failure = &tests["tests"][0];
    assert_eq!(failure["message"], "env has PROCTOR_TOKEN=prc_key_[redacted]", "{tests}");
    let kept = everything_kept(&app, &admin, &[&format!("/api/v1/projects/web/runs/{id}")]).await;
    // The report's own bytes are not stored (only its hash), so nothing of the secret remains.
    assert!(!kept.contains(&body_of(&victim)), "the secret was kept somewhere");
}
