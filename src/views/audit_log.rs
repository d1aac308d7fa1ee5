//! The audit log page: newest first, filtered by action and actor, 50 to a page.

use super::{AuditPage, AuditRow, Layout, When};
use crate::auth::session::SessionUser;
use crate::db::audit::{self, AuditFilter};
use crate::db::Db;
use crate::domain::audit::ActorKind;
use crate::error::AppError;

const PAGE_SIZE: u32 = 50;

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn link(action: &str, actor: &str, before: Option<i64>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !action.is_empty() {
        query.append_pair("action", action);
    }
    if !actor.is_empty() {
        query.append_pair("actor", actor);
    }
    if let Some(before) = before {
        query.append_pair("before", &before.to_string());
    }
    format!("/settings/admin/audit?{}", query.finish())
}

/// The audit log's page below event `before` (or the newest), filtered by
/// `action` and `actor` (blank: any).
pub async fn audit_page(
    db: &Db,
    user: &SessionUser,
    action: Option<String>,
    actor: Option<String>,
    before: Option<i64>,
) -> Result<AuditPage, AppError> {
    let filter = AuditFilter { action: non_empty(action), actor: non_empty(actor), target: None };
    let lookup = filter.clone();
    let (events, actions) = db
        .read(move |c| Ok::<_, AppError>((audit::list(c, &lookup, before, PAGE_SIZE + 1)?, audit::actions(c)?)))
        .await?;
    let has_more = events.len() > PAGE_SIZE as usize;
    let action = filter.action.unwrap_or_default();
    let actor = filter.actor.unwrap_or_default();
    let rows: Vec<AuditRow> = events
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|e| AuditRow {
            id: e.id,
            when: When::at(e.at),
            actor: match e.actor.kind {
                ActorKind::Token => e.actor.preview.clone().unwrap_or_default(),
                _ => e.actor.name.clone().unwrap_or_else(|| e.actor.kind.as_str().into()),
            },
            actor_detail: format!("{} {}", e.actor.kind.as_str(), e.actor.id.as_deref().unwrap_or(""))
                .trim()
                .to_string(),
            action: e.action,
            target: e.target.map(|t| format!("{} {}", t.kind, t.name)).unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            user_agent: e.user_agent.unwrap_or_default(),
            details: if e.details.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                e.details.to_string()
            },
        })
        .collect();
    let next_page = if has_more { rows.last().map(|r| link(&action, &actor, Some(r.id))) } else { None };
    Ok(AuditPage {
        layout: Layout::new(user, "Audit log", "audit"),
        next_page,
        first_page: before.map(|_| link(&action, &actor, None)),
        rows,
        actions,
        filter_action: action,
        filter_actor: actor,
    })
}
