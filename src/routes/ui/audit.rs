//! Settings → Audit log (`audit:read`): newest first, filter by action and
//! actor, 50 to a page.

use actix_web::web;
use serde::Deserialize;

use crate::auth::session::SessionUser;
use crate::domain::permission::Permission;
use crate::error::PageResult;
use crate::state::AppState;
use crate::views::{audit_page, AuditPage};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/admin/audit", web::get().to(page));
}

#[derive(Deserialize)]
pub(super) struct Query {
    action: Option<String>,
    actor: Option<String>,
    before: Option<i64>,
}

async fn page(state: web::Data<AppState>, user: SessionUser, query: web::Query<Query>) -> PageResult<AuditPage> {
    user.principal.require(Permission::AuditRead)?;
    let Query { action, actor, before } = query.into_inner();
    Ok(audit_page(&state.db, &user, action, actor, before).await?)
}
