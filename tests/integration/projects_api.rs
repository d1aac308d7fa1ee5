//! Projects over the API (API.md section 10): create, read, update and
//! delete, audited like the UI's; every bad input a 400 naming the field;
//! `projects:manage` to change them, and a token restricted to some
//! projects can neither create one nor reach one it does not list.

use reqwest::StatusCode;
use serde_json::json;

use crate::api_helpers::*;
use crate::helpers::*;
use crate::results_api::Reader;

const PROJECTS: &str = "/api/v1/projects";

#[tokio::test]
async fn a_project_is_created_read_updated_and_deleted_over_the_api() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let made = post(&app, PROJECTS, &admin, json!({"slug": "web", "name": "Web"})).await.expect(StatusCode::CREATED);
    assert_eq!(made["slug"], "web");
    assert_eq!((made["default_branch"].as_str(), made["flaky_flip_threshold"].as_i64()), (Some("main"), Some(4)));
    unix(made["created_at"].as_str().unwrap());
    let read = get(&app, "/api/v1/projects/web", &admin).await.expect(StatusCode::OK);
    assert_eq!(read, made);
    let other = json!({"slug": "api", "name": "API", "default_branch": "trunk"});
    assert_eq!(post(&app, PROJECTS, &admin, other).await.expect(StatusCode::CREATED)["default_branch"], "trunk");

    let changed = patch(&app, "/api/v1/projects/web", &admin, json!({"name": "Web app", "flaky_flip_threshold": 6}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["name"], "Web app");
    assert_eq!((changed["default_branch"].as_str(), changed["flaky_flip_threshold"].as_i64()), (Some("main"), Some(6)));
    let renamed = audit_events(&app, &admin, "&action=project.updated").await;
    assert_eq!(renamed[0]["details"]["flaky_flip_threshold"], 6);
    assert_eq!(audit_events(&app, &admin, "&action=project.created").await.len(), 2);

    // Deleting takes its runs with it; the slug is free again.
    let r = Reader { app, token: admin.clone() };
    r.run_of("web", "branch=main", &[("a", "passed", 1)]).await;
    delete(&r.app, "/api/v1/projects/web", &admin).await.expect(StatusCode::NO_CONTENT);
    get(&r.app, "/api/v1/projects/web", &admin).await.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    get(&r.app, "/api/v1/projects/web/runs", &admin).await.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    assert_eq!(audit_events(&r.app, &admin, "&action=project.deleted").await[0]["target"]["id"], "web");
    post(&r.app, PROJECTS, &admin, json!({"slug": "web", "name": "Web"})).await.expect(StatusCode::CREATED);
    let runs = get(&r.app, "/api/v1/projects/web/runs", &admin).await.expect(StatusCode::OK);
    assert_eq!(runs["runs"], json!([]), "a new project, not the old one's runs");
}

#[tokio::test]
async fn every_bad_project_field_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    post(&app, PROJECTS, &admin, json!({"slug": "web", "name": "Web"})).await.expect(StatusCode::CREATED);
    let taken = post(&app, PROJECTS, &admin, json!({"slug": "web", "name": "Other"})).await;
    assert!(taken.expect_code(StatusCode::CONFLICT, "slug_taken").contains("\"web\""));
    for (body, says) in [
        (json!({"slug": "Web!", "name": "Web"}), "not a valid slug"),
        (json!({"slug": "ok", "name": " "}), "Name must not be empty"),
        (json!({"slug": "ok", "name": "x".repeat(101)}), "Name must be at most 100 characters"),
        (json!({"slug": "ok", "name": "Ok", "default_branch": " "}), "Branch must be 1-255 characters"),
    ] {
        let refused = post(&app, PROJECTS, &admin, body.clone()).await;
        let message = refused.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(message.contains(says), "{body}: {message}");
    }
    for (body, says) in [
        (json!({"slug": "ok", "name": "Ok", "owner": "me"}), "unknown field `owner`"),
        (json!({"name": "Web"}), "missing field `slug`"),
        (json!({"slug": "ok"}), "missing field `name`"),
    ] {
        let refused = post(&app, PROJECTS, &admin, body.clone()).await;
        assert!(refused.expect_code(StatusCode::BAD_REQUEST, "invalid_json").contains(says), "{body}");
    }
    for (body, says) in [
        (json!({"flaky_flip_threshold": 1}), "flaky_flip_threshold must be a whole number between 2 and 50"),
        (json!({"flaky_flip_threshold": 51}), "flaky_flip_threshold must be a whole number between 2 and 50"),
        (json!({"name": ""}), "Name must not be empty"),
        (json!({"default_branch": ""}), "Branch must be 1-255 characters"),
    ] {
        let refused = patch(&app, "/api/v1/projects/web", &admin, body.clone()).await;
        let message = refused.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(message.contains(says), "{body}: {message}");
    }
    patch(&app, "/api/v1/projects/web", &admin, json!({"flaky_flip_threshold": "four"}))
        .await
        .expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    let kept = get(&app, "/api/v1/projects/web", &admin).await.expect(StatusCode::OK);
    assert_eq!((kept["name"].as_str(), kept["flaky_flip_threshold"].as_i64()), (Some("Web"), Some(4)), "nothing saved");
    assert_eq!(audit_events(&app, &admin, "&action=project.created").await.len(), 1);
}

#[tokio::test]
async fn changing_projects_needs_projects_manage_and_all_projects() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    for slug in ["web", "api"] {
        post(&app, PROJECTS, &admin, json!({"slug": slug, "name": slug})).await.expect(StatusCode::CREATED);
    }
    let reader = cli_token(&app, ADMIN_EMAIL, "reader", "projects:read", &[]);
    post(&app, PROJECTS, &reader, json!({"slug": "new", "name": "New"})).await.expect_403("projects:manage");
    patch(&app, "/api/v1/projects/web", &reader, json!({"name": "X"})).await.expect_403("projects:manage");
    delete(&app, "/api/v1/projects/web", &reader).await.expect_403("projects:manage");
    get(&app, "/api/v1/projects/web", &reader).await.expect(StatusCode::OK);

    // Restricted to `web`: manages it, cannot see `api`, cannot create.
    let web_only = cli_token(&app, ADMIN_EMAIL, "web only", "projects:read,projects:manage", &["--projects", "web"]);
    let refused = post(&app, PROJECTS, &web_only, json!({"slug": "new", "name": "New"})).await;
    assert!(refused.expect_code(StatusCode::FORBIDDEN, "missing_permission").contains("restricted to some projects"));
    for resp in [
        get(&app, "/api/v1/projects/api", &web_only).await,
        patch(&app, "/api/v1/projects/api", &web_only, json!({"name": "X"})).await,
        delete(&app, "/api/v1/projects/api", &web_only).await,
    ] {
        resp.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    }
    patch(&app, "/api/v1/projects/web", &web_only, json!({"name": "Web"})).await.expect(StatusCode::OK);
    let key = cli_key(&app, "web", "projects:read,runs:write");
    delete(&app, "/api/v1/projects/web", &key).await.expect_403("projects:manage");

    // Deleted, `web` leaves the restricted token with no project at all, and
    // a new `web` is another project it cannot reach.
    delete(&app, "/api/v1/projects/web", &admin).await.expect(StatusCode::NO_CONTENT);
    post(&app, PROJECTS, &admin, json!({"slug": "web", "name": "Web"})).await.expect(StatusCode::CREATED);
    get(&app, "/api/v1/projects/web", &web_only).await.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    let listed = get(&app, PROJECTS, &web_only).await.expect(StatusCode::OK);
    assert_eq!(listed["projects"], json!([]), "not promoted to all projects");
}
