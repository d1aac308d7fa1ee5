//! Nobody acts on an account holding more than they do: a lesser user admin
//! can neither deactivate, reactivate nor rename an admin, over the API or
//! the pages, for users and service accounts alike.

use reqwest::StatusCode;
use serde_json::json;

use crate::api_helpers::*;
use crate::helpers::*;

/// An admin token, and a token of a user whose role is `users:admin
/// projects:read tokens:create` (the probe's `uadmin`).
async fn admin_and_lesser_admin(app: &TestApp) -> (String, String) {
    let admin = admin_token(app).await;
    post(
        app,
        "/api/v1/roles",
        &admin,
        json!({"name": "uadmin", "permissions": ["users:admin", "projects:read", "tokens:create"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    api_user(app, &admin, "hr@example.com", "uadmin").await;
    let hr = cli_token(app, "hr@example.com", "hr", "users:admin,projects:read,tokens:create", &[]);
    (admin, hr)
}

async fn user_id(app: &TestApp, admin: &str, email: &str) -> String {
    let users = get(app, "/api/v1/users", admin).await.expect(StatusCode::OK);
    let user = users["users"].as_array().unwrap().iter().find(|u| u["email"] == email).expect("user listed");
    user["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_lesser_user_admin_cannot_deactivate_rename_or_reactivate_an_admin_over_the_api() {
    let app = TestApp::spawn().await;
    let (admin, hr) = admin_and_lesser_admin(&app).await;
    let admin_id = user_id(&app, &admin, ADMIN_EMAIL).await;
    let path = format!("/api/v1/users/{admin_id}");

    for change in [json!({"active": false}), json!({"name": "Not Ada"}), json!({"name": "Not Ada", "active": false})] {
        let message =
            patch(&app, &path, &hr, change.clone()).await.expect_code(StatusCode::FORBIDDEN, "missing_permission");
        assert!(message.contains("holds") && message.contains("your own role"), "{change}: {message}");
    }
    // Nothing changed: the admin is active, keeps its name and its token works.
    let me = whoami(&app, &admin).await.expect(StatusCode::OK);
    assert_eq!(me["user"]["name"], "Ada Admin", "{me}");
    let users = get(&app, "/api/v1/users", &admin).await.expect(StatusCode::OK);
    let ada = users["users"].as_array().unwrap().iter().find(|u| u["id"] == admin_id.as_str()).unwrap();
    assert_eq!(ada["active"], true);

    // A second admin deactivated by the real admin cannot be reactivated by hr either.
    let other = api_user(&app, &admin, "root2@example.com", "admin").await;
    patch(&app, &format!("/api/v1/users/{other}"), &admin, json!({"active": false})).await.expect(StatusCode::OK);
    patch(&app, &format!("/api/v1/users/{other}"), &hr, json!({"active": true}))
        .await
        .expect_code(StatusCode::FORBIDDEN, "missing_permission");

    // Within what hr holds it still works.
    post(&app, "/api/v1/roles", &admin, json!({"name": "reader", "permissions": ["projects:read"]}))
        .await
        .expect(StatusCode::CREATED);
    let reader = api_user(&app, &admin, "reader@example.com", "reader").await;
    let renamed = patch(&app, &format!("/api/v1/users/{reader}"), &hr, json!({"name": "Rea", "active": false}))
        .await
        .expect(StatusCode::OK);
    assert_eq!((renamed["name"].as_str(), renamed["active"].as_bool()), (Some("Rea"), Some(false)));
    let audit = audit_events(&app, &admin, "&action=user.deactivated").await;
    assert_eq!(audit.len(), 2, "the admin's and hr's permitted deactivations only: {audit:?}");
}

#[tokio::test]
async fn a_lesser_user_admin_cannot_touch_a_service_account_holding_more() {
    let app = TestApp::spawn().await;
    let (admin, hr) = admin_and_lesser_admin(&app).await;
    let sa = post(&app, "/api/v1/service-accounts", &admin, json!({"name": "deployer", "role": "admin"}))
        .await
        .expect(StatusCode::CREATED);
    let sa_token = cli_token(&app, "deployer", "deploy", "projects:read", &[]);
    let path = format!("/api/v1/service-accounts/{}", sa["id"].as_str().unwrap());
    for change in [json!({"active": false}), json!({"name": "renamed"})] {
        patch(&app, &path, &hr, change).await.expect_code(StatusCode::FORBIDDEN, "missing_permission");
    }
    whoami(&app, &sa_token).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn a_lesser_user_admin_cannot_deactivate_an_admin_over_the_pages() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.submit(
        &admin,
        "/settings/admin/roles",
        "/settings/admin/roles",
        &[
            ("name", "uadmin"),
            ("permission", "users:admin"),
            ("permission", "projects:read"),
            ("permission", "tokens:create"),
        ],
    )
    .await;
    let hr = app.user_session(&admin, "hr@example.com", "uadmin").await;
    let admin_id = app.account_id(&admin, "/settings/admin/users", ADMIN_EMAIL).await;
    let response = app
        .submit(&hr, "/settings/admin/users", &format!("/settings/admin/users/{admin_id}"), &[("active", "false")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = response.text().await.unwrap();
    assert!(page.contains("which your own role does not include"), "{page}");
    // The admin's session still works.
    assert_eq!(app.get(&admin, "/settings/admin/users").await.status(), StatusCode::OK);
}
