//! Projects over the API (API.md sections 4 and 10): list the projects a
//! token can see; create, read, update and delete one, audited like the
//! UI's (`ops::projects`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{collection, ApiJson, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db;
use crate::domain::analysis::FLIP_THRESHOLDS;
use crate::domain::names::{parse_branch, DisplayName, ProjectSlug};
use crate::domain::permission::Permission;
use crate::error::{AppError, AppResult};
use crate::ops::{self, visible_project};
use crate::state::AppState;

/// `/projects`, under `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects", web::get().to(list)).route("/projects", web::post().to(create));
}

/// The project itself, inside the `/projects/{project}` scope.
pub fn configure_one(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(show)).route("", web::patch().to(update)).route("", web::delete().to(delete));
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

fn invalid(e: impl ToString) -> AppError {
    AppError::validation(e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    default_branch: Option<String>,
}

async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let slug = ProjectSlug::parse(&body.slug).map_err(invalid)?;
    let name = DisplayName::parse(&body.name).map_err(invalid)?;
    let branch = parse_branch(body.default_branch.as_deref().unwrap_or("main")).map_err(invalid)?;
    let (ctx, by) = (caller.audit(), caller.principal);
    let project = state.db.write(move |tx| ops::projects::create_as(tx, &ctx, &by, &slug, &name, &branch)).await?;
    Ok(HttpResponse::Created().json(project))
}

async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let project = state
        .db
        .read(move |c| -> AppResult<_> {
            let project = visible_project(c, &caller.principal, &slug)?;
            caller.principal.require(Permission::ProjectsRead)?;
            Ok(project)
        })
        .await?;
    Ok(HttpResponse::Ok().json(project))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    default_branch: Option<String>,
    flaky_flip_threshold: Option<i64>,
}

/// A project's new name, default branch and flip threshold; `None`: unchanged.
type Changes = (Option<DisplayName>, Option<String>, Option<u32>);

impl UpdateBody {
    /// Each field given, checked: a 400 naming what is wrong.
    fn parse(self) -> Result<Changes, AppError> {
        let name = self.name.as_deref().map(DisplayName::parse).transpose().map_err(invalid)?;
        let branch = self.default_branch.as_deref().map(parse_branch).transpose().map_err(invalid)?;
        let threshold = match self.flaky_flip_threshold {
            None => None,
            Some(n) => Some(
                u32::try_from(n)
                    .ok()
                    .filter(|n| FLIP_THRESHOLDS.contains(n))
                    .ok_or_else(|| invalid("flaky_flip_threshold must be a whole number between 2 and 50."))?,
            ),
        };
        Ok((name, branch, threshold))
    }
}

async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: ApiJson<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let (name, branch, threshold) = body.into_inner().parse()?;
    let (ctx, by) = (caller.audit(), caller.principal);
    let project = state
        .db
        .write(move |tx| -> AppResult<_> {
            visible_project(tx, &by, &slug)?;
            by.require(Permission::ProjectsManage)?;
            Ok(ops::projects::update(tx, &ctx, &slug, name.as_ref(), branch.as_deref(), threshold)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(project))
}

/// Deletes the project with its runs, keys, attachments and rules; its
/// attachment files go once the transaction committed.
async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let (ctx, by) = (caller.audit(), caller.principal);
    let run_ids = state
        .db
        .write(move |tx| -> AppResult<_> {
            visible_project(tx, &by, &slug)?;
            by.require(Permission::ProjectsManage)?;
            Ok(ops::projects::delete(tx, &ctx, &slug)?)
        })
        .await?;
    ops::attachments::remove_run_dirs_async(&state, run_ids).await;
    Ok(HttpResponse::NoContent().finish())
}
