//! Webhooks (API.md section 12): endpoints of a project (`projects:manage`)
//! or of the instance (`users:admin`), created with a secret shown once,
//! changed, deleted, pinged and redelivered, each audited; and [`emit`],
//! which queues an event for every endpoint that hears it, in the
//! transaction of the change that caused it (the outbox).

use serde_json::{json, Value};

use crate::db::webhooks::{self, Delivery, Webhook};
use crate::db::{audit, Conn, Tx};
use crate::domain::audit::{AuditContext, Target};
use crate::domain::host_policy::HostPolicy;
use crate::domain::instance_key::InstanceKey;
use crate::domain::principal::Principal;
use crate::domain::time::unix_now;
pub use crate::domain::webhook::Scope;
use crate::domain::webhook::{self as rules, Format, WebhookError};
use crate::ops::{visible_project, OpsError, Refusal};

/// What `seal` and `open` of the instance key call a webhook secret.
pub const SECRET_PURPOSE: &[u8] = b"webhook-secret";

/// The project id the scope names, once `by` may manage its webhooks.
fn owner(conn: &Conn, by: &Principal, scope: &Scope) -> Result<Option<i64>, OpsError> {
    let project_id = match scope {
        Scope::Project(slug) => Some(visible_project(conn, by, slug)?.id),
        Scope::Instance => None,
    };
    by.require(scope.permission())?;
    Ok(project_id)
}

/// A webhook as asked for (all fields unchecked); `None`: unchanged on
/// update, the default on create.
#[derive(Debug, Default)]
pub struct Draft {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub format: Option<Format>,
    pub only_changes: Option<bool>,
    pub active: Option<bool>,
}

fn invalid(e: WebhookError) -> OpsError {
    Refusal::InvalidWebhook(e).into()
}

/// Checks the URL's syntax, and, when it names an address, that `policy`
/// allows it (a name is checked at every attempt, after resolving it).
fn checked_url(raw: &str, policy: &HostPolicy) -> Result<String, OpsError> {
    let url = rules::url(raw).map_err(invalid)?;
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
        _ => None,
    };
    if let Some(ip) = literal {
        if !policy.allows(&ip.to_string(), ip) {
            return Err(invalid(WebhookError::new(
                "url",
                format!("url points at {ip}, an address this server may not send to (see --webhook-allow-hosts)."),
            )));
        }
    }
    Ok(url.to_string())
}

impl Draft {
    /// The draft applied to `hook`, every given field checked.
    fn apply(self, hook: &mut Webhook, policy: &HostPolicy) -> Result<(), OpsError> {
        if let Some(url) = self.url {
            hook.url = checked_url(&url, policy)?;
        }
        if let Some(events) = self.events {
            hook.events = rules::events(&events).map_err(invalid)?.into_iter().map(str::to_string).collect();
        }
        if let Some(format) = self.format {
            hook.format = format;
        }
        if let Some(only) = self.only_changes {
            hook.only_changes = only;
        }
        if let Some(active) = self.active {
            hook.active = active;
            if active {
                hook.disabled_reason = None;
            }
        }
        Ok(())
    }
}

/// The audit log names a webhook by its URL redacted (a chat app's URL is
/// its credential).
fn target(hook: &Webhook) -> Target {
    Target::new("webhook", hook.id.clone(), rules::redacted_url(&hook.url))
}

fn details(hook: &Webhook) -> Value {
    json!({"url": rules::redacted_url(&hook.url), "events": hook.events, "format": hook.format,
           "only_changes": hook.only_changes, "active": hook.active})
}

/// A new webhook and its secret (shown this once).
pub fn create(
    tx: &Tx,
    key: &InstanceKey,
    policy: &HostPolicy,
    ctx: &AuditContext,
    by: &Principal,
    scope: &Scope,
    draft: Draft,
) -> Result<(Webhook, String), OpsError> {
    let project_id = owner(tx, by, scope)?;
    if draft.url.is_none() {
        return Err(invalid(WebhookError::new("url", "url is required.")));
    }
    let secret = rules::generate_secret();
    let mut hook = Webhook {
        id: uuid::Uuid::now_v7().to_string(),
        project_id,
        url: String::new(),
        events: vec!["run.finished".into()],
        format: Format::Standard,
        only_changes: false,
        active: true,
        disabled_reason: None,
        created_at: unix_now(),
        created_by: ctx.actor.clone(),
        sealed_secret: key.seal(SECRET_PURPOSE, secret.as_bytes()),
    };
    draft.apply(&mut hook, policy)?;
    webhooks::insert(tx, &hook)?;
    audit::record(tx, ctx, "webhook.created", Some(&target(&hook)), details(&hook))?;
    Ok((hook, secret))
}

pub fn list(
    conn: &Conn,
    by: &Principal,
    scope: &Scope,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Webhook>, OpsError> {
    let project_id = owner(conn, by, scope)?;
    Ok(webhooks::list(conn, project_id, after, limit)?)
}

/// Webhook `id` of the scope, for `by`.
pub fn get(conn: &Conn, by: &Principal, scope: &Scope, id: &str) -> Result<Webhook, OpsError> {
    let project_id = owner(conn, by, scope)?;
    Ok(webhooks::get(conn, project_id, id)?)
}

pub fn update(
    tx: &Tx,
    policy: &HostPolicy,
    ctx: &AuditContext,
    by: &Principal,
    scope: &Scope,
    id: &str,
    draft: Draft,
) -> Result<Webhook, OpsError> {
    let mut hook = get(tx, by, scope, id)?;
    draft.apply(&mut hook, policy)?;
    webhooks::update(tx, &hook)?;
    if !hook.active {
        webhooks::cancel_pending(tx, &hook.id, "the webhook was deactivated")?;
    }
    audit::record(tx, ctx, "webhook.updated", Some(&target(&hook)), details(&hook))?;
    Ok(hook)
}

/// A new secret for webhook `id` (shown this once); the old one stops signing at once.
pub fn rotate_secret(
    tx: &Tx,
    key: &InstanceKey,
    ctx: &AuditContext,
    by: &Principal,
    scope: &Scope,
    id: &str,
) -> Result<(Webhook, String), OpsError> {
    let mut hook = get(tx, by, scope, id)?;
    let secret = rules::generate_secret();
    hook.sealed_secret = key.seal(SECRET_PURPOSE, secret.as_bytes());
    webhooks::update(tx, &hook)?;
    audit::record(tx, ctx, "webhook.secret_rotated", Some(&target(&hook)), json!({}))?;
    Ok((hook, secret))
}

pub fn delete(tx: &Tx, ctx: &AuditContext, by: &Principal, scope: &Scope, id: &str) -> Result<(), OpsError> {
    let hook = get(tx, by, scope, id)?;
    webhooks::delete(tx, &hook.id)?;
    audit::record(tx, ctx, "webhook.deleted", Some(&target(&hook)), json!({"url": rules::redacted_url(&hook.url)}))?;
    Ok(())
}

/// A webhook's deliveries, newest first.
pub fn deliveries(
    conn: &Conn,
    by: &Principal,
    scope: &Scope,
    id: &str,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Delivery>, OpsError> {
    let hook = get(conn, by, scope, id)?;
    Ok(webhooks::deliveries(conn, &hook.id, before, limit)?)
}

fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// Webhook `id` of the scope, refused when it is turned off (it gets nothing).
fn active(conn: &Conn, by: &Principal, scope: &Scope, id: &str) -> Result<Webhook, OpsError> {
    let hook = get(conn, by, scope, id)?;
    if !hook.active {
        return Err(Refusal::WebhookInactive.into());
    }
    Ok(hook)
}

/// Queues a `webhook.ping` to webhook `id`, whatever its events; returns the delivery.
pub fn ping(tx: &Tx, by: &Principal, scope: &Scope, id: &str) -> Result<Delivery, OpsError> {
    let hook = active(tx, by, scope, id)?;
    let data = json!({"webhook": hook.id, "url": hook.url});
    let now = unix_now();
    let delivery = webhooks::enqueue(tx, &hook.id, &new_message_id(), "webhook.ping", &data.to_string(), now)?;
    Ok(webhooks::delivery(tx, &hook.id, &delivery)?)
}

/// Queues delivery `delivery` of webhook `id` again: a new delivery with
/// the same message id (receivers deduplicate on it) and payload.
pub fn redeliver(tx: &Tx, by: &Principal, scope: &Scope, id: &str, delivery: &str) -> Result<Delivery, OpsError> {
    let hook = active(tx, by, scope, id)?;
    let old = webhooks::delivery(tx, &hook.id, delivery)?;
    let again = webhooks::enqueue(tx, &hook.id, &old.message_id, &old.event, &old.payload, unix_now())?;
    Ok(webhooks::delivery(tx, &hook.id, &again)?)
}

/// Deliveries are kept this many days after they were made.
pub const KEEP_DELIVERIES_DAYS: i64 = 30;

/// Housekeeping: forgets finished deliveries and mails older than 30 days.
pub fn prune(tx: &Tx, now: i64) -> Result<usize, OpsError> {
    let cutoff = now - KEEP_DELIVERIES_DAYS * 86_400;
    crate::db::mail::prune(tx, cutoff)?;
    Ok(webhooks::prune(tx, cutoff, 10_000)?)
}

/// Whether any active webhook hears `kind` about project `project_id`
/// (to skip building what nobody hears).
pub fn hears(conn: &Conn, project_id: Option<i64>, kind: &str) -> Result<bool, OpsError> {
    Ok(!webhooks::subscribers(conn, project_id, kind)?.is_empty())
}

/// Queues event `kind` about project `project_id` (`None`: the instance's
/// hooks only) for every active webhook that hears it (the project's and
/// the instance's; with `only_changes`, only when `changed` says so), in
/// `tx`, the transaction of what caused it. `changed` is asked only when an
/// `only_changes` webhook hears the event, and `data` built only when some
/// webhook does. Returns how many deliveries were queued.
pub fn emit(
    tx: &Tx,
    kind: &'static str,
    project_id: Option<i64>,
    changed: impl FnOnce() -> Result<bool, OpsError>,
    data: impl FnOnce() -> Result<Value, OpsError>,
) -> Result<usize, OpsError> {
    let hooks = webhooks::subscribers(tx, project_id, kind)?;
    let changed = if hooks.iter().any(|h| h.only_changes) { changed()? } else { true };
    let hooks: Vec<&Webhook> = hooks.iter().filter(|h| !h.only_changes || changed).collect();
    if hooks.is_empty() {
        return Ok(0);
    }
    let (message_id, payload, now) = (new_message_id(), data()?.to_string(), unix_now());
    for hook in &hooks {
        webhooks::enqueue(tx, &hook.id, &message_id, kind, &payload, now)?;
    }
    Ok(hooks.len())
}
