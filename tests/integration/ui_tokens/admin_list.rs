//! The admin list of everyone's tokens: filtered by owner, kind, project and
//! status, and revoking someone else's token.

use reqwest::StatusCode;

use super::{body, create_project, generate_ok, ids_in, preview_of, whoami};
use crate::helpers::*;

#[tokio::test]
async fn admins_see_filter_and_revoke_everyones_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    create_project(&app, &admin, "web").await;
    let member = app.user_session(&admin, "max@example.com", "member").await;
    let mine = generate_ok(&app, &admin, &[("name", "admin-token"), ("permission", "runs:read")]).await;
    let theirs = generate_ok(&app, &member, &[("name", "member-token"), ("permission", "runs:write")]).await;
    let key = app
        .submit(
            &admin,
            "/projects/web/settings",
            "/projects/web/keys",
            &[("name", "web-ci"), ("permission", "runs:write")],
        )
        .await;
    assert_eq!(key.status(), StatusCode::OK);

    assert_eq!(app.get(&member, "/settings/admin/tokens").await.status(), StatusCode::FORBIDDEN);
    let all = body(&app, &admin, "/settings/admin/tokens").await;
    for needle in ["admin-token", "member-token", "web-ci", "project web", "max", &preview_of(&theirs)] {
        assert!(all.contains(needle), "{needle}");
    }
    assert!(!all.contains(&theirs) && !all.contains(&mine));
    let nav = body(&app, &admin, "/settings/tokens").await;
    assert!(nav.contains("href=\"/settings/admin/tokens\"") && nav.contains("href=\"/settings/admin/policy\""));

    let by_email = body(&app, &admin, "/settings/admin/tokens?owner=max%40example.com").await;
    assert!(by_email.contains("member-token") && !by_email.contains("admin-token") && !by_email.contains("web-ci"));
    let keys = body(&app, &admin, "/settings/admin/tokens?kind=key").await;
    assert!(keys.contains("web-ci") && !keys.contains("member-token"));
    let in_web = body(&app, &admin, "/settings/admin/tokens?project=web").await;
    assert!(in_web.contains("web-ci") && !in_web.contains("admin-token"));
    let nobody = body(&app, &admin, "/settings/admin/tokens?owner=nobody%40example.com").await;
    assert!(nobody.contains("Nothing matches these filters"));

    let id = ids_in(&by_email, "/settings/admin/tokens/", "/revoke").pop().unwrap();
    let revoked =
        app.submit(&admin, "/settings/admin/tokens", &format!("/settings/admin/tokens/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami(&app, "authorization", &theirs).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&app, "authorization", &mine).await, StatusCode::OK);
    let revoked_list = body(&app, &admin, "/settings/admin/tokens?status=revoked").await;
    assert!(revoked_list.contains("member-token") && !revoked_list.contains("admin-token"));
    // A member cannot revoke someone else's token through their own page either.
    let admin_list = body(&app, &admin, "/settings/tokens").await;
    let admin_id = ids_in(&admin_list, "/settings/tokens/", "/revoke").pop().unwrap();
    let refused = app.submit(&member, "/settings/tokens", &format!("/settings/tokens/{admin_id}/revoke"), &[]).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(whoami(&app, "authorization", &mine).await, StatusCode::OK);
}
