//! Operations: the offline CLI beside the running server, backups, TLS,
//! graceful shutdown, migrations refusing a newer database.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn offline_commands_are_seen_by_the_running_server() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let out = app.cli(&["admin", "create-user", "--email", "cli@example.com", "--name", "Cli", "--role", "viewer"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let password = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(password.len(), 20, "prints only the generated password");
    assert_eq!(app.login("cli@example.com", &password).await.1, StatusCode::SEE_OTHER);

    let out = app.cli_with_stdin(
        &["admin", "create-user", "--email", "p@example.com", "--name", "P", "--password-stdin"],
        "typed passphrase\n",
    );
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing printed when the password was given");
    assert_eq!(app.login("p@example.com", "typed passphrase").await.1, StatusCode::SEE_OTHER);

    let out = app.cli(&["project", "create", "--slug", "api", "--name", "API"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(app.get(&admin, "/projects").await.text().await.unwrap().contains("/projects/api"));

    let out = app.cli(&["admin", "create-service-account", "--name", "ci", "--role", "member"]);
    assert!(out.status.success());
    let bad = app.cli(&["admin", "create-user", "--email", "x@example.com", "--name", "X", "--role", "nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no role named"));
    let audit = app.audit_page(&admin, "?actor=proctor cli").await;
    assert!(audit.contains("project.created") && audit.contains("user.created"));
}

/// The server keeps SQLite's lock on the WAL index while it checks tokens
/// (which reads that index itself): an offline command that found the index
/// unowned would reset it, and the server died of SIGBUS on its next read.
#[tokio::test]
async fn offline_commands_between_token_checks_leave_the_server_whole() {
    let app = TestApp::spawn().await;
    let token = crate::api_helpers::admin_token(&app).await;
    let api = reqwest::Client::new();
    for n in 0..6 {
        let slug = format!("p{n}");
        crate::api_helpers::create_project(&app, &slug);
        let listed = api.get(app.url("/api/v1/projects")).bearer_auth(&token).send().await.expect("server alive");
        assert_eq!(listed.status(), StatusCode::OK);
        assert!(listed.text().await.unwrap().contains(&format!("\"{slug}\"")));
    }
}

#[tokio::test]
async fn backup_is_consistent_and_restorable_while_serving() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    app.submit(&admin, "/projects", "/projects", &[("name", "Web"), ("slug", "web")]).await;
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("proctor-backup.db");
    // Writes keep going while the backup runs.
    let writer = {
        let admin = admin.clone();
        let base = app.base.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                let slug = format!("during-{i}");
                let page = admin.get(format!("{base}/projects")).send().await.unwrap().text().await.unwrap();
                let csrf = extract_csrf(&page).unwrap();
                admin
                    .post(format!("{base}/projects"))
                    .form(&[("csrf_token", csrf.as_str()), ("name", &slug), ("slug", &slug)])
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    let out = app.cli(&["backup", "--to", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    writer.await.unwrap();
    let key = dir.path().join("proctor-backup.db.key");
    assert_eq!(std::fs::read(&key).unwrap(), std::fs::read(app.data_dir.join("secret.key")).unwrap());
    let again = app.cli(&["backup", "--to", backup.to_str().unwrap()]);
    assert!(!again.status.success(), "never overwrites a file");

    // Restore: the copy and its key in a fresh data directory.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&backup, restored.join("proctor.db")).unwrap();
    std::fs::copy(&key, restored.join("secret.key")).unwrap();
    let second = TestApp::spawn_with(SpawnOptions { data_dir: Some(restored), ..Default::default() }).await;
    let (client, status) = second.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(second.get(&client, "/projects/web").await.status().is_success());
}

#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let mut app = TestApp::spawn().await;
    let client = app.browser();
    assert_eq!(app.get(&client, "/healthz").await.status(), StatusCode::OK);
    let status = app.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(app.log().contains("Proctor stopped"));
}

#[tokio::test]
async fn a_database_from_a_newer_proctor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // Storage itself: a schema version from the future, which only a newer binary could write.
    let conn = rusqlite::Connection::open(data.join("proctor.db")).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    std::fs::write(data.join("secret.key"), [7u8; 32]).unwrap();
    let out = std::process::Command::new(binary())
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newer than this binary"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn serves_https_with_secure_host_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let app = TestApp::spawn_with(SpawnOptions {
        args: vec![
            "--tls-cert".into(),
            cert_path.display().to_string(),
            "--tls-key".into(),
            key_path.display().to_string(),
        ],
        https: true,
        ..Default::default()
    })
    .await;
    assert!(app.base.starts_with("https://"));
    let client = app.browser();
    assert_eq!(app.get(&client, "/healthz").await.status(), StatusCode::OK);
    let setup = app.get(&client, "/setup").await;
    let cookie = setup.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.starts_with("__Host-proctor_pre=") && cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn a_database_without_its_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = TestApp::spawn_with(SpawnOptions { data_dir: Some(data.clone()), ..Default::default() }).await;
    drop(app);
    std::fs::remove_file(data.join("secret.key")).unwrap();
    let out = std::process::Command::new(binary())
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("secret.key is missing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!data.join("secret.key").exists(), "no new key was made");
}
