//! One's own tokens in Settings → Access Tokens: generated and shown once,
//! used on the API, rotated (with and without grace) and revoked, and the
//! generate form keeping its input on errors and never granting beyond the role.

use reqwest::StatusCode;

use super::{body, create_project, generate, generate_ok, ids_in, preview_of, secret_on, whoami, PAT_RE};
use crate::api_helpers::{cli_token, list_all, rfc3339, ALL_PERMISSIONS};
use crate::helpers::*;

type Fields<'a> = &'a [(&'a str, &'a str)];

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
    let check = cli_token(&app, ADMIN_EMAIL, "check", ALL_PERMISSIONS, &[]);
    let vera_tokens = || async {
        let all = list_all(&app, &check, "/api/v1/tokens?all=true", "tokens").await;
        all.into_iter().filter(|t| t["owner"]["name"] == "vera").collect::<Vec<_>>()
    };

    for path in ["/settings/admin/tokens", "/settings/admin/policy"] {
        assert_eq!(app.get(&viewer, path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let form = body(&app, &viewer, "/settings/tokens/new").await;
    assert!(form.contains("value=\"runs:write\" disabled"), "permissions beyond the role are not offered");

    let refused = generate(&app, &viewer, &[("name", "sneaky"), ("permission", "runs:write")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("You cannot grant runs:write") && page.contains("value=\"sneaky\""), "{page}");
    assert!(vera_tokens().await.is_empty(), "no token was created");

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
    assert!(vera_tokens().await.is_empty(), "no token was created");

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
    let scoped = vera_tokens().await.into_iter().find(|t| t["name"] == "scoped").expect("the scoped token");
    assert_eq!(scoped["expires_at"], rfc3339(date.1), "{scoped}");
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
