//! Flows with the keyboard alone, pressing Tab, Enter and Space only (no
//! clicks, no filling fields by script), with the focus visible at every
//! step: the token flow (the skip link first, log in, reach Access tokens,
//! generate a token, follow a refusal's error to its field, copy the
//! token, rotate it, revoke it), the first run's setup and a project API
//! key, quarantining a flaky
//! test, and adding a webhook.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::Client;
use serde_json::{json, Value};

use super::harness::{
    clipboard_text, describe, grant_clipboard, must, run_in_browser, screenshot, set_clipboard_text, wait_for,
    wait_for_path, PAGE_TIMEOUT,
};
use crate::api_helpers::{api, cli_token, create_admin, create_project, send};
use crate::helpers::{SpawnOptions, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::webhooks::receiver::Receiver;
use reqwest::{Method, StatusCode};

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const SPACE: &str = " ";

#[tokio::test]
async fn the_token_flow_works_with_the_keyboard_alone() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    run_in_browser(&app, "keyboard", keyboard_flow).await;
}

async fn keyboard_flow(c: Client, base: String, shots: PathBuf) {
    log_in(&c, &base).await;

    // The skip link comes first, shows itself, and moves the focus to the
    // page's content.
    tab_to(&c, "a.skip-link", 1).await;
    let shown =
        "const r = document.activeElement.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight;";
    wait_until(&c, "the focused skip link on screen", shown).await;
    press(&c, ENTER).await;
    wait_until(&c, "the focus in <main>", "return document.activeElement.id === 'main';").await;

    // Back to the top: the main navigation's Access tokens.
    must(c.goto(&format!("{base}/projects")).await, "open /projects");
    wait_for(&c, "main").await;
    tab_to(&c, "nav.mainnav a[href='/settings/tokens']", 8).await;
    press(&c, ENTER).await;
    wait_for_path(&c, "/settings/tokens").await;
    tab_to(&c, "main a[href='/settings/tokens/new']", 20).await;
    press(&c, ENTER).await;
    wait_for_path(&c, "/settings/tokens/new").await;

    // The name field has the focus already. Sent without a permission, the
    // form comes back with the error focused; its link leads to the
    // permissions, and one is ticked with Space.
    wait_until(&c, "the name field focused", "return document.activeElement.name === 'name';").await;
    typed(&c, "keyboard token").await;
    tab_to(&c, "form[action='/settings/tokens'] button[type='submit']", 40).await;
    press(&c, ENTER).await;
    wait_for(&c, ".flash.err").await;
    wait_until(&c, "the error focused", "return document.activeElement.id === 'form-error';").await;
    tab_to(&c, "#form-error a[href='#invalid-field']", 1).await;
    press(&c, ENTER).await;
    let on_permissions = "const e = document.activeElement;
        return e.tagName === 'FIELDSET' && e.id === 'invalid-field' && e.querySelector('legend').textContent === 'Permissions'
            && e.getAttribute('aria-describedby') === 'form-error';";
    wait_until(&c, "the error's link focusing the permissions", on_permissions).await;
    screenshot(&c, &shots, "keyboard-form-error.png").await;
    // What a screen reader is given (the accessibility tree's outline, written by `screenshot`).
    let read = std::fs::read_to_string(shots.join("keyboard-form-error.ax.txt")).expect("the outline");
    for line in
        ["group: \"Permissions\" — Choose at least one permission.", "link: \"Choose at least one permission.\""]
    {
        assert!(read.lines().any(|l| l == line), "a screen reader is told {line:?}; it got:\n{read}");
    }
    tab_to(&c, "input[name='permission'][value='runs:read']", 30).await;
    press(&c, SPACE).await;
    let ticked = must(c.execute("return document.activeElement.checked;", vec![]).await, "read the checkbox");
    assert_eq!(ticked, json!(true), "Space ticks the permission {}", describe(&c).await);
    tab_to(&c, "form[action='/settings/tokens'] button[type='submit']", 40).await;
    press(&c, ENTER).await;
    wait_for(&c, "input#new-token[readonly]").await;

    // Copy with the keyboard.
    grant_clipboard(&c, &base).await;
    set_clipboard_text(&c, "nothing copied yet").await;
    tab_to(&c, "button[data-copy='new-token']", 30).await;
    press(&c, ENTER).await;
    let secret = secret_field(&c).await;
    let deadline = Instant::now() + PAGE_TIMEOUT;
    while clipboard_text(&c).await.as_deref() != Ok(secret.as_str()) {
        assert!(Instant::now() < deadline, "Enter on Copy did not copy the token");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    screenshot(&c, &shots, "keyboard-secret.png").await;

    // Rotate: open the disclosure, keep the default grace, confirm.
    must(c.goto(&format!("{base}/settings/tokens")).await, "open the token list");
    wait_for(&c, "table.tokens").await;
    tab_to(&c, "details.rotate summary", 30).await;
    press(&c, ENTER).await;
    tab_to(&c, "form[action$='/rotate'] button[type='submit']", 3).await;
    press(&c, ENTER).await;
    confirm(&c).await;
    wait_for(&c, "input#new-token[readonly]").await;
    assert_ne!(secret_field(&c).await, secret, "a new secret");

    // Revoke (the browser's own confirmation dialog accepted through WebDriver).
    must(c.goto(&format!("{base}/settings/tokens")).await, "open the token list");
    wait_for(&c, "table.tokens").await;
    tab_to(&c, "form[action$='/revoke'] button[type='submit']", 40).await;
    press(&c, ENTER).await;
    confirm(&c).await;
    let notice = must(wait_for(&c, ".flash.ok").await.text().await, "read the notice");
    assert_eq!(notice, "Token revoked; it stops working immediately.");
    screenshot(&c, &shots, "keyboard-revoked.png").await;
}

#[tokio::test]
async fn quarantining_a_flaky_test_works_with_the_keyboard_alone() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, "shop");
    let token = cli_token(&app, ADMIN_EMAIL, "ci", "runs:write,runs:read", &[]);
    let flaky = super::quarantine::report(r#"<flakyFailure message="card form did not load"/>"#);
    let path = "/api/v1/projects/shop/results?branch=main&name=ci&commit=c1";
    let request = api(&app, Method::POST, path, &token).header("content-type", "application/xml").body(flaky);
    send(request).await.expect(StatusCode::CREATED);
    run_in_browser(&app, "keyboard-quarantine", |c, base, shots| async move {
        log_in(&c, &base).await;
        must(c.goto(&format!("{base}/projects/shop/flaky")).await, "open the flaky tests");
        wait_for(&c, "table.flaky").await;
        tab_to(&c, "table.flaky a[href*='/quarantine/new?test_id=']", 40).await;
        press(&c, ENTER).await;
        wait_for(&c, "form input[name='reason']").await;
        tab_to(&c, "form input[name='reason']", 40).await;
        typed(&c, "card form races the payment iframe").await;
        tab_to(&c, "form[action$='/quarantine'] button[type='submit']", 20).await;
        press(&c, ENTER).await;
        wait_for_path(&c, "/projects/shop/quarantine").await;
        let text = must(wait_for(&c, "main").await.text().await, "read the page");
        assert!(text.contains("card form races the payment iframe"), "the rule is listed {}", describe(&c).await);
        screenshot(&c, &shots, "keyboard-quarantined.png").await;
    })
    .await;
}

#[tokio::test]
async fn adding_a_webhook_works_with_the_keyboard_alone() {
    let receiver = Receiver::start();
    let args = vec!["--webhook-allow-hosts".to_string(), "loopback".to_string()];
    let app = TestApp::spawn_with(SpawnOptions { args, ..Default::default() }).await;
    create_admin(&app);
    create_project(&app, "web");
    let url = receiver.url("/ci-events");
    run_in_browser(&app, "keyboard-webhook", |c, base, shots| async move {
        log_in(&c, &base).await;
        must(c.goto(&format!("{base}/projects/web/settings/webhooks")).await, "open the webhooks");
        wait_for(&c, "form.webhook-form").await;
        tab_to(&c, "form.webhook-form input[name='url']", 40).await;
        typed(&c, &url).await;
        tab_to(&c, "form.webhook-form input[name='event'][value='test.flaky']", 20).await;
        press(&c, SPACE).await;
        tab_to(&c, "form.webhook-form button[type='submit']", 20).await;
        press(&c, ENTER).await;
        let field = wait_for(&c, "#new-secret").await;
        let secret = must(field.prop("value").await, "read the secret").unwrap_or_default();
        assert!(secret.starts_with("whsec_"), "{secret}");
        let text = must(wait_for(&c, "main").await.text().await, "read the page");
        assert!(text.contains("test.flaky"), "the event ticked with Space {}", describe(&c).await);
        screenshot(&c, &shots, "keyboard-webhook.png").await;
    })
    .await;
}

#[tokio::test]
async fn setting_up_and_creating_a_project_key_work_with_the_keyboard_alone() {
    let app = TestApp::spawn().await;
    create_project(&app, "web");
    run_in_browser(&app, "keyboard-setup", |c, base, shots| async move {
        // First run: the email field has the focus; the rest by Tab.
        must(c.goto(&format!("{base}/setup")).await, "open /setup");
        wait_until(&c, "the email field focused", "return document.activeElement.name === 'email';").await;
        typed(&c, ADMIN_EMAIL).await;
        for (field, value) in
            [("name", "Ada Admin"), ("password", ADMIN_PASSWORD), ("password_confirm", ADMIN_PASSWORD)]
        {
            tab_to(&c, &format!("input[name='{field}']"), 1).await;
            typed(&c, value).await;
        }
        tab_to(&c, "form[action='/setup'] button[type='submit']", 1).await;
        press(&c, ENTER).await;
        wait_for_path(&c, "/projects").await;

        // A project API key: name, one permission ticked with Space, create.
        tab_to(&c, "main a[href='/projects/web']", 30).await;
        press(&c, ENTER).await;
        wait_for_path(&c, "/projects/web").await;
        tab_to(&c, "main a[href='/projects/web/settings']", 40).await;
        press(&c, ENTER).await;
        wait_for_path(&c, "/projects/web/settings").await;
        tab_to(&c, "form.key-form input[name='name']", 40).await;
        typed(&c, "keyboard upload").await;
        tab_to(&c, "form.key-form input[name='permission'][value='runs:write']", 20).await;
        press(&c, SPACE).await;
        tab_to(&c, "form.key-form button[type='submit']", 20).await;
        press(&c, ENTER).await;
        let field = wait_for(&c, "input#new-token[readonly]").await;
        let secret = must(field.prop("value").await, "read the secret").unwrap_or_default();
        assert!(secret.starts_with("prc_key_"), "a project key {}", describe(&c).await);
        screenshot(&c, &shots, "keyboard-key.png").await;
    })
    .await;
}

/// Waits for the confirmation dialog a form opens, and accepts it.
async fn confirm(c: &Client) {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    while c.get_alert_text().await.is_err() {
        assert!(Instant::now() < deadline, "no confirmation dialog opened {}", describe(c).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    must(c.accept_alert().await, "accept the confirmation");
}

/// Logs in as the admin from `/login`, typing (the email field has the
/// focus when the page opens).
async fn log_in(c: &Client, base: &str) {
    must(c.goto(&format!("{base}/login")).await, "open /login");
    wait_for(c, "form[action='/login']").await;
    wait_until(c, "the email field focused", "return document.activeElement.name === 'email';").await;
    typed(c, ADMIN_EMAIL).await;
    tab_to(c, "input[name='password']", 2).await;
    typed(c, ADMIN_PASSWORD).await;
    press(c, ENTER).await;
    wait_for_path(c, "/projects").await;
}

/// Presses the keys of `keys` one after the other, as a keyboard does
/// (WebDriver actions: to the page, wherever the focus is).
async fn press(c: &Client, keys: &str) {
    let mut actions = KeyActions::new("keyboard".to_string());
    for key in keys.chars() {
        actions = actions.then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    }
    must(c.perform_actions(actions).await, "press keys");
}

/// Types `text` into the focused field.
async fn typed(c: &Client, text: &str) {
    press(c, text).await;
}

/// Presses Tab until the focus is on `css` (at most `max` times), checking
/// at every stop that the focus is visible: an outline or a box shadow (or
/// nowhere: the document itself, between its last element and its first).
async fn tab_to(c: &Client, css: &str, max: usize) {
    let script = "const e = document.activeElement, s = getComputedStyle(e);
        const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
        return {matches: e.matches(arguments[0]), visible: e === document.body || outline || s.boxShadow !== 'none',
                what: e.tagName.toLowerCase() + (e.name ? `[name=${e.name}]` : '') + ' ' + (e.textContent || e.value || '').trim().slice(0, 40),
                style: `${s.outlineStyle} ${s.outlineWidth} ${s.boxShadow} ${s.display} ${e.matches(':focus')} ${e.matches(':focus-visible')}`};";
    let mut seen = Vec::new();
    for _ in 0..max {
        press(c, TAB).await;
        let focus: Value = must(c.execute(script, vec![json!(css)]).await, "look at the focus");
        let what = focus["what"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            focus["visible"],
            json!(true),
            "the focus on {what:?} ({}) is not visible {}",
            focus["style"],
            describe(c).await
        );
        if focus["matches"] == json!(true) {
            return;
        }
        seen.push(what);
    }
    panic!("{max} Tabs did not reach `{css}`; the focus went to {seen:?} {}", describe(c).await);
}

async fn wait_until(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    while must(c.execute(script, vec![]).await, what) != json!(true) {
        assert!(Instant::now() < deadline, "never {what} {}", describe(c).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn secret_field(c: &Client) -> String {
    let field = wait_for(c, "input#new-token[readonly]").await;
    must(field.prop("value").await, "read the secret").unwrap_or_default()
}
