//! Attachments of runs (API.md section 3): upload and delete with
//! `artifacts:write`, list and download with `runs:read`. Downloads are
//! always `Content-Disposition: attachment` with an allow-listed type,
//! `nosniff` and `Content-Security-Policy: sandbox`, so an uploaded page can
//! never run in the server's origin.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{collection, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db::attachments::{self, Attachment};
use crate::db::projects::Project;
use crate::db::runs;
use crate::domain::attachment::parse_filename;
use crate::domain::permission::Permission;
use crate::error::AppError;
use crate::ops::attachments as files;
use crate::routes::input::{declared_length, read_capped};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/runs/{run}/attachments", web::post().to(upload))
        .route("/runs/{run}/attachments", web::get().to(list))
        .route("/attachments/{id}", web::get().to(download))
        .route("/attachments/{id}", web::delete().to(remove))
        .route("/runs/{run}/attachments/{id}", web::get().to(download_in_run))
        .route("/runs/{run}/attachments/{id}", web::delete().to(remove_in_run));
}

/// The project, visible to the caller and with `permission` (else 404 / 403).
async fn project(
    state: &AppState,
    caller: &ApiCaller,
    slug: String,
    permission: Permission,
) -> Result<Project, AppError> {
    let principal = caller.principal.clone();
    let project = state.db.read(move |c| crate::ops::visible_project(c, &principal, &slug)).await?;
    caller.principal.require(permission)?;
    Ok(project)
}

fn too_large(max: u64) -> AppError {
    AppError::payload_too_large(format!("The attachment is larger than {max} bytes."))
}

#[derive(Deserialize)]
struct UploadQuery {
    filename: Option<String>,
}

async fn upload(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    query: web::Query<UploadQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (slug, run_id) = path.into_inner();
    let project = project(&state, &caller, slug, Permission::ArtifactsWrite).await?;
    let filename = query.into_inner().filename.unwrap_or_default();
    let filename = parse_filename(&filename).map_err(|e| AppError::bad_request("invalid_filename", e))?.to_string();
    let run = {
        let run_id = run_id.clone();
        state.db.read(move |c| runs::get(c, project.id, &run_id)).await?
    };
    let max = state.config.max_report_bytes;
    let declared = declared_length(req.headers());
    let body = read_capped(&mut payload.into_inner(), declared, max as usize, || too_large(max)).await?;
    let new = files::NewAttachment {
        project_id: project.id,
        run_id: run.id,
        filename,
        declared_type: req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
        bytes: Vec::from(body),
    };
    let (db, root) = (state.db.clone(), state.config.attachments_dir());
    let attachment = web::block(move || files::store(&db, &root, new)).await??;
    Ok(HttpResponse::Created().json(attachment))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let (slug, run_id) = path.into_inner();
    let project = project(&state, &caller, slug, Permission::RunsRead).await?;
    let q = query.into_inner();
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let limit = page.limit()?;
    let after = page.after()?;
    let found = state
        .db
        .read(move |c| {
            runs::get(c, project.id, &run_id)?;
            attachments::list(c, &run_id, after.as_deref(), limit + 1)
        })
        .await?;
    Ok(collection("attachments", found, limit, |a| a.id.clone()))
}

/// The attachment `id` of the project (and of run `run`, when the path names one).
async fn find(state: &AppState, project: &Project, id: String, run: Option<String>) -> Result<Attachment, AppError> {
    let project_id = project.id;
    let found = state.db.read(move |c| attachments::get(c, project_id, &id)).await?;
    match run {
        Some(run) if run != found.run_id => Err(AppError::not_found("No such attachment in this run.")),
        _ => Ok(found),
    }
}

async fn serve(
    state: &AppState,
    caller: ApiCaller,
    slug: String,
    id: String,
    run: Option<String>,
) -> Result<HttpResponse, AppError> {
    let project = project(state, &caller, slug, Permission::RunsRead).await?;
    let found = find(state, &project, id, run).await?;
    let root = state.config.attachments_dir();
    let (found, bytes) = web::block(move || files::read_file(&root, &found).map(|bytes| (found, bytes))).await??;
    Ok(crate::routes::attachment_download(&found, bytes))
}

async fn download(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    serve(&state, caller, slug, id, None).await
}

async fn download_in_run(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, run, id) = path.into_inner();
    serve(&state, caller, slug, id, Some(run)).await
}

async fn delete(
    state: &AppState,
    caller: ApiCaller,
    slug: String,
    id: String,
    run: Option<String>,
) -> Result<HttpResponse, AppError> {
    let project = project(state, &caller, slug, Permission::ArtifactsWrite).await?;
    let found = find(state, &project, id, run).await?;
    let row_id = found.id.clone();
    state.db.write(move |tx| attachments::delete(tx, &row_id)).await?;
    let root = state.config.attachments_dir();
    let _ = web::block(move || files::remove_file(&root, &found.run_id, &found.id)).await;
    Ok(HttpResponse::NoContent().finish())
}

async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    delete(&state, caller, slug, id, None).await
}

async fn remove_in_run(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, run, id) = path.into_inner();
    delete(&state, caller, slug, id, Some(run)).await
}
