//! Projects over the API (API.md sections 4 and 10): list the projects a
//! token can see; create, read, update and delete one, audited like the
//! UI's (`ops::projects`).

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{page_of, ApiJson, PageQuery, ProjectPath};
use crate::auth::api::ApiCaller;
use crate::db::{self, projects::Project};
use crate::domain::analysis::FLIP_THRESHOLDS;
use crate::domain::names::{parse_branch, DisplayName, ProjectSlug};
use crate::domain::permission::Permission;
use crate::error::{AppError, AppResult};
use crate::ops::{self, visible_project};
use crate::state::AppState;

/// `/projects`, under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create);
}

/// The project itself, inside the `/projects/{project}` scope.
pub fn configure_one(cfg: &mut ServiceConfig) {
    cfg.service(show).service(update).service(delete);
}

page_of!(
    /// A page of projects, by slug.
    ProjectPage, projects: Project
);

/// List projects
///
/// The projects the token can see, ordered by slug. Needs `projects:read`.
#[utoipa::path(tag = "projects", operation_id = "list_projects", responses((status = 200, description = "A page of projects.", body = ProjectPage)))]
#[get("/projects")]
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
    Ok(HttpResponse::Ok().json(ProjectPage::of(projects, limit, |p| p.slug.clone())))
}

fn invalid(e: impl ToString) -> AppError {
    AppError::validation(e.to_string())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewProject)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"slug": "web", "name": "Web app", "default_branch": "main"}))]
struct CreateBody {
    /// 1–64 lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit.
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    slug: String,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// The branch flakiness is judged on; `main` when absent.
    #[schema(min_length = 1, max_length = 255)]
    default_branch: Option<String>,
}

/// Create a project
///
/// Needs `projects:manage` and a token not restricted to some projects.
/// Audited as `project.created`.
#[utoipa::path(
    tag = "projects",
    operation_id = "create_project",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The new project.", body = Project,
            links(
            ("get" = (operation_id = "get_project", parameters(("project" = "$response.body#/slug")))),
            ("update" = (operation_id = "update_project", parameters(("project" = "$response.body#/slug")))),
            ("delete" = (operation_id = "delete_project", parameters(("project" = "$response.body#/slug")))),
            ("create_run" = (operation_id = "create_run", parameters(("project" = "$response.body#/slug"))))
            )
        ),
        (status = 409, description = "The slug is taken (`slug_taken`).", body = crate::error::ErrorBody),
    )
)]
#[post("/projects")]
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

/// Get a project
///
/// Needs `projects:read`.
#[utoipa::path(tag = "projects", operation_id = "get_project", params(ProjectPath), responses((status = 200, description = "The project.", body = Project)))]
#[get("")]
async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
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

#[derive(Deserialize, ToSchema)]
#[schema(as = ProjectChanges)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Web app", "flaky_flip_threshold": 5}))]
struct UpdateBody {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 255)]
    default_branch: Option<String>,
    /// Changes between passing and failing on the default branch that make a test flaky.
    #[schema(minimum = 2, maximum = 50)]
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

/// Update a project
///
/// Absent fields stay as they are. Needs `projects:manage`; audited as `project.updated`.
#[utoipa::path(
    tag = "projects",
    operation_id = "update_project",
    params(ProjectPath),
    request_body = UpdateBody,
    responses((status = 200, description = "The project as it is now.", body = Project))
)]
#[patch("")]
async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    body: ApiJson<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
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

/// Delete a project
///
/// With its runs, keys, attachments and quarantine rules (its attachment
/// files go once the transaction committed). Needs `projects:manage`;
/// audited as `project.deleted`.
#[utoipa::path(tag = "projects", operation_id = "delete_project", params(ProjectPath), responses((status = 204, description = "Deleted.")))]
#[delete("")]
async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
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
