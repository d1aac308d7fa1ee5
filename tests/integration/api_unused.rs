//! The policy's `revoke_unused_after_days`: the background task revokes
//! tokens unused for that long (it runs at start and every 10 minutes) and
//! the audit log says so.

use reqwest::StatusCode;
use serde_json::json;

use crate::api_helpers::*;
use crate::helpers::*;

/// The token `id` as its owner's list (`GET /api/v1/tokens`) shows it.
async fn token(app: &TestApp, admin: &str, id: &str) -> serde_json::Value {
    list_all(app, admin, "/api/v1/tokens", "tokens").await.into_iter().find(|t| t["id"] == id).expect("listed")
}

#[tokio::test]
async fn tokens_unused_past_the_policy_are_revoked_and_audited() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    let stale = cli_token(&app, ADMIN_EMAIL, "stale", "runs:read", &[]);
    let stale_id = token_id(&app, &stale).await;
    let policy = json!({"revoke_unused_after_days": 30});
    put(&app, "/api/v1/settings/token-policy", &admin, policy).await.expect(StatusCode::OK);
    // Wait until this server has flushed the uses above.
    poll(std::time::Duration::from_secs(10), "last use flushed", || async {
        let stale = token(&app, &admin, &stale_id).await;
        (!stale["last_used_at"].is_null()).then_some(())
    })
    .await;

    // 31 days later, a token made that day is fresh; the task runs when the server starts.
    let month = later(31 * 86_400);
    let month_flags: Vec<&str> = month.iter().map(String::as_str).collect();
    let fresh = cli_token(&app, ADMIN_EMAIL, "fresh", "runs:read", &month_flags);
    let watcher = cli_token(&app, ADMIN_EMAIL, "watcher", ALL_PERMISSIONS, &month_flags);
    let app = app.restart_with(month).await;
    // Watch with a token of that day, not the stale one: using it before the
    // task ran would rightly count as a use and keep it alive.
    poll(std::time::Duration::from_secs(10), "stale token revoked", || async {
        (token(&app, &watcher, &stale_id).await["status"] == "revoked").then_some(())
    })
    .await;
    whoami(&app, &stale).await.expect_401("token_revoked", "API key revoked");
    whoami(&app, &admin).await.expect_401("token_revoked", "API key revoked");
    whoami(&app, &fresh).await.expect(StatusCode::OK);
    let events = audit_events(&app, &watcher, "&action=token.expired_unused").await;
    let stale_event = events.iter().find(|e| e["target"]["id"] == stale_id).expect("the stale token's event");
    assert_eq!(stale_event["actor"]["type"], "system");
    assert_eq!(events.len(), 2, "the stale token and the first admin token, both unused for 31 days: {events:?}");
}
