//! People, roles and permissions through the admin pages; the audit log.

use reqwest::StatusCode;

use crate::api_helpers::{cli_token, list_all, ALL_PERMISSIONS};
use crate::helpers::*;

const ADMIN_PAGES: &[&str] =
    &["/settings/admin/users", "/settings/admin/service-accounts", "/settings/admin/roles", "/settings/admin/audit"];

/// Every state-changing admin form, with fields that would otherwise succeed.
fn admin_posts(user_id: &str) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "/settings/admin/users".into(),
            vec![("email", "x@example.com"), ("name", "X"), ("role", "admin"), ("password", PASSWORD)],
        ),
        (format!("/settings/admin/users/{user_id}"), vec![("role", "admin")]),
        (format!("/settings/admin/users/{user_id}/password"), vec![("password", "another passphrase")]),
        ("/settings/admin/service-accounts".into(), vec![("name", "ci"), ("role", "member")]),
        ("/settings/admin/roles".into(), vec![("name", "sneaky"), ("permission", "users:admin")]),
        ("/projects".into(), vec![("name", "P"), ("slug", "p")]),
    ]
}

#[tokio::test]
async fn a_viewer_gets_403_on_every_admin_page_and_form() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let viewer = app.user_session(&admin, "vera@example.com", "viewer").await;
    let vera = app.account_id(&admin, "/settings/admin/users", "vera@example.com").await;
    for page in ADMIN_PAGES {
        assert_eq!(app.get(&viewer, page).await.status(), StatusCode::FORBIDDEN, "{page}");
    }
    let projects = app.get(&viewer, "/projects").await;
    assert_eq!(projects.status(), StatusCode::OK);
    let body = projects.text().await.unwrap();
    assert!(!body.contains("/settings/admin/users"), "navigation hides what the viewer may not use");
    assert!(!body.contains("New project"));
    for (path, fields) in admin_posts(&vera) {
        let response = app.submit(&viewer, "/projects", &path, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let users =
        list_all(&app, &cli_token(&app, ADMIN_EMAIL, "check", ALL_PERMISSIONS, &[]), "/api/v1/users", "users").await;
    assert_eq!(users.len(), 2, "nothing was created: {users:?}");
    assert_eq!(users.iter().filter(|u| u["role"] == "admin").count(), 1, "no self-promotion");
    // Without a session every page redirects to the login.
    let anonymous = app.browser();
    for page in ADMIN_PAGES.iter().chain(&["/projects"]) {
        assert_eq!(location(&app.get(&anonymous, page).await), "/login", "{page}");
    }
}

#[tokio::test]
async fn every_admin_form_refuses_a_bad_csrf_token() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "mia@example.com", "member").await;
    let mia = app.account_id(&admin, "/settings/admin/users", "mia@example.com").await;
    let mut posts = admin_posts(&mia);
    posts.push((format!("/settings/admin/users/{mia}"), vec![("active", "false")]));
    for (path, fields) in posts {
        let mut form = vec![("csrf_token", "forged-token")];
        form.extend(fields);
        let response = admin.post(app.url(&path)).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let token = cli_token(&app, ADMIN_EMAIL, "check", ALL_PERMISSIONS, &[]);
    let users = list_all(&app, &token, "/api/v1/users", "users").await;
    assert_eq!(users.len(), 2, "{users:?}");
    assert!(users.iter().all(|u| u["active"] == true), "nobody was deactivated: {users:?}");
    let roles = list_all(&app, &token, "/api/v1/roles", "roles").await;
    assert!(roles.iter().all(|r| r["builtin"] == true), "no role was created: {roles:?}");
    assert_eq!(list_all(&app, &token, "/api/v1/projects", "projects").await.len(), 0);
}

#[tokio::test]
async fn custom_roles_apply_from_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let created = app
        .submit(
            &admin,
            "/settings/admin/roles",
            "/settings/admin/roles",
            &[("name", "auditors"), ("permission", "projects:read"), ("permission", "audit:read")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let auditor = app.user_session(&admin, "otto@example.com", "auditors").await;
    assert_eq!(app.get(&auditor, "/settings/admin/audit").await.status(), StatusCode::OK);
    assert_eq!(app.get(&auditor, "/settings/admin/users").await.status(), StatusCode::FORBIDDEN);

    let updated = app
        .submit(
            &admin,
            "/settings/admin/roles/auditors",
            "/settings/admin/roles/auditors",
            &[("permission", "projects:read")],
        )
        .await;
    assert_eq!(updated.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&auditor, "/settings/admin/audit").await.status(), StatusCode::FORBIDDEN, "applied at once");

    // A role in use cannot be deleted; built-in roles cannot be edited.
    let delete = app.submit(&admin, "/settings/admin/roles", "/settings/admin/roles/auditors/delete", &[]).await;
    assert_eq!(delete.status(), StatusCode::CONFLICT);
    assert_eq!(app.get(&admin, "/settings/admin/roles/admin").await.status(), StatusCode::CONFLICT);
    let unknown = app
        .submit(
            &admin,
            "/settings/admin/roles",
            "/settings/admin/roles",
            &[("name", "x"), ("permission", "runs:delete")],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    let audit = app.audit_page(&admin, "").await;
    for action in ["role.created", "role.updated", "user.created", "login.succeeded"] {
        assert!(audit.contains(action), "{action} missing from the audit log");
    }
}

#[tokio::test]
async fn nobody_grants_more_than_they_hold() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.submit(
        &admin,
        "/settings/admin/roles",
        "/settings/admin/roles",
        &[("name", "people"), ("permission", "users:admin"), ("permission", "projects:read")],
    )
    .await;
    let hr = app.user_session(&admin, "hr@example.com", "people").await;
    let hr_id = app.account_id(&admin, "/settings/admin/users", "hr@example.com").await;
    let admin_id = app.account_id(&admin, "/settings/admin/users", ADMIN_EMAIL).await;
    // Cannot promote themselves or create an admin.
    let promote =
        app.submit(&hr, "/settings/admin/users", &format!("/settings/admin/users/{hr_id}"), &[("role", "admin")]).await;
    assert_eq!(promote.status(), StatusCode::FORBIDDEN);
    let create = app
        .submit(
            &hr,
            "/settings/admin/users",
            "/settings/admin/users",
            &[("email", "new@example.com"), ("name", "N"), ("role", "admin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    // Cannot make a role with more than they hold, nor take over the admin.
    let role = app
        .submit(&hr, "/settings/admin/roles", "/settings/admin/roles", &[("name", "x"), ("permission", "tokens:admin")])
        .await;
    assert_eq!(role.status(), StatusCode::FORBIDDEN);
    let reset = app
        .submit(
            &hr,
            "/settings/admin/users",
            &format!("/settings/admin/users/{admin_id}/password"),
            &[("password", "taken over!!")],
        )
        .await;
    assert_eq!(reset.status(), StatusCode::FORBIDDEN);
    let (_, status) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "admin password unchanged");
    // Within their own permissions it works.
    let ok = app
        .submit(
            &hr,
            "/settings/admin/users",
            "/settings/admin/users",
            &[("email", "v@example.com"), ("name", "V"), ("role", "viewer"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::FORBIDDEN, "viewer holds tokens:create and runs:read, which hr lacks");
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let admin_id = app.account_id(&admin, "/settings/admin/users", ADMIN_EMAIL).await;
    let demote = app
        .submit(&admin, "/settings/admin/users", &format!("/settings/admin/users/{admin_id}"), &[("role", "member")])
        .await;
    assert_eq!(demote.status(), StatusCode::CONFLICT);
    assert!(demote.text().await.unwrap().contains("last active user who can manage users"));
    let deactivate = app
        .submit(&admin, "/settings/admin/users", &format!("/settings/admin/users/{admin_id}"), &[("active", "false")])
        .await;
    assert_eq!(deactivate.status(), StatusCode::CONFLICT);
    // With a second admin, the first can step down.
    app.create_user(&admin, "second@example.com", "admin").await;
    let demote = app
        .submit(&admin, "/settings/admin/users", &format!("/settings/admin/users/{admin_id}"), &[("role", "member")])
        .await;
    assert_eq!(demote.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&admin, "/settings/admin/users").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn users_and_service_accounts_are_managed_and_audited() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.create_user(&admin, "mia@example.com", "member").await;
    let duplicate = app
        .submit(
            &admin,
            "/settings/admin/users",
            "/settings/admin/users",
            &[("email", "MIA@example.com"), ("name", "Mia"), ("role", "member"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    let bad_email = app
        .submit(
            &admin,
            "/settings/admin/users",
            "/settings/admin/users",
            &[("email", "not-an-email"), ("name", "N"), ("role", "member"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(bad_email.status(), StatusCode::BAD_REQUEST);
    let bad_role = app
        .submit(
            &admin,
            "/settings/admin/users",
            "/settings/admin/users",
            &[("email", "n@example.com"), ("name", "N"), ("role", "owner"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(bad_role.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let mia = app.account_id(&admin, "/settings/admin/users", "mia@example.com").await;
    let users = "/settings/admin/users";
    assert_eq!(
        app.submit(&admin, users, &format!("{users}/{mia}"), &[("role", "viewer")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.submit(&admin, users, &format!("{users}/{mia}"), &[("active", "false")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.submit(&admin, users, &format!("{users}/{mia}"), &[("active", "true")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let reset =
        app.submit(&admin, users, &format!("{users}/{mia}/password"), &[("password", "brand new passphrase")]).await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.login("mia@example.com", "brand new passphrase").await.1, StatusCode::SEE_OTHER);

    let sa = app
        .submit(
            &admin,
            "/settings/admin/service-accounts",
            "/settings/admin/service-accounts",
            &[("name", "ci-main"), ("role", "member")],
        )
        .await;
    assert_eq!(sa.status(), StatusCode::SEE_OTHER);
    let page = app.get(&admin, "/settings/admin/service-accounts").await.text().await.unwrap();
    assert!(page.contains("ci-main"));
    // A service account has no email and so no way to log in.
    let token = cli_token(&app, ADMIN_EMAIL, "check", ALL_PERMISSIONS, &[]);
    let accounts = list_all(&app, &token, "/api/v1/service-accounts", "service_accounts").await;
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert!(accounts[0]["name"] == "ci-main" && accounts[0].get("email").is_none_or(|e| e.is_null()), "{accounts:?}");

    let audit = app.audit_page(&admin, "").await;
    for action in [
        "user.created",
        "user.role_changed",
        "user.deactivated",
        "user.reactivated",
        "user.password_reset",
        "service_account.created",
    ] {
        assert!(audit.contains(action), "{action} missing");
    }
    let filtered = app.audit_page(&admin, "?action=user.role_changed").await;
    assert!(filtered.contains("user.role_changed") && !filtered.contains("<code>user.created</code>"));
    let by_actor = app.audit_page(&admin, "?actor=nobody-at-all").await;
    assert!(by_actor.contains("No events"));
}

#[tokio::test]
async fn the_audit_log_pages_newest_first() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    for i in 0..55 {
        let slug = format!("p{i}");
        let r = app.submit(&admin, "/projects", "/projects", &[("name", &slug), ("slug", &slug)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let first = app.audit_page(&admin, "?action=project.created").await;
    assert!(first.contains(">project p54<") || first.contains("project p54"));
    assert!(!first.contains("project p0<"), "oldest is on the second page");
    let next = first.split("href=\"/settings/admin/audit?").find(|s| s.contains("before=")).expect("older link");
    let query = next.split('"').next().unwrap().replace("&amp;", "&").replace("&#38;", "&");
    let second = app.audit_page(&admin, &format!("?{query}")).await;
    assert!(second.contains("project p0<"), "second page has the oldest");
    assert!(!second.contains("project p54<"));
}

/// A form naming something that is not there comes back with the sentence
/// above it, at 404, rather than the bare error page: an account a users
/// form acts on, a project ticked on the token form (both only by editing
/// the page, but the person still sees where they were).
#[tokio::test]
async fn forms_naming_a_missing_account_or_project_come_back_with_the_sentence() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let missing = "01a00000-0000-7000-8000-000000000000";
    let response = app
        .submit(&admin, "/settings/admin/users", &format!("/settings/admin/users/{missing}"), &[("active", "false")])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = response.text().await.unwrap();
    assert!(page.contains("No user with id") && page.contains(missing), "{page}");
    assert!(page.contains("/settings/admin/users"), "the users page, not the error page");

    let fields = [("name", "ci"), ("permission", "runs:read"), ("project_scope", "selected"), ("project", "nope")];
    let response = app.submit(&admin, "/settings/tokens/new", "/settings/tokens", &fields).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = response.text().await.unwrap();
    assert!(page.contains("Project not found.") && page.contains("New personal access token"), "{page}");
}
