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

/// The flaky threshold (API.md section 9) is a project setting: shown on
/// the settings page, saved by its form, in the project object, 2–50.
#[tokio::test]
async fn the_flaky_flip_threshold_is_set_on_project_settings() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let token = crate::api_helpers::cli_token(&app, ADMIN_EMAIL, "read", "projects:read", &[]);
    app.submit(&admin, "/projects", "/projects", &[("name", "Web"), ("slug", "web")]).await;
    let threshold = || async {
        let listed = crate::api_helpers::get(&app, "/api/v1/projects", &token).await.expect(StatusCode::OK);
        listed["projects"][0]["flaky_flip_threshold"].as_i64()
    };
    assert_eq!(threshold().await, Some(4), "4 by default");
    let page = app.get(&admin, "/projects/web/settings").await.text().await.unwrap();
    assert!(page.contains("name=\"flaky_flip_threshold\" value=\"4\""), "{page}");

    let form = |n: &'static str| [("name", "Web"), ("default_branch", "main"), ("flaky_flip_threshold", n)];
    let saved = app.submit(&admin, "/projects/web/settings", "/projects/web/settings", &form("6")).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(threshold().await, Some(6));
    for bad in ["1", "51", "four", ""] {
        let refused = app.submit(&admin, "/projects/web/settings", "/projects/web/settings", &form(bad)).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(refused.text().await.unwrap().contains("flaky_flip_threshold must be a whole number between 2 and 50"));
    }
    assert_eq!(threshold().await, Some(6), "nothing saved by a refused form");
    let audit = app.audit_page(&admin, "?action=project.updated").await;
    assert!(audit.contains("flaky_flip_threshold"), "{audit}");
}

#[tokio::test]
async fn the_project_list_shows_each_projects_newest_run() {
    let app = TestApp::spawn().await;
    let token = crate::api_helpers::admin_token(&app).await;
    let (admin, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    crate::api_helpers::create_project(&app, "web");
    crate::api_helpers::create_project(&app, "api");
    let page = app.get(&admin, "/projects").await.text().await.unwrap();
    assert_eq!(page.matches("no runs yet").count(), 2, "{page}");

    let report = |failing: bool| {
        let failure = if failing { r#"<failure message="boom"/>"# } else { "" };
        format!(
            r#"<testsuite name="s"><testcase classname="C" name="a">{failure}</testcase><testcase classname="C" name="b"/></testsuite>"#
        )
    };
    for (name, failing) in [("nightly", false), ("unit", true)] {
        let path = format!("/api/v1/projects/web/results?name={name}&branch=main");
        let request = crate::api_helpers::api(&app, reqwest::Method::POST, &path, &token)
            .header("content-type", "application/xml")
            .body(report(failing));
        crate::api_helpers::send(request).await.expect(StatusCode::CREATED);
    }
    let page = app.get(&admin, "/projects").await.text().await.unwrap();
    let web = page.split("/projects/web\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(web.contains("<span class=\"badge err\">failed</span>"), "{web}");
    assert!(web.contains(">unit</a>") && web.contains("2 tests") && web.contains("1 failed"), "the newest run: {web}");
    assert!(!web.contains("nightly"), "only the newest");
    assert_eq!(page.matches("no runs yet").count(), 1, "api has none");
}
