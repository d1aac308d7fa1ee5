//! Expiry in the web UI: a fixed expiration policy hides the choice and flags
//! older tokens, and tokens about to expire raise banners.

use reqwest::StatusCode;
use serde_json::json;

use super::{body, generate_ok, preview_of};
use crate::api_helpers::{cli_token, now_unix, post, rfc3339, unix};
use crate::helpers::*;

/// Generates a token through the form; returns its secret and the range
/// its lifetime (expiry as `whoami` shows it, minus creation) lies in.
async fn generate_timed(
    app: &TestApp,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
) -> (String, std::ops::RangeInclusive<i64>) {
    let before = now_unix();
    let secret = generate_ok(app, client, fields).await;
    let after = now_unix();
    let me = crate::api_helpers::whoami(app, &secret).await.expect(StatusCode::OK);
    let expires = unix(me["token"]["expires_at"].as_str().unwrap_or_else(|| panic!("no expiry: {me}")));
    (secret, expires - after..=expires - before)
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
    let (newer, lifetime) = generate_timed(&app, &admin, &[("name", "newer"), ("permission", "runs:read")]).await;
    assert!(lifetime.contains(&(14 * 86_400)), "{lifetime:?}");
    // A choice sent anyway is ignored under a fixed policy.
    let insists = [("name", "insists"), ("permission", "runs:read"), ("expiration", "365")];
    let (_, lifetime) = generate_timed(&app, &admin, &insists).await;
    assert!(lifetime.contains(&(14 * 86_400)), "{lifetime:?}");

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
    // A token that expires in two hours, made over the API (the form offers whole days).
    let api = cli_token(&app, ADMIN_EMAIL, "api", "runs:read,tokens:create", &[]);
    let soon = json!({"name": "soon", "permissions": ["runs:read"], "expires_at": rfc3339(now_unix() + 7200)});
    post(&app, "/api/v1/tokens", &api, soon).await.expect(StatusCode::CREATED);
    let list = body(&app, &admin, "/settings/tokens").await;
    let banner = |title: &str| {
        let at = list.find(title).unwrap_or_else(|| panic!("no {title:?} banner:\n{list}"));
        list[at..at + list[at..].find("</div>").unwrap()].to_string()
    };
    assert!(list.contains("flash err") && list.contains("flash warn"));
    let day = banner("Expiring within a day");
    assert!(day.contains("“soon”") && day.contains("in 2 hours") && !day.contains("“week”"), "{day}");
    let week = banner("Expiring this week");
    assert!(week.contains("“week”") && !week.contains("“soon”"), "{week}");
}
