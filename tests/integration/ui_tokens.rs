//! Access tokens through the web UI: generate and show once, use on the API,
//! rotate, revoke, the admin list and the expiration policy, project API keys,
//! and CSRF on every form.

use reqwest::{Client, Response, StatusCode};

use crate::helpers::*;

const PAT_RE: &str = r"prc_pat_[0-9A-Za-z]{38}";
const KEY_RE: &str = r"prc_key_[0-9A-Za-z]{38}";

type Fields<'a> = &'a [(&'a str, &'a str)];

/// The secret in the show-once page's `<input id="new-token">`.
fn secret_on(page: &str, pattern: &str) -> String {
    let at = page.find("id=\"new-token\"").unwrap_or_else(|| panic!("no secret field:\n{page}"));
    let tag = &page[at..at + page[at..].find('>').unwrap()];
    let re = regex_lite::Regex::new(&format!("value=\"({pattern})\"")).unwrap();
    re.captures(tag).unwrap_or_else(|| panic!("no secret in {tag}"))[1].to_string()
}

/// `prc_pat_a1B2…x9Y8`, as the tables show a secret.
fn preview_of(secret: &str) -> String {
    let (prefix, rest) = secret.split_at(8);
    format!("{prefix}{}…{}", &rest[..4], &rest[rest.len() - 4..])
}

/// Ids in `action="{before}{id}{after}"` form targets, in page order.
fn ids_in(page: &str, before: &str, after: &str) -> Vec<String> {
    let re = regex_lite::Regex::new(&format!(
        "{}([0-9a-f-]{{36}}){}",
        regex_lite::escape(before),
        regex_lite::escape(after)
    ))
    .unwrap();
    re.captures_iter(page).map(|c| c[1].to_string()).collect()
}

/// Generates a token through the form; returns the response (200 + page, or the error page).
async fn generate(app: &TestApp, client: &Client, fields: &[(&str, &str)]) -> Response {
    app.submit(client, "/settings/tokens/new", "/settings/tokens", fields).await
}

/// Generates a token that must succeed; returns its secret.
async fn generate_ok(app: &TestApp, client: &Client, fields: &[(&str, &str)]) -> String {
    let response = generate(app, client, fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    secret_on(&response.text().await.unwrap(), PAT_RE)
}

async fn whoami(app: &TestApp, header: &str, secret: &str) -> StatusCode {
    let value = if header == "authorization" { format!("Bearer {secret}") } else { secret.to_string() };
    let response =
        reqwest::Client::new().get(app.url("/api/v1/whoami")).header(header, value).send().await.expect("whoami");
    response.status()
}

async fn body(app: &TestApp, client: &Client, path: &str) -> String {
    let response = app.get(client, path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.text().await.unwrap()
}

async fn create_project(app: &TestApp, admin: &Client, slug: &str) {
    let response = app.submit(admin, "/projects", "/projects", &[("name", slug), ("slug", slug)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_generated_token_is_shown_once_works_rotates_and_revokes() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let empty = body(&app, &admin, "/settings/tokens").await;
    assert!(empty.contains("No tokens yet") && empty.contains("href=\"/settings/tokens/new\""));

    let form = body(&app, &admin, "/settings/tokens/new").await;
    assert!(form.contains("<option value=\"90\" selected>90 days</option>"), "{form}");
    assert!(form.contains("value=\"custom\"") && form.contains("type=\"date\""));
    assert!(!form.contains("No expiration"), "the default policy does not allow tokens without expiry");

    let secret = generate_ok(
        &app,
        &admin,
        &[("name", "CI upload"), ("permission", "projects:read"), ("permission", "runs:read"), ("expiration", "30")],
    )
    .await;
    assert!(regex_lite::Regex::new(&format!("^{PAT_RE}$")).unwrap().is_match(&secret));

    let list = body(&app, &admin, "/settings/tokens").await;
    assert!(!list.contains(&secret), "the secret must never be shown again");
    assert!(list.contains(&preview_of(&secret)) && list.contains("CI upload"));
    assert!(list.contains("All projects") && list.contains("never") && list.contains("expires soon"));
    assert!(!list.contains(&secret[8..]), "not even without its prefix");

    assert_eq!(whoami(&app, "authorization", &secret).await, StatusCode::OK);
    let list = body(&app, &admin, "/settings/tokens").await;
    assert!(list.contains(&preview_of(&secret)));

    // Rotate: a new secret on a no-store page; the old one stops at once (grace 0).
    let id = ids_in(&list, "/settings/tokens/", "/rotate").pop().expect("rotate form");
    let rotated = app
        .submit(&admin, "/settings/tokens", &format!("/settings/tokens/{id}/rotate"), &[("grace_seconds", "0")])
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let new_secret = secret_on(&rotated.text().await.unwrap(), PAT_RE);
    assert_ne!(new_secret, secret);
    assert_eq!(whoami(&app, "authorization", &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&app, "authorization", &new_secret).await, StatusCode::OK);

    // Revoke through the UI: the API refuses it right away.
    let list = body(&app, &admin, "/settings/tokens").await;
    assert!(list.contains(&preview_of(&new_secret)) && !list.contains(&new_secret));
    let live = ids_in(&list, "/settings/tokens/", "/revoke");
    assert_eq!(live.len(), 1, "the rotated-away token has no actions left");
    let revoked = app.submit(&admin, "/settings/tokens", &format!("/settings/tokens/{}/revoke", live[0]), &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&revoked), "/settings/tokens?notice=token_revoked");
    assert_eq!(whoami(&app, "authorization", &new_secret).await, StatusCode::UNAUTHORIZED);
    let list = body(&app, &admin, &location(&revoked)).await;
    assert!(list.contains("Token revoked") && list.contains("badge muted\">revoked"));

    let audit = app.audit_page(&admin, "?action=token.").await;
    for action in ["token.created", "token.rotated", "token.revoked"] {
        assert!(audit.contains(action), "{action}");
    }
    let log = app.log();
    assert!(!log.contains(&secret) && !log.contains(&new_secret), "a secret reached the log");
}

#[tokio::test]
async fn rotation_with_grace_keeps_the_old_secret_working() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let secret = generate_ok(&app, &admin, &[("name", "deploy"), ("permission", "runs:read")]).await;
    let list = body(&app, &admin, "/settings/tokens").await;
    let id = ids_in(&list, "/settings/tokens/", "/rotate").pop().unwrap();
    let rotated = app
        .submit(&admin, "/settings/tokens", &format!("/settings/tokens/{id}/rotate"), &[("grace_seconds", "3600")])
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let page = rotated.text().await.unwrap();
    let new_secret = secret_on(&page, PAT_RE);
    assert!(page.contains("keeps working until") && page.contains("in 1 hour"), "{page}");
    assert_eq!(whoami(&app, "authorization", &secret).await, StatusCode::OK);
    assert_eq!(whoami(&app, "authorization", &new_secret).await, StatusCode::OK);
    let list = body(&app, &admin, "/settings/tokens").await;
    assert!(list.contains("rotated, ends in 1 hour"));
    let bad = app
        .submit(&admin, "/settings/tokens", &format!("/settings/tokens/{id}/rotate"), &[("grace_seconds", "90000")])
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_form_keeps_input_on_errors_and_never_grants_beyond_the_role() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    create_project(&app, &admin, "web").await;
    create_project(&app, &admin, "api").await;
    let viewer = app.user_session(&admin, "vera@example.com", "viewer").await;

    for path in ["/settings/admin/tokens", "/settings/admin/policy"] {
        assert_eq!(app.get(&viewer, path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let form = body(&app, &viewer, "/settings/tokens/new").await;
    assert!(form.contains("value=\"runs:write\" disabled"), "permissions beyond the role are not offered");

    let refused = generate(&app, &viewer, &[("name", "sneaky"), ("permission", "runs:write")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("You cannot grant runs:write") && page.contains("value=\"sneaky\""), "{page}");
    assert_eq!(sql_count(&app, "SELECT count(*) FROM tokens"), 0);

    let cases: [(Fields, StatusCode, &str); 6] = [
        (&[("name", ""), ("permission", "runs:read")], StatusCode::BAD_REQUEST, "Name must not be empty"),
        (&[("name", "none")], StatusCode::BAD_REQUEST, "Choose at least one permission"),
        (
            &[("name", "long"), ("permission", "runs:read"), ("expiration", "400")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 365 days",
        ),
        (
            &[("name", "forever"), ("permission", "runs:read"), ("expiration", "never")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "must have an expiration",
        ),
        (
            &[("name", "far"), ("permission", "runs:read"), ("expiration", "custom"), ("expires_on", "2999-01-01")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 365 days",
        ),
        (
            &[("name", "scoped"), ("permission", "runs:read"), ("project_scope", "selected")],
            StatusCode::BAD_REQUEST,
            "Choose at least one project",
        ),
    ];
    for (fields, status, message) in cases {
        let response = generate(&app, &viewer, fields).await;
        assert_eq!(response.status(), status, "{fields:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{fields:?}: {page}");
        assert!(page.contains("action=\"/settings/tokens\""), "the form is shown again");
    }
    let kept = generate(
        &app,
        &viewer,
        &[("name", "far"), ("permission", "runs:read"), ("expiration", "custom"), ("expires_on", "2999-01-01")],
    )
    .await;
    let page = kept.text().await.unwrap();
    assert!(page.contains("value=\"2999-01-01\"") && page.contains("<option value=\"custom\" selected>"), "{page}");
    assert!(page.contains("value=\"runs:read\" checked"));
    assert_eq!(sql_count(&app, "SELECT count(*) FROM tokens"), 0);

    // Only selected projects, and a custom date (end of that day, UTC).
    let date = time_in_days(10);
    let secret = generate_ok(
        &app,
        &viewer,
        &[
            ("name", "scoped"),
            ("permission", "runs:read"),
            ("project_scope", "selected"),
            ("project", "web"),
            ("expiration", "custom"),
            ("expires_on", &date.0),
        ],
    )
    .await;
    assert_eq!(sql_count(&app, "SELECT expires_at FROM tokens WHERE name = 'scoped'"), date.1);
    let list = body(&app, &viewer, "/settings/tokens").await;
    assert!(list.contains("<td>web</td>") && !list.contains(&secret));
    assert_eq!(whoami(&app, "authorization", &secret).await, StatusCode::OK);
}

/// `YYYY-MM-DD` `days` from now, and the unix time of that day's 23:59:59 UTC.
fn time_in_days(days: i64) -> (String, i64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let day = now / 86_400 + days;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (format!("{y:04}-{m:02}-{d:02}"), day * 86_400 + 86_399)
}

#[tokio::test]
async fn a_fixed_policy_hides_the_choice_and_flags_older_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let older = generate_ok(&app, &admin, &[("name", "older"), ("permission", "runs:read")]).await;

    let page = body(&app, &admin, "/settings/admin/policy").await;
    assert!(page.contains("value=\"user_choice\" checked") && page.contains("name=\"max_days\" value=\"365\""));
    let bad = app
        .submit(
            &admin,
            "/settings/admin/policy",
            "/settings/admin/policy",
            &[("mode", "fixed"), ("fixed_days", "0"), ("max_days", "365")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("fixed_days must be between 1 and 3650"));
    let bad = app
        .submit(
            &admin,
            "/settings/admin/policy",
            "/settings/admin/policy",
            &[("mode", "fixed"), ("fixed_days", "ten"), ("max_days", "365")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("value=\"ten\""), "input kept");

    let saved = app
        .submit(
            &admin,
            "/settings/admin/policy",
            "/settings/admin/policy",
            &[("mode", "fixed"), ("fixed_days", "14"), ("max_days", "365"), ("revoke_unused_after_days", "")],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&saved), "/settings/admin/policy?notice=policy_saved");
    let page = body(&app, &admin, &location(&saved)).await;
    assert!(page.contains("Token policy saved") && page.contains("value=\"fixed\" checked"));
    assert!(page.contains("1 of 1 live token exceeds the saved policy"), "{page}");

    let form = body(&app, &admin, "/settings/tokens/new").await;
    assert!(form.contains("Tokens expire after 14 days (set by your administrator)"));
    assert!(!form.contains("name=\"expiration\"") && !form.contains("name=\"expires_on\""));
    let newer = generate_ok(&app, &admin, &[("name", "newer"), ("permission", "runs:read")]).await;
    let lifetime = sql_count(&app, "SELECT expires_at - created_at FROM tokens WHERE name = 'newer'");
    assert!((14 * 86_400 - 2..=14 * 86_400 + 2).contains(&lifetime), "{lifetime}");
    // A choice sent anyway is ignored under a fixed policy.
    generate_ok(&app, &admin, &[("name", "insists"), ("permission", "runs:read"), ("expiration", "365")]).await;
    let lifetime = sql_count(&app, "SELECT expires_at - created_at FROM tokens WHERE name = 'insists'");
    assert!((14 * 86_400 - 2..=14 * 86_400 + 2).contains(&lifetime), "{lifetime}");

    let list = body(&app, &admin, "/settings/tokens").await;
    let older_row = list.split("<tr").find(|r| r.contains(&preview_of(&older))).unwrap();
    let newer_row = list.split("<tr").find(|r| r.contains(&preview_of(&newer))).unwrap();
    assert!(older_row.contains("exceeds policy") && !newer_row.contains("exceeds policy"));
    assert!(newer_row.contains("expires soon"), "14 days is within 30");
    let audit = app.audit_page(&admin, "?action=token_policy.updated").await;
    assert!(audit.contains("token_policy.updated"));
}

#[tokio::test]
async fn expiring_tokens_raise_banners() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    generate_ok(&app, &admin, &[("name", "week"), ("permission", "runs:read"), ("expiration", "7")]).await;
    let list = body(&app, &admin, "/settings/tokens").await;
    assert!(
        list.contains("flash warn") && list.contains("Expiring this week") && !list.contains("Expiring within a day")
    );
    sql(&app, "UPDATE tokens SET expires_at = strftime('%s','now') + 7200 WHERE name = 'week'");
    let list = body(&app, &admin, "/settings/tokens").await;
    assert!(list.contains("flash err") && list.contains("Expiring within a day") && list.contains("in 2 hours"));
    assert!(!list.contains("Expiring this week"));
}

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

#[tokio::test]
async fn project_keys_are_created_disabled_enabled_rotated_and_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    create_project(&app, &admin, "web").await;
    let settings = body(&app, &admin, "/projects/web/settings").await;
    assert!(settings.contains("No API keys") && settings.contains("action=\"/projects/web/keys\""));
    assert!(!settings.contains("value=\"tokens:admin\""), "only key permissions are offered");

    let refused = app
        .submit(
            &admin,
            "/projects/web/settings",
            "/projects/web/keys",
            &[("name", "bad"), ("permission", "tokens:admin")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("value=\"bad\""));

    let created = app
        .submit(
            &admin,
            "/projects/web/settings",
            "/projects/web/keys",
            &[("name", "CI"), ("permission", "runs:read"), ("permission", "runs:write"), ("expiration", "30")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let page = created.text().await.unwrap();
    let secret = secret_on(&page, KEY_RE);
    assert!(page.contains("--project web"));
    assert_eq!(whoami(&app, "x-api-key", &secret).await, StatusCode::OK);

    let settings = body(&app, &admin, "/projects/web/settings").await;
    assert!(settings.contains(&preview_of(&secret)) && !settings.contains(&secret));
    let id = ids_in(&settings, "/projects/web/keys/", "/disable").pop().expect("disable form");
    let disabled = app.submit(&admin, "/projects/web/settings", &format!("/projects/web/keys/{id}/disable"), &[]).await;
    assert_eq!(location(&disabled), "/projects/web/settings?notice=key_disabled");
    assert_eq!(whoami(&app, "x-api-key", &secret).await, StatusCode::UNAUTHORIZED);
    let settings = body(&app, &admin, &location(&disabled)).await;
    assert!(
        settings.contains("badge warn\">disabled") && settings.contains(&format!("/projects/web/keys/{id}/enable"))
    );
    let enabled = app.submit(&admin, "/projects/web/settings", &format!("/projects/web/keys/{id}/enable"), &[]).await;
    assert_eq!(location(&enabled), "/projects/web/settings?notice=key_enabled");
    assert_eq!(whoami(&app, "x-api-key", &secret).await, StatusCode::OK);

    let edited = app
        .submit(
            &admin,
            "/projects/web/settings",
            &format!("/projects/web/keys/{id}"),
            &[("name", "CI read"), ("permission", "runs:read")],
        )
        .await;
    assert_eq!(location(&edited), "/projects/web/settings?notice=key_updated");
    assert_eq!(
        sql_count(&app, "SELECT count(*) FROM tokens WHERE name = 'CI read' AND permissions NOT LIKE '%runs:write%'"),
        1
    );

    let rotated = app
        .submit(&admin, "/projects/web/settings", &format!("/projects/web/keys/{id}/rotate"), &[("grace_seconds", "0")])
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let new_secret = secret_on(&rotated.text().await.unwrap(), KEY_RE);
    assert_eq!(whoami(&app, "x-api-key", &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&app, "x-api-key", &new_secret).await, StatusCode::OK);

    // A viewer sees the keys, but no forms, and cannot act.
    let viewer = app.user_session(&admin, "vera@example.com", "viewer").await;
    let project = body(&app, &viewer, "/projects/web").await;
    assert!(project.contains("href=\"/projects/web/settings\""));
    let seen = body(&app, &viewer, "/projects/web/settings").await;
    assert!(seen.contains(&preview_of(&new_secret)) && seen.contains("CI read"));
    assert!(!seen.contains("<form method=\"post\" action=\"/projects/web"), "no forms for a viewer");
    let settings = body(&app, &admin, "/projects/web/settings").await;
    // Newest first: the rotated key heads the table.
    let new_id = ids_in(&settings, "/projects/web/keys/", "/delete").into_iter().next().unwrap();
    for action in [
        "/projects/web/keys".to_string(),
        format!("/projects/web/keys/{new_id}/disable"),
        format!("/projects/web/keys/{new_id}/delete"),
        format!("/projects/web/keys/{new_id}/rotate"),
    ] {
        let response =
            app.submit(&viewer, "/settings/tokens", &action, &[("name", "x"), ("permission", "runs:read")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(whoami(&app, "x-api-key", &new_secret).await, StatusCode::OK);

    let deleted =
        app.submit(&admin, "/projects/web/settings", &format!("/projects/web/keys/{new_id}/delete"), &[]).await;
    assert_eq!(location(&deleted), "/projects/web/settings?notice=key_deleted");
    assert_eq!(whoami(&app, "x-api-key", &new_secret).await, StatusCode::UNAUTHORIZED);
    let audit = app.audit_page(&admin, "?action=token.").await;
    for action in
        ["token.created", "token.disabled", "token.enabled", "token.updated", "token.rotated", "token.deleted"]
    {
        assert!(audit.contains(action), "{action}");
    }
}

#[tokio::test]
async fn every_token_form_refuses_a_bad_csrf_token() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    create_project(&app, &admin, "web").await;
    let secret = generate_ok(&app, &admin, &[("name", "keep"), ("permission", "runs:read")]).await;
    let key = app
        .submit(&admin, "/projects/web/settings", "/projects/web/keys", &[("name", "key"), ("permission", "runs:read")])
        .await;
    let key_secret = secret_on(&key.text().await.unwrap(), KEY_RE);
    let pat_id = ids_in(&body(&app, &admin, "/settings/tokens").await, "/settings/tokens/", "/revoke").pop().unwrap();
    let key_id =
        ids_in(&body(&app, &admin, "/projects/web/settings").await, "/projects/web/keys/", "/delete").pop().unwrap();
    let tokens_before = sql_count(&app, "SELECT count(*) FROM tokens");
    let audit_before = sql_count(&app, "SELECT count(*) FROM audit_events");

    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/settings/tokens".into(), vec![("name", "new"), ("permission", "runs:read")]),
        (format!("/settings/tokens/{pat_id}/revoke"), vec![]),
        (format!("/settings/tokens/{pat_id}/rotate"), vec![("grace_seconds", "0")]),
        (format!("/settings/admin/tokens/{pat_id}/revoke"), vec![]),
        ("/settings/admin/policy".into(), vec![("mode", "fixed"), ("fixed_days", "7"), ("max_days", "30")]),
        ("/projects/web/keys".into(), vec![("name", "new"), ("permission", "runs:read")]),
        (format!("/projects/web/keys/{key_id}"), vec![("name", "renamed"), ("permission", "runs:write")]),
        (format!("/projects/web/keys/{key_id}/disable"), vec![]),
        (format!("/projects/web/keys/{key_id}/enable"), vec![]),
        (format!("/projects/web/keys/{key_id}/rotate"), vec![("grace_seconds", "0")]),
        (format!("/projects/web/keys/{key_id}/delete"), vec![]),
    ];
    for (action, fields) in &forms {
        for csrf in ["bogus", ""] {
            let mut all = vec![("csrf_token", csrf)];
            all.extend(fields.iter().copied());
            let response = admin.post(app.url(action)).form(&all).send().await.expect("POST");
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action} with csrf {csrf:?}");
            let page = response.text().await.unwrap();
            assert!(!page.contains("prc_"), "{action} leaked a secret");
        }
    }
    assert_eq!(sql_count(&app, "SELECT count(*) FROM tokens"), tokens_before);
    assert_eq!(sql_count(&app, "SELECT count(*) FROM audit_events"), audit_before);
    assert_eq!(sql_count(&app, "SELECT count(*) FROM tokens WHERE revoked_at IS NOT NULL OR disabled"), 0);
    let policy = body(&app, &admin, "/settings/admin/policy").await;
    assert!(policy.contains("value=\"user_choice\" checked"));
    assert_eq!(whoami(&app, "authorization", &secret).await, StatusCode::OK);
    assert_eq!(whoami(&app, "x-api-key", &key_secret).await, StatusCode::OK);
}
