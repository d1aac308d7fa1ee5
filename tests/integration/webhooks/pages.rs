//! The webhooks pages over real HTTP with a session: Project Settings →
//! Webhooks and Settings → Webhooks add a webhook (its secret shown once,
//! never cached, and the one the receiver verifies with), refuse a bad
//! form keeping what was typed, send a test event, show the delivery,
//! redeliver, save (turned off, a webhook gets no test), make a new secret
//! and delete; every form checks the CSRF token, and every page and form
//! its permission.

use reqwest::StatusCode;
use serde_json::Value;

use super::{setup, Setup};
use crate::api_helpers::*;
use crate::helpers::*;

const PROJECT_PAGE: &str = "/projects/web/settings/webhooks";
const INSTANCE_PAGE: &str = "/settings/admin/webhooks";

/// The secret on a secret page.
fn secret_on(page: &str) -> String {
    let start = page.find("id=\"new-secret\" value=\"").expect("the secret field") + "id=\"new-secret\" value=\"".len();
    page[start..].split('"').next().unwrap().to_string()
}

async fn hooks(s: &Setup, api: &str) -> Vec<Value> {
    get(&s.app, api, &s.admin).await.expect(StatusCode::OK)["webhooks"].as_array().unwrap().clone()
}

/// Reloads webhook page `page` until it shows `needle` (the worker runs apart).
async fn page_showing(s: &Setup, session: &reqwest::Client, page: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..250 {
        last = s.app.get(session, page).await.text().await.unwrap();
        if last.contains(needle) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    panic!("{page} never showed {needle:?}:\n{last}");
}

#[tokio::test]
async fn a_project_webhook_is_added_pinged_redelivered_saved_and_deleted_from_its_pages() {
    let s = setup().await;
    let (session, _) = s.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let settings = s.app.get(&session, "/projects/web/settings").await.text().await.unwrap();
    assert!(settings.contains("No webhooks yet.") && settings.contains(PROJECT_PAGE), "linked from the settings");

    // A bad URL: 400 naming it, the form kept, nothing added.
    let fields = |url: &'static str| {
        vec![("url", url), ("format", "standard"), ("event", "run.finished"), ("event", "test.flaky")]
    };
    let refused = s.app.submit(&session, PROJECT_PAGE, PROJECT_PAGE, &fields("ftp://hooks.example.com/x")).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let text = refused.text().await.unwrap();
    assert!(text.contains("http") && text.contains("value=\"ftp://hooks.example.com/x\""), "{text}");
    assert!(text.contains("value=\"test.flaky\" checked"), "the ticked events stay ticked");
    let no_events = s.app.submit(&session, PROJECT_PAGE, PROJECT_PAGE, &[("url", "https://h.example.com/")]).await;
    assert_eq!(no_events.status(), StatusCode::BAD_REQUEST);
    assert!(no_events.text().await.unwrap().contains("at least one"));
    assert!(hooks(&s, "/api/v1/projects/web/webhooks").await.is_empty());

    // Added: the secret once, never cached; the receiver verifies with it.
    let url = s.receiver.url("/from-page");
    let added =
        s.app.submit(&session, PROJECT_PAGE, PROJECT_PAGE, &[("url", url.as_str()), ("event", "run.finished")]).await;
    assert_eq!(added.status(), StatusCode::OK);
    assert_eq!(added.headers()["cache-control"], "no-store");
    let page = added.text().await.unwrap();
    let secret = secret_on(&page);
    assert!(secret.starts_with("whsec_"), "{secret}");
    let listed = hooks(&s, "/api/v1/projects/web/webhooks").await;
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let hook_page = format!("{PROJECT_PAGE}/{id}");
    assert!(page.contains(&format!("href=\"{hook_page}\"")));
    let shown = s.app.get(&session, &hook_page).await.text().await.unwrap();
    assert!(!shown.contains(&secret), "the webhook's page never shows the secret");
    let listing = s.app.get(&session, PROJECT_PAGE).await.text().await.unwrap();
    let shown = url.rsplit_once('/').unwrap().0.to_string() + "/…page";
    assert!(listing.contains(&shown) && !listing.contains(&url), "listed redacted: {shown}");

    // Send a test event: the receiver gets it signed, the page shows it.
    s.receiver.expect_secret(&secret);
    let pinged = s.app.submit(&session, &hook_page, &format!("{hook_page}/ping"), &[]).await;
    assert_eq!(pinged.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&pinged), format!("{hook_page}?notice=webhook_pinged#deliveries"));
    let got = s.receiver.wait_for(1).await;
    assert_eq!(got[0].verified, Some(true));
    assert_eq!(got[0].json()["type"], "webhook.ping");
    let shown = page_showing(&s, &session, &hook_page, "badge ok\">succeeded").await;
    assert!(shown.contains("<code>webhook.ping</code>") && shown.contains("<code>200</code>"), "{shown}");
    let listing = s.app.get(&session, PROJECT_PAGE).await.text().await.unwrap();
    assert!(listing.contains("badge ok\">succeeded"), "the list shows the last delivery");

    // Redeliver: the same message again.
    let delivery = shown.split("id=\"delivery-").nth(1).unwrap().split('"').next().unwrap().to_string();
    let again = s.app.submit(&session, &hook_page, &format!("{hook_page}/deliveries/{delivery}/redeliver"), &[]).await;
    assert_eq!(location(&again), format!("{hook_page}?notice=delivery_queued#deliveries"));
    let got = s.receiver.wait_for(2).await;
    assert_eq!(got[1].header("webhook-id"), got[0].header("webhook-id"));

    // Save: turned off, Slack format, only changes.
    let saved = s
        .app
        .submit(
            &session,
            &hook_page,
            &hook_page,
            &[("url", url.as_str()), ("event", "run.finished"), ("format", "slack"), ("only_changes", "on")],
        )
        .await;
    assert_eq!(location(&saved), format!("{hook_page}?notice=webhook_updated"));
    let hook = &hooks(&s, "/api/v1/projects/web/webhooks").await[0];
    assert_eq!((hook["active"].as_bool(), hook["format"].as_str()), (Some(false), Some("slack")));
    assert_eq!(hook["only_changes"], true);
    // Turned off, it gets nothing: no test button, and a ping is refused.
    let off = s.app.get(&session, &hook_page).await.text().await.unwrap();
    assert!(!off.contains("/ping\"") && !off.contains("/redeliver\"") && off.contains("turned off"), "{off}");
    let ping = format!("/api/v1/projects/web/webhooks/{id}/ping");
    post(&s.app, &ping, &s.admin, serde_json::json!({})).await.expect_code(StatusCode::CONFLICT, "webhook_inactive");
    let bad_save = s.app.submit(&session, &hook_page, &hook_page, &[("url", "nope"), ("event", "run.finished")]).await;
    assert_eq!(bad_save.status(), StatusCode::BAD_REQUEST);
    assert!(bad_save.text().await.unwrap().contains("value=\"nope\""), "the edit form keeps what was typed");

    // A new secret, shown once and different.
    let rotated = s.app.submit(&session, &hook_page, &format!("{hook_page}/rotate-secret"), &[]).await;
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let new_secret = secret_on(&rotated.text().await.unwrap());
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    let deleted = s.app.submit(&session, &hook_page, &format!("{hook_page}/delete"), &[]).await;
    assert_eq!(location(&deleted), format!("{PROJECT_PAGE}?notice=webhook_deleted"));
    assert!(hooks(&s, "/api/v1/projects/web/webhooks").await.is_empty());
    assert_eq!(s.app.get(&session, &hook_page).await.status(), StatusCode::NOT_FOUND);
    let events = audit_events(&s.app, &s.admin, "").await;
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["webhook.created", "webhook.updated", "webhook.secret_rotated", "webhook.deleted"] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
}

#[tokio::test]
async fn the_instance_page_is_for_user_admins_and_every_form_needs_its_csrf_token() {
    let s = setup().await;
    let (admin, _) = s.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let list = s.app.get(&admin, INSTANCE_PAGE).await.text().await.unwrap();
    assert!(list.contains("No webhooks") && list.contains("every project"), "{list}");
    assert!(list.contains("href=\"/settings/admin/webhooks\" aria-current=\"page\""), "in the main navigation");
    let url = s.receiver.url("/instance");
    let fields = [("url", url.as_str()), ("event", "token.revoked"), ("event", "token.expiring")];
    let added = s.app.submit(&admin, INSTANCE_PAGE, INSTANCE_PAGE, &fields).await;
    assert_eq!(added.status(), StatusCode::OK);
    let instance = hooks(&s, "/api/v1/webhooks").await;
    assert_eq!(instance[0]["events"], serde_json::json!(["token.expiring", "token.revoked"]));
    assert!(hooks(&s, "/api/v1/projects/web/webhooks").await.is_empty(), "not a project's");
    let id = instance[0]["id"].as_str().unwrap();
    let hook_page = format!("{INSTANCE_PAGE}/{id}");
    assert_eq!(s.app.get(&admin, &hook_page).await.status(), StatusCode::OK);
    assert_eq!(
        s.app.get(&admin, &format!("{PROJECT_PAGE}/{id}")).await.status(),
        StatusCode::NOT_FOUND,
        "an instance webhook is no project's"
    );

    // Without the CSRF token: 403, nothing changed.
    let delivery = post(&s.app, &format!("/api/v1/webhooks/{id}/ping"), &s.admin, serde_json::json!({}))
        .await
        .expect(StatusCode::ACCEPTED)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let actions = [
        INSTANCE_PAGE.to_string(),
        hook_page.clone(),
        format!("{hook_page}/ping"),
        format!("{hook_page}/rotate-secret"),
        format!("{hook_page}/deliveries/{delivery}/redeliver"),
        format!("{hook_page}/delete"),
    ];
    for action in &actions {
        let response = admin.post(s.app.url(action)).form(&fields).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "POST {action}");
    }
    let unchanged = &hooks(&s, "/api/v1/webhooks").await;
    assert_eq!((unchanged.len(), &unchanged[0]["events"]), (1, &instance[0]["events"]));

    // A member manages neither the project's nor the instance's webhooks.
    let member = s.app.user_session(&admin, "mia@example.com", "member").await;
    for page in [INSTANCE_PAGE.to_string(), hook_page.clone(), PROJECT_PAGE.to_string()] {
        assert_eq!(s.app.get(&member, &page).await.status(), StatusCode::FORBIDDEN, "GET {page}");
    }
    let csrf = s.app.csrf(&member, "/projects").await;
    for action in &actions {
        let mut form = fields.to_vec();
        form.push(("csrf_token", csrf.as_str()));
        let response = member.post(s.app.url(action)).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "a member's POST {action}");
    }
    let nav = s.app.get(&member, "/projects").await.text().await.unwrap();
    assert!(!nav.contains(INSTANCE_PAGE), "no Webhooks link for a member");
    assert_eq!(hooks(&s, "/api/v1/webhooks").await.len(), 1);
}
