//! Expiry warnings (API.md section 12): housekeeping finds personal tokens
//! and keys entering their 7-day or 1-day horizon and queues, once per
//! horizon, the `token.expiring` event and, with `--smtp-url`, the mail to
//! whoever should hear of it.

use serde_json::json;

use crate::db::tokens::Token;
use crate::db::{self, Tx};
use crate::ops::tokens::{load, token_event};
use crate::ops::OpsError;

/// Expiry warnings queued per housekeeping pass; more wait for the next.
const WARNING_BATCH: u32 = 500;

/// Queues `token.expiring` for each personal token or key entering its
/// 7-day or 1-day horizon, once per horizon (a token made inside a horizon
/// gets only the nearest warning). A key's warning reaches its project's
/// webhooks; every warning the instance's. With `mail` (the server has
/// `--smtp-url`), the owner gets a mail too: a user their own; for a
/// service account's token or a key, every user who may manage users.
/// `base` is the server's public URL for the mail's link. Returns how many.
pub fn warn_expiring(tx: &Tx, now: i64, mail: bool, base: Option<&str>) -> Result<usize, OpsError> {
    let due = db::tokens::expiring_unwarned(tx, now, WARNING_BATCH)?;
    for (id, days) in &due {
        let token = load(tx, id)?;
        db::tokens::record_warning(tx, id, *days, now)?;
        if mail {
            mail_warning(tx, &token, *days, now, base)?;
        }
        let project = token.project.as_ref().map(|(pid, _)| *pid);
        crate::ops::webhooks::emit(
            tx,
            "token.expiring",
            project,
            || Ok(true),
            || {
                let mut data = token_event(&token, "expiring");
                data["days"] = json!(days);
                Ok(data)
            },
        )?;
    }
    Ok(due.len())
}

/// Queues the expiry mail of `token` to whoever should hear of it.
fn mail_warning(tx: &Tx, token: &Token, days: u32, now: i64, base: Option<&str>) -> Result<(), OpsError> {
    let owner = token.owner_id().map(|id| db::accounts::get(tx, id)).transpose()?.flatten();
    let recipients = match owner.as_ref().and_then(|o| o.email.clone()) {
        Some(email) => vec![email],
        None => db::accounts::user_admin_emails(tx)?,
    };
    let permissions = token.permissions.names();
    let expires_at = token.expires_at.map(crate::domain::time::rfc3339_unix).unwrap_or_default();
    let what = crate::domain::expiry_mail::ExpiringToken {
        name: &token.name,
        preview: &token.preview,
        kind: token.kind.as_str(),
        permissions: &permissions,
        project: token.project.as_ref().map(|(_, slug)| slug.as_str()),
        expires_at: &expires_at,
        days,
    };
    let (subject, body) = crate::domain::expiry_mail::expiry_mail(&what, base);
    for to in recipients {
        db::mail::enqueue(tx, &to, &subject, &body, now)?;
    }
    Ok(())
}
