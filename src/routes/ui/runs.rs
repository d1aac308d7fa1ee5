//! A project's runs page (its default page: charts, filters, the runs table)
//! and one run's page (failures first, the comparison with its baseline,
//! flaky tests, the other results, attachments and their download).

use actix_web::{web, HttpRequest, HttpResponse};

use super::token_forms::server_url;
use crate::auth::session::SessionUser;
use crate::db;
use crate::domain::permission::Permission;
use crate::error::{AppError, PageResult};
use crate::ops::attachments::read_file;
use crate::state::AppState;
use crate::views::{run_page, runs_page, RunPage, RunsPage, RunsQuery};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects/{slug}/runs/{run}", web::get().to(show))
        .route("/projects/{slug}/runs/{run}/attachments/{id}", web::get().to(download));
}

/// The project's page: its runs. `/projects/{slug}` routes here (see `projects::show`).
pub async fn index(
    state: &AppState,
    req: &HttpRequest,
    user: &SessionUser,
    slug: String,
    query: RunsQuery,
) -> PageResult<RunsPage> {
    user.principal.require(Permission::ProjectsRead)?;
    user.principal.require(Permission::RunsRead)?;
    Ok(runs_page(&state.db, user, slug, query, server_url(state, req)).await?)
}

async fn show(state: web::Data<AppState>, user: SessionUser, path: web::Path<(String, String)>) -> PageResult<RunPage> {
    user.principal.require(Permission::RunsRead)?;
    let (slug, run_id) = path.into_inner();
    Ok(run_page(&state.db, &user, slug, run_id).await?)
}

/// An attachment of a run, for a signed-in session (the API route needs a
/// token): always a download (`Content-Disposition: attachment`) with an
/// allow-listed type, sandboxed should a browser render it anyway.
async fn download(
    state: web::Data<AppState>,
    user: SessionUser,
    path: web::Path<(String, String, String)>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::RunsRead)?;
    let (slug, run_id, id) = path.into_inner();
    let found = state
        .db
        .read(move |c| {
            let project = db::projects::require(c, &slug)?;
            let run = db::runs::get(c, project.id, &run_id)?;
            let found = db::attachments::get(c, project.id, &id)?;
            if found.run_id != run.id {
                return Err(AppError::not_found("No such attachment in this run."));
            }
            Ok(found)
        })
        .await?;
    let root = state.config.attachments_dir();
    let (found, bytes) =
        web::block(move || read_file(&root, &found).map(|bytes| (found, bytes))).await.map_err(AppError::from)??;
    Ok(crate::routes::attachment_download(&found, bytes))
}
