//! A personal access token's life in the browser: generate it in Settings →
//! Access Tokens, copy the secret from the show-once page, use it from
//! outside the browser, watch "Last used" change, revoke it, and see the API
//! refuse it. Also looks at the admin's token list and expiration policy.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::harness::{
    assert_styled, assert_text, click, clipboard_text, describe, fill, grant_clipboard, must, run_in_browser,
    screenshot, set_clipboard_text, submit, wait_for, wait_for_path, PAGE_TIMEOUT,
};
use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

const TOKEN_NAME: &str = "GitHub Actions upload";
/// Sent with the API call, so the "Last used" tooltip can be traced to it.
const USER_AGENT: &str = "proctor-browser-test/1.0 (token flow)";

#[tokio::test]
async fn a_real_browser_generates_copies_uses_and_revokes_an_access_token() {
    let app = TestApp::spawn().await;
    let args =
        ["admin", "create-user", "--email", ADMIN_EMAIL, "--name", "Ada Admin", "--role", "admin", "--password-stdin"];
    let created = app.cli_with_stdin(&args, &format!("{ADMIN_PASSWORD}\n"));
    assert!(created.status.success(), "create the admin: {}", String::from_utf8_lossy(&created.stderr));
    run_in_browser(&app, "tokens", token_flow).await;
}

/// Log in → generate → copy → use over the API → "Last used" → revoke → 401 → admin pages.
async fn token_flow(c: Client, base: String, shots: PathBuf) {
    // The admin exists (made with the CLI), so `/` leads to the login page.
    must(c.goto(&format!("{base}/")).await, "open /");
    wait_for_path(&c, "/login").await;
    fill(&c, "form[action='/login'] input[name='email']", ADMIN_EMAIL).await;
    fill(&c, "form[action='/login'] input[name='password']", ADMIN_PASSWORD).await;
    submit(&c, "form[action='/login']").await;
    wait_for_path(&c, "/projects").await;

    // Top bar → Access tokens → "Generate new token".
    click(&c, "nav.mainnav a[href='/settings/tokens']").await;
    wait_for_path(&c, "/settings/tokens").await;
    assert_text(&c, &["Access tokens", "No tokens yet"]).await;
    let generate = must(c.find(Locator::LinkText("Generate new token")).await, "find \"Generate new token\"");
    must(generate.click().await, "click \"Generate new token\"");
    wait_for_path(&c, "/settings/tokens/new").await;
    let form = "form[action='/settings/tokens']";
    wait_for(&c, form).await;
    assert_styled(&c).await;
    fill(&c, &format!("{form} input[name='name']"), TOKEN_NAME).await;
    let expiration = wait_for(&c, &format!("{form} select[name='expiration']")).await;
    must(expiration.select_by_value("30").await, "choose 30 days");
    for permission in ["runs:read", "projects:read"] {
        let css = format!("{form} input[name='permission'][value='{permission}']");
        click(&c, &css).await;
        assert!(must(wait_for(&c, &css).await.is_selected().await, "read a checkbox"), "{permission} not ticked");
    }
    let ticked = c.find_all(Locator::Css(&format!("{form} input[name='permission']:checked"))).await;
    assert_eq!(must(ticked, "find the ticked permissions").len(), 2, "only the two permissions are ticked");
    screenshot(&c, &shots, "token-new.png").await;
    submit(&c, form).await;

    // The show-once page: the secret in a read-only field, with a Copy button.
    let field = wait_for(&c, "input#new-token[readonly]").await;
    assert_text(&c, &["Token created", "Copy it now", TOKEN_NAME, "runs:read", "projects:read"]).await;
    let secret = must(field.prop("value").await, "read the secret").unwrap_or_default();
    let format = regex_lite::Regex::new("^prc_pat_[0-9A-Za-z]{38}$").unwrap();
    assert!(format.is_match(&secret), "the field holds {secret:?}, not a personal access token");
    let preview = format!("{}…{}", &secret[..12], &secret[secret.len() - 4..]);
    let shown = must(wait_for(&c, "dl.facts code").await.text().await, "read the preview");
    assert_eq!(shown, preview, "the secret page's preview");

    // Copy: with clipboard access granted over CDP, the clipboard first holds
    // something else, then exactly the secret.
    grant_clipboard(&c, &base).await;
    set_clipboard_text(&c, "nothing copied yet").await;
    assert_eq!(clipboard_text(&c).await.as_deref(), Ok("nothing copied yet"), "the clipboard works");
    click(&c, "button[data-copy='new-token']").await;
    // The button says "Copied" for 1.5 s, so remember having seen it.
    let (deadline, mut said_copied) = (Instant::now() + PAGE_TIMEOUT, false);
    loop {
        let label = must(wait_for(&c, "button[data-copy='new-token']").await.text().await, "read the button");
        said_copied |= label == "Copied";
        let copied = clipboard_text(&c).await;
        if said_copied && copied.as_deref() == Ok(secret.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "Copy did not copy: button {label:?}, clipboard {copied:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    screenshot(&c, &shots, "token-secret.png").await;

    // The secret works from outside the browser, as CI would use it.
    let http = reqwest::Client::builder().no_proxy().user_agent(USER_AGENT).build().unwrap();
    let whoami = format!("{base}/api/v1/whoami");
    let response = http.get(&whoami).bearer_auth(&secret).send().await.expect("GET /api/v1/whoami");
    assert_eq!(response.status(), StatusCode::OK, "whoami with the new token");
    let me: Value = response.json().await.expect("whoami JSON");
    assert_eq!(me["token"]["name"], TOKEN_NAME, "{me}");
    assert_eq!(me["token"]["preview"], preview.as_str(), "{me}");
    let mut permissions: Vec<&str> =
        me["token"]["permissions"].as_array().expect("permissions").iter().filter_map(Value::as_str).collect();
    permissions.sort_unstable();
    assert_eq!(permissions, ["projects:read", "runs:read"], "{me}");
    assert_eq!(me["user"]["email"], ADMIN_EMAIL, "{me}");
    let expires = OffsetDateTime::parse(me["token"]["expires_at"].as_str().expect("expires_at"), &Rfc3339).unwrap();
    let days = (expires - OffsetDateTime::now_utc()).as_seconds_f64() / 86_400.0;
    assert!((29.99..=30.01).contains(&days), "30 days were chosen, the token expires in {days:.3} days");

    // "Last used" catches up within seconds (the server flushes every 2 s).
    must(c.goto(&format!("{base}/settings/tokens")).await, "open /settings/tokens");
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let row = token_row(&c, TOKEN_NAME).await;
        if cell(&row, "Last used", "text") != "never" {
            break row;
        }
        assert!(Instant::now() < deadline, "\"Last used\" still says never after 10 s: {row}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        must(c.refresh().await, "reload /settings/tokens");
    };
    assert_eq!(cell(&row, "Token", "text"), preview, "{row}");
    assert_eq!(cell(&row, "Permissions", "text"), "projects:read runs:read", "{row}");
    assert_eq!(cell(&row, "Projects", "text"), "All projects", "{row}");
    assert_eq!(cell(&row, "Status", "text"), "active", "{row}");
    assert_eq!(cell(&row, "Last used", "text"), "just now", "{row}");
    let used = cell(&row, "Last used", "title");
    assert!(used.contains(USER_AGENT) && used.contains("127.0.0.1"), "the tooltip names the caller: {row}");
    assert_styled(&c).await;
    assert_secret_absent(&c, &secret, &preview).await;
    screenshot(&c, &shots, "tokens-list.png").await;

    // Revoke, through the confirm() dialog the form opens.
    let xpath = format!("//table[contains(@class,'tokens')]//tr[td[1]/strong[normalize-space()='{TOKEN_NAME}']]");
    let tr = must(c.find(Locator::XPath(&xpath)).await, "find the token's row");
    let revoke = must(tr.find(Locator::Css("form[action$='/revoke'] button[type='submit']")).await, "find Revoke");
    must(revoke.click().await, "click Revoke");
    let question = alert_text(&c).await;
    assert!(question.starts_with(&format!("Revoke {TOKEN_NAME}?")), "the confirmation asks: {question:?}");
    must(c.accept_alert().await, "accept the confirmation");
    let notice = must(wait_for(&c, ".flash.ok").await.text().await, "read the notice");
    assert_eq!(notice, "Token revoked; it stops working immediately.");
    wait_for_path(&c, "/settings/tokens").await;
    let row = token_row(&c, TOKEN_NAME).await;
    assert_eq!(cell(&row, "Status", "text"), "revoked", "{row}");
    assert_eq!(row["class"], "inactive", "a revoked row is greyed out: {row}");
    assert_eq!(cell(&row, "Actions", "text"), "", "a revoked token has nothing left to do: {row}");
    assert_secret_absent(&c, &secret, &preview).await;
    screenshot(&c, &shots, "tokens-revoked.png").await;

    // The API refuses the secret at once.
    let response = http.get(&whoami).bearer_auth(&secret).send().await.expect("GET /api/v1/whoami");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "whoami with the revoked token");
    let refusal: Value = response.json().await.expect("error JSON");
    assert_eq!(refusal["error"], "token_revoked", "{refusal}");

    // The admin's views: all tokens (with ours, revoked) and the expiration policy.
    click(&c, "nav.subnav a[href='/settings/admin/tokens']").await;
    wait_for_path(&c, "/settings/admin/tokens").await;
    let row = token_row(&c, TOKEN_NAME).await;
    assert_eq!(cell(&row, "Owner", "text"), "Ada Admin\nAll projects", "{row}");
    assert_eq!(cell(&row, "Status", "text"), "revoked", "{row}");
    assert_text(&c, &["All tokens", "Secrets are never shown"]).await;
    assert_styled(&c).await;
    assert_secret_absent(&c, &secret, &preview).await;
    screenshot(&c, &shots, "admin-tokens.png").await;

    click(&c, "nav.subnav a[href='/settings/admin/policy']").await;
    wait_for_path(&c, "/settings/admin/policy").await;
    wait_for(&c, "form[action='/settings/admin/policy']").await;
    assert_text(&c, &["Global Token Expiration Policy", "Users choose", "Fixed:", "Save policy"]).await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "admin-policy.png").await;
}

/// The row of the token named `name` in the page's token table, as
/// `{"class": …, "<column heading>": {"text": …, "title": …}}` (`title` is
/// the first tooltip in the cell, if any).
async fn token_row(c: &Client, name: &str) -> Value {
    let script = "const [name] = arguments;\
        const table = document.querySelector('table.tokens');\
        if (!table) return null;\
        const heads = [...table.tHead.rows[0].cells].map(th => th.textContent.trim());\
        const row = [...table.tBodies[0].rows]\
            .find(tr => (tr.querySelector('td strong') || {}).textContent === name);\
        if (!row) return null;\
        const cells = [...row.cells].map((td, i) => [heads[i], {\
            text: td.innerText.trim(),\
            title: (td.querySelector('[title]') || { title: '' }).title }]);\
        return Object.fromEntries([['class', row.className], ...cells]);";
    let row = must(c.execute(script, vec![json!(name)]).await, "read the token table");
    if row.is_null() {
        panic!("no row for {name:?} in the token table {}", describe(c).await);
    }
    row
}

fn cell<'a>(row: &'a Value, column: &str, what: &str) -> &'a str {
    row[column][what].as_str().unwrap_or_else(|| panic!("no {what} for column {column:?} in {row}"))
}

/// The text of the JavaScript dialog that should be open by now.
async fn alert_text(c: &Client) -> String {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        match c.get_alert_text().await {
            Ok(text) => return text,
            Err(error) if Instant::now() > deadline => panic!("no confirmation dialog opened: {error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The page (HTML source, not just its text) holds the preview but no part
/// of the secret after its `prc_pat_` prefix.
async fn assert_secret_absent(c: &Client, secret: &str, preview: &str) {
    let source = must(c.source().await, "read the page source");
    assert!(!source.contains(&secret["prc_pat_".len()..]), "the secret is in the source of {}", describe(c).await);
    assert!(source.contains(preview), "the preview {preview} is not on {}", describe(c).await);
}
