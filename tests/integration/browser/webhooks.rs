//! A webhook in a real browser: from a project's settings to its Webhooks
//! page, added with two events, its secret copied from the page it is
//! shown on once, a test event sent, and the delivery seen on the
//! webhook's page as the receiver got it, signed with that secret.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::Client;

use super::harness::{
    assert_styled, assert_text, click, describe, fill, log_in_as_admin, must, screenshot, submit, wait_for,
    wait_for_path, PAGE_TIMEOUT,
};
use crate::api_helpers::{create_admin, create_project};
use crate::helpers::{SpawnOptions, TestApp};
use crate::webhooks::receiver::Receiver;

const PAGE: &str = "/projects/web/settings/webhooks";

#[tokio::test]
async fn a_webhook_is_added_pinged_and_its_delivery_seen_in_a_real_browser() {
    let receiver = Receiver::start();
    let args = vec!["--webhook-allow-hosts".to_string(), "loopback".to_string()];
    let app = TestApp::spawn_with(SpawnOptions { args, ..Default::default() }).await;
    create_admin(&app);
    create_project(&app, "web");
    let peer = receiver.clone();
    super::harness::run_in_browser(&app, "webhooks", move |c, base, shots| flow(c, base, shots, peer)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one test event: {got:#?}");
    assert_eq!(got[0].path, "/ci-events");
    assert_eq!(got[0].verified, Some(true), "signed with the secret the page showed");
    assert_eq!(got[0].json()["type"], "webhook.ping");
}

async fn flow(c: Client, base: String, shots: PathBuf, receiver: Receiver) {
    log_in_as_admin(&c, &base).await;
    must(c.goto(&format!("{base}/projects/web/settings")).await, "open the settings");
    click(&c, "#webhooks a[href$='/settings/webhooks']").await;
    wait_for_path(&c, PAGE).await;
    assert_styled(&c).await;
    assert_text(&c, &["No webhooks", "Add a webhook"]).await;

    fill(&c, "form.webhook-form input[name='url']", &receiver.url("/ci-events")).await;
    click(&c, "form.webhook-form input[name='event'][value='test.flaky']").await;
    screenshot(&c, &shots, "webhooks-form.png").await;
    submit(&c, "form.webhook-form").await;
    let field = wait_for(&c, "#new-secret").await;
    let secret = must(field.prop("value").await, "read the secret").unwrap_or_default();
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.expect_secret(&secret);
    assert_text(&c, &["Webhook added", "Copy the secret now", "run.finished", "test.flaky"]).await;
    screenshot(&c, &shots, "webhooks-secret.png").await;

    click(&c, "a.button[href*='/settings/webhooks/']").await;
    wait_for(&c, "#deliveries").await;
    assert_text(&c, &["No deliveries yet."]).await;
    click(&c, "form[action$='/ping'] button[type='submit']").await;
    wait_for(&c, "table.deliveries").await;
    assert_text(&c, &["Test event queued"]).await;
    // The worker sends it apart from the page: reload until it shows as sent.
    let deadline = Instant::now() + PAGE_TIMEOUT;
    while c.find(fantoccini::Locator::Css("table.deliveries .badge.ok")).await.is_err() {
        assert!(Instant::now() < deadline, "the delivery never succeeded {}", describe(&c).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        must(c.refresh().await, "reload the webhook's page");
    }
    assert_text(&c, &["webhook.ping", "succeeded", "200"]).await;
    screenshot(&c, &shots, "webhooks-delivery.png").await;
}
