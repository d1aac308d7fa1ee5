//! Changes made outside the server process: tokens, revocations and roles
//! changed by another process (the offline CLI, or a second server on the
//! same data directory) apply at the next request, and the command line's
//! `token create` / `key create` print only the secret.

use reqwest::StatusCode;
use serde_json::json;

use crate::api_helpers::*;
use crate::helpers::*;

// ---------------------------------------------------------------------------
// Offline changes

#[tokio::test]
async fn offline_tokens_and_offline_revocations_take_effect_at_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    whoami(&app, &admin).await.expect(StatusCode::OK);
    // Made by another process while the server runs: accepted at once.
    let offline = cli_token(&app, ADMIN_EMAIL, "offline", "projects:read", &[]);
    let id = token_id(&app, &offline).await;
    for _ in 0..3 {
        whoami(&app, &offline).await.expect(StatusCode::OK);
    }
    // Revoked by another process: the CLI cannot revoke, so a second server
    // on the same data directory does, over its API. Refused here at once.
    let other = TestApp::spawn_with(SpawnOptions { data_dir: Some(app.data_dir.clone()), ..Default::default() }).await;
    delete(&other, &format!("/api/v1/tokens/{id}"), &admin).await.expect(StatusCode::NO_CONTENT);
    whoami(&app, &offline).await.expect_401("token_revoked", "API key revoked");
    whoami(&app, &admin).await.expect(StatusCode::OK);

    // A role changed by the other process applies at the next request.
    create_project(&app, "alpha");
    post(
        &app,
        "/api/v1/roles",
        &admin,
        json!({"name": "keeper", "permissions": ["projects:read", "projects:manage", "tokens:create"]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let kim = api_user(&app, &admin, "kim@example.com", "keeper").await;
    let token = cli_token(&app, "kim@example.com", "kim", "projects:read,projects:manage", &[]);
    for _ in 0..2 {
        get(&app, "/api/v1/projects/alpha/keys", &token).await.expect(StatusCode::OK);
    }
    let role = |role: &str| json!({"role": role});
    let permissions = |p: &[&str]| json!({"permissions": p});
    patch(&other, &format!("/api/v1/users/{kim}"), &admin, role("viewer")).await.expect(StatusCode::OK);
    get(&app, "/api/v1/projects/alpha/keys", &token).await.expect_403("projects:manage");
    patch(&other, "/api/v1/roles/keeper", &admin, permissions(&["projects:read"])).await.expect(StatusCode::OK);
    patch(&other, &format!("/api/v1/users/{kim}"), &admin, role("keeper")).await.expect(StatusCode::OK);
    get(&app, "/api/v1/projects/alpha/keys", &token).await.expect_403("projects:manage");
    let both = permissions(&["projects:read", "projects:manage"]);
    patch(&other, "/api/v1/roles/keeper", &admin, both).await.expect(StatusCode::OK);
    get(&app, "/api/v1/projects/alpha/keys", &token).await.expect(StatusCode::OK);
    // A key made offline works at once, too.
    let key = cli_key(&app, "alpha", "runs:read");
    whoami(&app, &key).await.expect(StatusCode::OK);
}

// ---------------------------------------------------------------------------
// The command line

#[tokio::test]
async fn cli_token_and_key_create_print_only_the_secret() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, "alpha");
    let out = app.cli(&[
        "token",
        "create",
        "--owner",
        ADMIN_EMAIL,
        "--name",
        "from-cli",
        "--permissions",
        "projects:read,runs:read",
        "--projects",
        "alpha",
        "--expires-in-days",
        "7",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let secret = stdout.strip_suffix('\n').expect("one line");
    assert!(is_token(secret) && secret.starts_with("prc_pat_"), "{stdout:?}");
    let body = whoami(&app, secret).await.expect(StatusCode::OK);
    assert_eq!(body["token"]["name"], "from-cli");
    assert_eq!(body["token"]["projects"], json!(["alpha"]));
    assert_eq!(body["token"]["permissions"], json!(["projects:read", "runs:read"]));
    assert!((unix(body["token"]["expires_at"].as_str().unwrap()) - (now_unix() + 7 * 86_400)).abs() < 60);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&secret[8..]), "the secret is printed once, on stdout");

    let out =
        app.cli(&["key", "create", "--project", "alpha", "--name", "ci-key", "--permissions", "runs:write,runs:read"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.strip_suffix('\n').expect("one line");
    assert!(is_token(key) && key.starts_with("prc_key_"), "{stdout:?}");
    let body = whoami(&app, key).await.expect(StatusCode::OK);
    assert_eq!(body["token"]["kind"], "key");
    assert_eq!(body["project"]["slug"], "alpha");

    for args in [
        vec!["token", "create", "--owner", ADMIN_EMAIL, "--name", "x", "--permissions", "runs:fly"],
        vec!["token", "create", "--owner", "nobody@example.com", "--name", "x", "--permissions", "runs:read"],
        vec![
            "token",
            "create",
            "--owner",
            ADMIN_EMAIL,
            "--name",
            "x",
            "--permissions",
            "runs:read",
            "--projects",
            "nowhere",
        ],
        vec!["token", "create", "--owner", ADMIN_EMAIL, "--name", "x", "--permissions", "runs:read", "--no-expiry"],
        vec!["key", "create", "--project", "alpha", "--name", "x", "--permissions", "runs:fly"],
        vec!["key", "create", "--project", "alpha", "--name", "x", "--permissions", "tokens:admin"],
        vec!["key", "create", "--project", "nowhere", "--name", "x", "--permissions", "runs:read"],
    ] {
        let out = app.cli(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", String::from_utf8_lossy(&out.stdout));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.trim().is_empty(), "{args:?}: a message on stderr");
    }
    let out = app.cli(&["token", "create", "--owner", ADMIN_EMAIL, "--name", "x", "--permissions", "runs:fly"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs:fly"));
}
