//! First run, login/logout, sessions, CSRF, throttling, enumeration safety.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn first_run_creates_the_admin_then_setup_is_gone() {
    let app = TestApp::spawn().await;
    let client = app.browser();
    let root = app.get(&client, "/").await;
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&root), "/setup");
    assert_eq!(location(&app.get(&client, "/login").await), "/setup", "no login before setup");

    let admin = app.setup_admin().await;
    let projects = app.get(&admin, "/projects").await;
    assert_eq!(projects.status(), StatusCode::OK, "setup logs the admin in");
    assert!(projects.text().await.unwrap().contains("No projects yet"));

    let again = app.browser();
    assert_eq!(app.get(&again, "/setup").await.status(), StatusCode::NOT_FOUND);
    let post = again
        .post(app.url("/setup"))
        .form(&[
            ("csrf_token", "x"),
            ("email", "evil@example.com"),
            ("name", "E"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
    assert_eq!(location(&app.get(&again, "/").await), "/login");
    let (_, status) = app.login("evil@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn setup_validates_its_form_and_needs_csrf() {
    let app = TestApp::spawn().await;
    let client = app.browser();
    let no_csrf = client
        .post(app.url("/setup"))
        .form(&[
            ("csrf_token", "forged"),
            ("email", ADMIN_EMAIL),
            ("name", "A"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let short = app
        .submit(
            &client,
            "/setup",
            "/setup",
            &[("email", ADMIN_EMAIL), ("name", "A"), ("password", "short"), ("password_confirm", "short")],
        )
        .await;
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);
    assert!(short.text().await.unwrap().contains("at least 8 characters"));
    let mismatch = app
        .submit(
            &client,
            "/setup",
            "/setup",
            &[
                ("email", ADMIN_EMAIL),
                ("name", "A"),
                ("password", PASSWORD),
                ("password_confirm", "different passphrase"),
            ],
        )
        .await;
    assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&client, "/setup").await.status(), StatusCode::OK, "nothing was created");
}

#[tokio::test]
async fn forms_and_addresses_that_cannot_be_read_get_the_error_page() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let cases = [
        // A form without its fields, one too large, one of the wrong type.
        (
            admin.post(app.url("/login")).form(&[("email", "x")]),
            400,
            "The form could not be read: missing field `csrf_token`.",
        ),
        (admin.post(app.url("/login")).form(&[("email", "x".repeat(70_000))]), 413, "larger than 64 KiB"),
        (
            admin.post(app.url("/login")).header("content-type", "text/plain").body("email=x"),
            415,
            "x-www-form-urlencoded",
        ),
        // A hand-edited address.
        (admin.get(app.url("/settings/admin/audit?before=yesterday")), 400, "cannot read"),
    ];
    for (request, status, says) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let body = response.text().await.unwrap();
        assert!(body.contains(says) && body.contains("</html>"), "{status}: {body}");
    }
}

#[tokio::test]
async fn login_and_logout() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let anonymous = app.browser();
    let page = app.get(&anonymous, "/projects").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/login");

    let (client, status) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie_header = app.get(&client, "/projects").await;
    assert_eq!(cookie_header.status(), StatusCode::OK);

    // Logout needs the CSRF token too.
    let forged = client.post(app.url("/logout")).form(&[("csrf_token", "nope")]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get(&client, "/projects").await.status(), StatusCode::OK, "still logged in");
    let out = app.submit(&client, "/projects", "/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&app.get(&client, "/projects").await), "/login");
}

#[tokio::test]
async fn session_cookie_is_new_at_login_and_dies_at_logout() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let client = app.browser();
    app.get(&client, "/login").await;
    let csrf = app.csrf(&client, "/login").await;
    let response = client
        .post(app.url("/login"))
        .form(&[("csrf_token", csrf.as_str()), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let set_cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("proctor_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let value = set_cookie.split(';').next().unwrap().to_string();
    let (second, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let _ = second;
    // Replaying the cookie after logout fails.
    app.submit(&client, "/projects", "/logout", &[]).await;
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = replay.get(app.url("/projects")).header("cookie", value).send().await.unwrap();
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn wrong_email_and_wrong_password_look_the_same() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let mut unknown_times = Vec::new();
    let mut wrong_times = Vec::new();
    for i in 0..4 {
        let start = Instant::now();
        let client = app.browser();
        let unknown = app
            .submit(
                &client,
                "/login",
                "/login",
                &[("email", &format!("nobody{i}@example.com")), ("password", PASSWORD)],
            )
            .await;
        unknown_times.push(start.elapsed());
        let status_unknown = unknown.status();
        let body_unknown = unknown.text().await.unwrap();

        let client = app.browser();
        let start = Instant::now();
        let wrong =
            app.submit(&client, "/login", "/login", &[("email", ADMIN_EMAIL), ("password", "not the password")]).await;
        wrong_times.push(start.elapsed());
        assert_eq!(status_unknown, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let body_wrong = wrong.text().await.unwrap();
        assert!(body_unknown.contains("Wrong email or password."));
        assert!(body_wrong.contains("Wrong email or password."));
    }
    // Both pay for one argon2 verification; an unknown email must not be much
    // faster. The fastest of each is compared: other tests running beside this
    // one only ever add time.
    let fastest = |times: &[Duration]| times.iter().min().unwrap().as_secs_f64();
    let (u, w) = (fastest(&unknown_times), fastest(&wrong_times));
    assert!(u > w * 0.5, "unknown email {u:.3}s vs wrong password {w:.3}s");
}

#[tokio::test]
async fn logins_are_throttled_after_ten_failures() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    for _ in 0..10 {
        let (_, status) = app.login(ADMIN_EMAIL, "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (_, status) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right password is refused for a while");
    let client = app.browser();
    let response =
        app.submit(&client, "/login", "/login", &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).await;
    let retry: u64 = response.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900);
    let audit = app.audit_page(&admin, "?action=login.failed").await;
    assert!(audit.contains("throttled"), "throttled attempts are audited");
    assert!(audit.contains("bad_credentials"));
}

#[tokio::test]
async fn deactivation_ends_sessions_and_logins() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let member = app.user_session(&admin, "mia@example.com", "member").await;
    assert_eq!(app.get(&member, "/projects").await.status(), StatusCode::OK);
    let id = app.account_id(&admin, "/settings/admin/users", "mia@example.com").await;
    let response = app
        .submit(&admin, "/settings/admin/users", &format!("/settings/admin/users/{id}"), &[("active", "false")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&app.get(&member, "/projects").await), "/login", "session ended at once");
    let (_, status) = app.login("mia@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.submit(&admin, "/settings/admin/users", &format!("/settings/admin/users/{id}"), &[("active", "true")]).await;
    let (_, status) = app.login("mia@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "reactivated");
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app = TestApp::spawn_with(SpawnOptions {
        args: vec!["--session-idle-minutes".into(), "1".into()],
        ..Default::default()
    })
    .await;
    let admin = app.setup_admin().await;
    assert_eq!(app.get(&admin, "/projects").await.status(), StatusCode::OK);
    // Half a minute on (a restart between), the session is still there; its
    // last use is not recorded again within a minute of the previous one.
    let idle = |secs: i64| [vec!["--session-idle-minutes".to_string(), "1".into()], later(secs)].concat();
    let app = app.restart_with(idle(30)).await;
    assert_eq!(app.get(&admin, "/projects").await.status(), StatusCode::OK);
    // Two minutes after the last recorded use: idle too long, logged out.
    let app = app.restart_with(idle(120)).await;
    assert_eq!(location(&app.get(&admin, "/projects").await), "/login");
}

#[tokio::test]
async fn html_responses_carry_security_headers() {
    let app = TestApp::spawn().await;
    let client = app.browser();
    for path in ["/setup", "/login", "/healthz"] {
        let response = app.get(&client, path).await;
        let h = response.headers();
        assert!(
            h.get("content-security-policy").unwrap().to_str().unwrap().contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
        assert!(h.get("referrer-policy").is_some());
    }
    let health = app.get(&client, "/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
}
