//! Settings → Audit log (`audit:read`): newest first, filter by action and
//! actor, 50 to a page.

use actix_web::web;
use serde::Deserialize;

use crate::auth::session::SessionUser;
use crate::db::audit::{self, AuditFilter};
use crate::domain::audit::ActorKind;
use crate::domain::permission::Permission;
use crate::error::{AppError, PageResult};
use crate::state::AppState;
use crate::views::{AuditPage, AuditRow, Layout, When};

const PAGE_SIZE: u32 = 50;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/admin/audit", web::get().to(page));
}

#[derive(Deserialize)]
struct Query {
    action: Option<String>,
    actor: Option<String>,
    before: Option<i64>,
}

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

async fn page(state: web::Data<AppState>, user: SessionUser, query: web::Query<Query>) -> PageResult<AuditPage> {
    user.principal.require(Permission::AuditRead)?;
    let query = query.into_inner();
    let filter = AuditFilter { action: non_empty(query.action), actor: non_empty(query.actor), target: None };
    let before = query.before;
    let lookup = filter.clone();
    let (events, actions) = state
        .db
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
        layout: Layout::new(&user, "Audit log", "audit"),
        next_page,
        first_page: before.map(|_| link(&action, &actor, None)),
        rows,
        actions,
        filter_action: action,
        filter_actor: actor,
    })
}
