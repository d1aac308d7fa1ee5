//! `GET /api/v1/audit` (`audit:read`, and a token for every project): newest
//! first, filters `action`, `actor`, `target`, paginated.

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{page_of, PageQuery};
use crate::auth::api::ApiCaller;
use crate::auth::ProjectScope;
use crate::db::audit::{self, AuditEvent, AuditFilter};
use crate::domain::permission::Permission;
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list);
}

#[derive(Deserialize, IntoParams)]
struct Query {
    /// Only events of this action, e.g. `token.created`.
    action: Option<String>,
    /// Only events by this actor (an account or token id).
    actor: Option<String>,
    /// Only events about this target (an id).
    target: Option<String>,
    // Not `#[serde(flatten)] PageQuery`: serde_urlencoded cannot read
    // numbers through `flatten` (every `?limit=` would be a 400).
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

page_of!(
    /// A page of audit events, newest first.
    EventPage, events: AuditEvent
);

/// List audit events
///
/// Newest first. Needs `audit:read` and a token not restricted to some projects.
#[utoipa::path(tag = "audit", operation_id = "list_audit_events", params(Query), responses((status = 200, description = "A page of audit events.", body = EventPage)))]
#[get("/audit")]
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::AuditRead)?;
    // The trail is instance-wide (events name projects, keys and people of
    // every project), so a token restricted to some projects may not read it.
    if let ProjectScope::Only(_) = caller.principal.projects {
        return Err(AppError::forbidden(
            "missing_permission",
            "The audit log covers every project; a token restricted to some projects cannot read it.",
        ));
    }
    let query = query.into_inner();
    let page = PageQuery { limit: query.limit, cursor: query.cursor };
    let limit = page.limit()?;
    let before = match page.after()? {
        Some(c) => Some(c.parse::<i64>().map_err(|_| AppError::validation("Invalid cursor."))?),
        None => None,
    };
    let filter = AuditFilter { action: query.action, actor: query.actor, target: query.target };
    let events = state.db.read(move |c| audit::list(c, &filter, before, limit + 1)).await?;
    Ok(HttpResponse::Ok().json(EventPage::of(events, limit, |e| e.id.to_string())))
}
