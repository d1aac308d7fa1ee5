//! Projects through the UI: create, show, rename, default branch, delete.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn projects_are_created_edited_and_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let created = app.submit(&admin, "/projects", "/projects", &[("name", "Web App"), ("slug", "web")]).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&created), "/projects/web?notice=project_created");
    let page = app.get(&admin, &location(&created)).await.text().await.unwrap();
    assert!(page.contains("Web App") && page.contains("Project created."));

    let taken = app.submit(&admin, "/projects", "/projects", &[("name", "Other"), ("slug", "web")]).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let bad = app.submit(&admin, "/projects", "/projects", &[("name", "Bad"), ("slug", "Not A Slug")]).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("not a valid slug"));

    let saved = app
        .submit(
            &admin,
            "/projects/web/settings",
            "/projects/web/settings",
            &[("name", "Web"), ("default_branch", "trunk")],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let page = app.get(&admin, "/projects/web").await.text().await.unwrap();
    assert!(page.contains("<code>trunk</code>"));

    let viewer = app.user_session(&admin, "vera@example.com", "viewer").await;
    assert_eq!(app.get(&viewer, "/projects/web").await.status(), StatusCode::OK);
    // Viewers may see the settings page (the keys list) but none of its forms.
    let settings = app.get(&viewer, "/projects/web/settings").await.text().await.unwrap();
    assert!(!settings.contains("/projects/web/delete") && !settings.contains("name=\"default_branch\""));
    let edit =
        app.submit(&viewer, "/projects", "/projects/web/settings", &[("name", "X"), ("default_branch", "x")]).await;
    assert_eq!(edit.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.submit(&viewer, "/projects", "/projects/web/delete", &[]).await.status(), StatusCode::FORBIDDEN);

    let deleted = app.submit(&admin, "/projects/web/settings", "/projects/web/delete", &[]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&admin, "/projects/web").await.status(), StatusCode::NOT_FOUND);
    let audit = app.audit_page(&admin, "?action=project.").await;
    for action in ["project.created", "project.updated", "project.deleted"] {
        assert!(audit.contains(action), "{action}");
    }
}
