//! `GET /api/v1/projects`: the projects this token can see.

use actix_web::{web, HttpResponse};

use super::{collection, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db;
use crate::domain::permission::Permission;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects", web::get().to(list));
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::ProjectsRead)?;
    let limit = query.limit()?;
    let mut after = query.after()?;
    let principal = caller.principal.clone();
    // Visibility filters after the query; keep reading until a page is full.
    let projects = state
        .db
        .read(move |c| -> AppResult<_> {
            let mut visible = Vec::new();
            loop {
                let batch = db::projects::list(c, after.as_deref(), 500)?;
                let done = batch.len() < 500;
                after = batch.last().map(|p| p.slug.clone());
                visible.extend(batch.into_iter().filter(|p| principal.can_see_project(p.id)));
                if done || visible.len() > limit as usize {
                    return Ok(visible);
                }
            }
        })
        .await?;
    Ok(collection("projects", projects, limit, |p| p.slug.clone()))
}
