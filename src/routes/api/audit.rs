//! `GET /api/v1/audit` (`audit:read`, and a token for every project): newest
//! first, filters `action`, `actor`, `target`, paginated.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{collection, PageQuery};
use crate::auth::api::ApiCaller;
use crate::auth::ProjectScope;
use crate::db::audit::{self, AuditFilter};
use crate::domain::permission::Permission;
use crate::error::AppError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(list));
}

#[derive(Deserialize)]
struct Query {
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    // Not `#[serde(flatten)] PageQuery`: serde_urlencoded cannot read
    // numbers through `flatten` (every `?limit=` would be a 400).
    limit: Option<u32>,
    cursor: Option<String>,
}

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
    Ok(collection("events", events, limit, |e| e.id.to_string()))
}
