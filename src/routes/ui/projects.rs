//! `/projects`, a project's page and its settings (rename, default branch,
//! delete; the API keys part is in `project_keys`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::project_keys::{settings_page, KeyInput};
use super::Submitted;
use super::{html, see_other, CsrfOnly, Notice};
use crate::auth::session::SessionUser;
use crate::db;
use crate::domain::analysis::flip_threshold;
use crate::domain::names::{parse_branch, DisplayName, ProjectSlug};
use crate::domain::permission::Permission;
use crate::error::{AppError, PageResult};
use crate::state::AppState;
use crate::views::RunsQuery;
use crate::views::{FormError, Layout, ProjectRow, ProjectSettingsPage, ProjectsPage, RunRow, RunsPage, When};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects", web::get().to(list))
        .route("/projects", web::post().to(create))
        .route("/projects/{slug}", web::get().to(show))
        .route("/projects/{slug}/settings", web::get().to(settings))
        .route("/projects/{slug}/settings", web::post().to(update))
        .route("/projects/{slug}/delete", web::post().to(delete));
}

async fn projects_page(
    state: &AppState,
    user: &SessionUser,
    notice: Option<&'static str>,
    error: Option<FormError>,
    form: (String, String),
) -> Result<ProjectsPage, AppError> {
    let projects = state
        .db
        .read(|c| -> Result<Vec<ProjectRow>, AppError> {
            let newest = |p: &db::projects::Project| db::runs::list(c, p.id, &Default::default(), None, 1);
            let rows = db::projects::list(c, None, u32::MAX)?.into_iter().map(|p| {
                let last_run = newest(&p)?.first().map(RunRow::new);
                Ok(ProjectRow { created: When::at(p.created_at), project: p, last_run })
            });
            rows.collect()
        })
        .await?;
    Ok(ProjectsPage {
        layout: Layout::new(user, "Projects", "projects").with_notice(notice).with_error(error),
        projects,
        can_manage: user.principal.may(Permission::ProjectsManage),
        form_slug: form.0,
        form_name: form.1,
    })
}

async fn list(state: web::Data<AppState>, user: SessionUser, notice: web::Query<Notice>) -> PageResult<ProjectsPage> {
    user.principal.require(Permission::ProjectsRead)?;
    Ok(projects_page(&state, &user, notice.text(), None, Default::default()).await?)
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    slug: String,
    name: String,
}

async fn create(
    state: web::Data<AppState>,
    Submitted { user, client, form }: Submitted<CreateForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let parsed = ProjectSlug::parse(&form.slug)
        .map_err(|e| AppError::invalid("slug", e.to_string()))
        .and_then(|s| Ok((s, DisplayName::parse(&form.name).map_err(|e| AppError::invalid("name", e.to_string()))?)));
    let result = match parsed {
        Ok((slug, name)) => {
            let ctx = client.audit(user.principal.actor.clone());
            state
                .db
                .write(move |tx| crate::ops::projects::create(tx, &ctx, &slug, &name, "main"))
                .await
                .map_err(AppError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(project) => Ok(see_other(&format!("/projects/{}?notice=project_created", project.slug))),
        Err(e) => {
            let e = e.on_form()?;
            let page = projects_page(&state, &user, None, Some(FormError::of(&e)), (form.slug, form.name)).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

/// A project's page is its runs (see `runs::index`).
async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: SessionUser,
    slug: web::Path<String>,
    query: web::Query<RunsQuery>,
) -> PageResult<RunsPage> {
    super::runs::index(&state, &req, &user, slug.into_inner(), query.into_inner()).await
}

/// Everyone who can read the project sees its settings and API keys; the
/// forms are there only for `projects:manage` (see `project_keys`).
async fn settings(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    notice: web::Query<Notice>,
) -> PageResult<ProjectSettingsPage> {
    user.principal.require(Permission::ProjectsRead)?;
    Ok(settings_page(&state, &user, slug.into_inner(), notice.text(), None, &KeyInput::default()).await?)
}

#[derive(Deserialize)]
pub(super) struct UpdateForm {
    name: String,
    default_branch: String,
    /// Absent from older forms: the threshold stays as it is.
    flaky_flip_threshold: Option<String>,
}

impl UpdateForm {
    /// The name, default branch and (when the form had it) flip threshold,
    /// each checked: a 400 naming what is wrong.
    pub(super) fn parse(&self) -> Result<(DisplayName, String, Option<u32>), AppError> {
        let name = DisplayName::parse(&self.name).map_err(|e| AppError::invalid("name", e.to_string()))?;
        let branch =
            parse_branch(&self.default_branch).map_err(|e| AppError::invalid("default_branch", e.to_string()))?;
        let threshold = self.flaky_flip_threshold.as_deref().map(flip_threshold).transpose();
        Ok((name, branch, threshold.map_err(|e| AppError::invalid("flaky_flip_threshold", e))?))
    }
}

async fn update(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    Submitted { user, client, form }: Submitted<UpdateForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let slug = slug.into_inner();
    let parsed = form.parse();
    let ctx = client.audit(user.principal.actor.clone());
    let target = slug.clone();
    let result = match parsed {
        Ok((name, branch, threshold)) => state
            .db
            .write(move |tx| crate::ops::projects::update(tx, &ctx, &target, Some(&name), Some(&branch), threshold))
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(p) => Ok(see_other(&format!("/projects/{}/settings?notice=project_updated", p.slug))),
        Err(e) => {
            let e = e.on_form()?;
            let page = settings_page(&state, &user, slug, None, Some(FormError::of(&e)), &KeyInput::default()).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

async fn delete(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let ctx = client.audit(user.principal.actor.clone());
    let slug = slug.into_inner();
    let run_ids = state.db.write(move |tx| crate::ops::projects::delete(tx, &ctx, &slug)).await?;
    crate::ops::attachments::remove_run_dirs_async(&state, run_ids).await;
    Ok(see_other("/projects?notice=project_deleted"))
}
