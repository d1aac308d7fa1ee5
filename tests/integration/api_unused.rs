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
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = TestApp::spawn_with(SpawnOptions { data_dir: Some(data.clone()), ..Default::default() }).await;
    let admin = admin_token(&app).await;
    let stale = cli_token(&app, ADMIN_EMAIL, "stale", "runs:read", &[]);
    let fresh = cli_token(&app, ADMIN_EMAIL, "fresh", "runs:read", &[]);
    let stale_id = token_id(&app, &stale).await;
    let policy = json!({"revoke_unused_after_days": 30});
    put(&app, "/api/v1/settings/token-policy", &admin, policy).await.expect(StatusCode::OK);
    // Wait until this server has flushed the uses above, then age the stale token.
    poll(std::time::Duration::from_secs(10), "last use flushed", || async {
        let stale = token(&app, &admin, &stale_id).await;
        (!stale["last_used_at"].is_null()).then_some(())
    })
    .await;
    drop(app);
    // Moves the clock: the stale token was made and last used 31 days ago.
    let old = now_unix() - 31 * 86_400;
    let conn = rusqlite::Connection::open(data.join("proctor.db")).unwrap();
    conn.execute(
        "UPDATE tokens SET created_at = ?1, last_used_at = ?1 WHERE id = ?2",
        rusqlite::params![old, stale_id],
    )
    .unwrap();
    drop(conn);

    // The task runs when the server starts.
    let app = TestApp::spawn_with(SpawnOptions { data_dir: Some(data), ..Default::default() }).await;
    // Watch the admin's list, not the token itself: using it before the task
    // ran would rightly count as a use and keep it alive.
    poll(std::time::Duration::from_secs(10), "stale token revoked", || async {
        (token(&app, &admin, &stale_id).await["status"] == "revoked").then_some(())
    })
    .await;
    whoami(&app, &stale).await.expect_401("token_revoked", "API key revoked");
    whoami(&app, &fresh).await.expect(StatusCode::OK);
    let events = audit_events(&app, &admin, "&action=token.expired_unused").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["target"]["id"], stale_id);
    assert_eq!(events[0]["actor"]["type"], "system");
}
