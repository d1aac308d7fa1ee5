//! Trusted publishers over the API (API.md section 11): added, listed and
//! deleted by `projects:manage`, audited, every bad field a 400 naming it,
//! and no publisher that would trust every repository of a known issuer.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const PUBLISHERS: &str = "/api/v1/projects/web/trusted-publishers";

async fn start() -> (TestApp, String) {
    let app = TestApp::spawn_with(SpawnOptions {
        args: vec!["--public-url".into(), "https://proctor.example.com/".into()],
        ..Default::default()
    })
    .await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    (app, admin)
}

fn github(claims: Value) -> Value {
    json!({"issuer": GITHUB, "claims": claims})
}

#[tokio::test]
async fn a_publisher_is_added_listed_and_deleted_with_an_audit_trail() {
    let (app, admin) = start().await;
    let body = json!({
        "issuer": "https://token.actions.githubusercontent.com/",
        "claims": {"repository": "acme/web", "ref": "refs/heads/main"},
        "permissions": ["runs:write", "artifacts:write"],
        "token_minutes": 30,
    });
    let created = post(&app, PUBLISHERS, &admin, body).await.expect(StatusCode::CREATED);
    assert_eq!(created["issuer"], GITHUB, "kept without the trailing slash, as `iss` names it");
    assert_eq!(created["audience"], "https://proctor.example.com", "the public URL by default");
    assert_eq!(created["claims"], json!({"ref": "refs/heads/main", "repository": "acme/web"}));
    assert_eq!(created["permissions"], json!(["runs:write", "artifacts:write"]));
    assert_eq!(created["token_minutes"], 30);
    assert_eq!(created["created_by"]["type"], "token");
    let id = created["id"].as_str().unwrap();

    let defaults = post(&app, PUBLISHERS, &admin, github(json!({"repository": "acme/api"}))).await;
    let defaults = defaults.expect(StatusCode::CREATED);
    assert_eq!(
        (defaults["permissions"].clone(), defaults["token_minutes"].clone()),
        (json!(["runs:read", "runs:write"]), json!(15))
    );

    let listed = get(&app, &format!("{PUBLISHERS}?limit=1"), &admin).await.expect(StatusCode::OK);
    assert_eq!(listed["trusted_publishers"][0]["id"], id, "oldest first");
    let cursor = listed["next_cursor"].as_str().expect("a second page");
    let rest = get(&app, &format!("{PUBLISHERS}?limit=1&cursor={cursor}"), &admin).await.expect(StatusCode::OK);
    assert_eq!(rest["trusted_publishers"][0]["id"], defaults["id"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    delete(&app, &format!("{PUBLISHERS}/{id}"), &admin).await.expect(StatusCode::NO_CONTENT);
    delete(&app, &format!("{PUBLISHERS}/{id}"), &admin).await.expect_code(StatusCode::NOT_FOUND, "not_found");
    let left = get(&app, PUBLISHERS, &admin).await.expect(StatusCode::OK);
    assert_eq!(left["trusted_publishers"].as_array().unwrap().len(), 1);

    let created_events = audit_events(&app, &admin, "&action=trusted_publisher.created").await;
    assert_eq!(created_events.len(), 2);
    assert_eq!(created_events[1]["target"]["name"], GITHUB);
    assert_eq!(created_events[1]["details"]["claims"]["repository"], "acme/web");
    let deleted = audit_events(&app, &admin, "&action=trusted_publisher.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["target"]["id"], id);
}

#[tokio::test]
async fn every_bad_field_is_a_400_naming_it_and_nothing_is_saved() {
    let (app, admin) = start().await;
    for (body, says) in [
        (github(json!({"ref": "refs/heads/main"})), "needs a rule on the claim repository"),
        (github(json!({"repository": "*"})), "would match every repository"),
        (json!({"issuer": "https://gitlab.com", "claims": {"repository": "acme/web"}}), "claim project_path"),
        (json!({"issuer": "https://ci.example.com", "claims": {"sub": "*"}}), "must name something"),
        (json!({"issuer": "http://gitlab.example.com", "claims": {"project_path": "a/b"}}), "https:// URL"),
        (json!({"issuer": "https://u:p@ci.example.com", "claims": {"sub": "x"}}), "credentials"),
        (github(json!({})), "at least one claim"),
        (github(json!({"repository": "acme/web", "bad name": "x"})), "claim name"),
        (
            json!({"issuer": GITHUB, "claims": {"repository": "a/b"}, "permissions": ["projects:manage"]}),
            "cannot hold projects:manage",
        ),
        (json!({"issuer": GITHUB, "claims": {"repository": "a/b"}, "permissions": []}), "at least one of"),
        (json!({"issuer": GITHUB, "claims": {"repository": "a/b"}, "token_minutes": 61}), "between 5 and 60"),
        (json!({"issuer": GITHUB, "claims": {"repository": "a/b"}, "token_minutes": 4}), "between 5 and 60"),
        (json!({"issuer": GITHUB, "claims": {"repository": "a/b"}, "audience": " "}), "audience must be"),
    ] {
        let refused = post(&app, PUBLISHERS, &admin, body.clone()).await;
        let message = refused.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(message.contains(says), "{body}: {message}");
    }
    let unknown = json!({"issuer": GITHUB, "claims": {"repository": "a/b"}, "permissions": ["runs:fly"]});
    post(&app, PUBLISHERS, &admin, unknown).await.expect_code(StatusCode::UNPROCESSABLE_ENTITY, "invalid_permission");
    let extra = json!({"issuer": GITHUB, "claims": {"repository": "a/b"}, "subject": "x"});
    post(&app, PUBLISHERS, &admin, extra).await.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    let listed = get(&app, PUBLISHERS, &admin).await.expect(StatusCode::OK);
    assert_eq!(listed["trusted_publishers"], json!([]), "nothing saved");
}

#[tokio::test]
async fn without_a_public_url_the_audience_must_be_given() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    let refused = post(&app, PUBLISHERS, &admin, github(json!({"repository": "acme/web"}))).await;
    assert!(refused.expect_code(StatusCode::BAD_REQUEST, "invalid_request").contains("audience is required"));
    let body = json!({"issuer": GITHUB, "claims": {"repository": "acme/web"}, "audience": "proctor"});
    assert_eq!(post(&app, PUBLISHERS, &admin, body).await.expect(StatusCode::CREATED)["audience"], "proctor");
}

#[tokio::test]
async fn publishers_need_projects_manage_and_go_with_their_project() {
    let (app, admin) = start().await;
    create_project(&app, "other");
    let created = post(&app, PUBLISHERS, &admin, github(json!({"repository": "acme/web"}))).await;
    let id = created.expect(StatusCode::CREATED)["id"].as_str().unwrap().to_string();

    let reader = cli_token(&app, ADMIN_EMAIL, "reader", "projects:read,runs:read", &[]);
    get(&app, PUBLISHERS, &reader).await.expect_403("projects:manage");
    post(&app, PUBLISHERS, &reader, github(json!({"repository": "acme/web"}))).await.expect_403("projects:manage");
    delete(&app, &format!("{PUBLISHERS}/{id}"), &reader).await.expect_403("projects:manage");
    // A token restricted to another project does not learn this one exists.
    let elsewhere = cli_token(&app, ADMIN_EMAIL, "elsewhere", "projects:manage", &["--projects", "other"]);
    get(&app, PUBLISHERS, &elsewhere).await.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    // Nor is a publisher reachable through another project's path.
    delete(&app, &format!("/api/v1/projects/other/trusted-publishers/{id}"), &admin)
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");

    delete(&app, "/api/v1/projects/web", &admin).await.expect(StatusCode::NO_CONTENT);
    create_project(&app, "web");
    let listed = get(&app, PUBLISHERS, &admin).await.expect(StatusCode::OK);
    assert_eq!(listed["trusted_publishers"], json!([]), "a new project of the same slug trusts no one");
}
