//! Attachments of runs (API.md section 3): upload and delete with
//! `artifacts:write`, list and download with `runs:read`. Downloads are
//! always `Content-Disposition: attachment` with an allow-listed type,
//! `nosniff` and `Content-Security-Policy: sandbox`, so an uploaded page can
//! never run in the server's origin.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{page_of, PageQuery, ProjectItemPath, RunPath};
use crate::auth::api::ApiCaller;
use crate::db::attachments::{self, Attachment};
use crate::db::projects::Project;
use crate::db::runs;
use crate::domain::attachment::parse_filename;
use crate::domain::permission::Permission;
use crate::error::{AppError, ErrorBody};
use crate::ops::attachments as files;
use crate::routes::input::{receive_upload, Incoming};
use crate::spool::Spooled;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(upload).service(list).service(download).service(remove).service(download_in_run).service(remove_in_run);
}

/// `{project}`, `{run}` and the attachment's `{id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct RunItemPath {
    /// The project's slug.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    project: String,
    /// The run's id.
    run: String,
    /// The attachment's id.
    id: String,
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

#[derive(Deserialize, IntoParams)]
struct UploadQuery {
    /// The file's name (1–255 characters, no path separators or control characters).
    #[param(min_length = 1, max_length = 255)]
    filename: Option<String>,
}

/// Upload an attachment
///
/// Stores a file (a log, a screenshot, a build) with the run; the body is
/// the file, its `Content-Type` kept if it is an allow-listed type. Needs
/// `artifacts:write`.
#[utoipa::path(
    tag = "ingestion",
    operation_id = "upload_attachment",
    params(RunPath, UploadQuery),
    request_body(description = "The file.", content((String = "application/octet-stream"))),
    responses(
        (status = 201, description = "Stored.", body = Attachment,
            links(
            ("download" = (operation_id = "download_attachment", parameters(("project" = "$request.path.project"), ("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_attachment", parameters(("project" = "$request.path.project"), ("id" = "$response.body#/id"))))
            )
        ),
        (status = 400, description = "A missing or unusable `filename` (`invalid_filename`), or an empty body (`empty_attachment`).", body = ErrorBody),
        (status = 404, description = "No such run (`not_found`), or no such project.", body = ErrorBody),
        (status = 413, description = "Larger than `--max-report-bytes` (`payload_too_large`).", body = ErrorBody),
        (status = 503, description = "The server is receiving as many uploads as `--ingest-memory-mib` allows (`server_busy`); send it again after `Retry-After` seconds.", body = ErrorBody),
    )
)]
#[post("/runs/{run}/attachments")]
async fn upload(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunPath>,
    query: web::Query<UploadQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let RunPath { project: slug, run: run_id } = path.into_inner();
    let project = project(&state, &caller, slug, Permission::ArtifactsWrite).await?;
    let filename = query.into_inner().filename.unwrap_or_default();
    let filename = parse_filename(&filename).map_err(|e| AppError::bad_request("invalid_filename", e))?.to_string();
    let run = {
        let run_id = run_id.clone();
        state.db.read(move |c| runs::get(c, project.id, &run_id)).await?
    };
    let body = receive_file(&state, &req, payload).await?;
    let new = files::NewAttachment {
        project_id: project.id,
        run_id: run.id,
        filename,
        declared_type: req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
        body,
    };
    let (db, root) = (state.db.clone(), state.config.attachments_dir());
    let attachment = web::block(move || files::store(&db, &root, new)).await??;
    Ok(HttpResponse::Created().json(attachment))
}

/// The uploaded file, received and hashed into the attachments' spool as
/// it arrives: at most `--max-report-bytes` (413), at least one byte (400).
async fn receive_file(state: &AppState, req: &HttpRequest, payload: web::Payload) -> Result<Spooled, AppError> {
    let max = state.config.max_report_bytes;
    let body = receive_upload(state, req, payload.into_inner(), Incoming::Attachment, || too_large(max)).await?;
    if body.bytes == 0 {
        body.discard().await;
        return Err(AppError::bad_request("empty_attachment", "The attachment is empty: send the file as the body."));
    }
    Ok(body)
}

page_of!(
    /// A page of a run's attachments.
    AttachmentPage, attachments: Attachment
);

/// List a run's attachments
///
/// Needs `runs:read`.
#[utoipa::path(
    tag = "reading",
    operation_id = "list_attachments",
    params(RunPath, PageQuery),
    responses((status = 200, description = "A page of the run's attachments.", body = AttachmentPage), (status = 404, description = "No such run (`not_found`), or no such project.", body = ErrorBody))
)]
#[get("/runs/{run}/attachments")]
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let RunPath { project: slug, run: run_id } = path.into_inner();
    let project = project(&state, &caller, slug, Permission::RunsRead).await?;
    let page = query.into_inner();
    let limit = page.limit()?;
    let after = page.after()?;
    let found = state
        .db
        .read(move |c| {
            runs::get(c, project.id, &run_id)?;
            attachments::list(c, &run_id, after.as_deref(), limit + 1)
        })
        .await?;
    Ok(HttpResponse::Ok().json(AttachmentPage::of(found, limit, |a| a.id.clone())))
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

/// Download an attachment
///
/// Always a download (`Content-Disposition: attachment`) with an
/// allow-listed type. Needs `runs:read`.
#[utoipa::path(
    tag = "reading",
    operation_id = "download_attachment",
    params(ProjectItemPath),
    responses(
        (status = 200, description = "The file.", content_type = "application/octet-stream", body = String),
        (status = 404, description = "No such attachment (`not_found`), or no such project.", body = ErrorBody),
    )
)]
#[get("/attachments/{id}")]
async fn download(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project: slug, id } = path.into_inner();
    serve(&state, caller, slug, id, None).await
}

/// Download an attachment of a run
///
/// As `download_attachment`, for an attachment of this run only.
#[utoipa::path(
    tag = "reading",
    operation_id = "download_run_attachment",
    params(RunItemPath),
    responses(
        (status = 200, description = "The file.", content_type = "application/octet-stream", body = String),
        (status = 404, description = "No such attachment in this run (`not_found`), or no such project.", body = ErrorBody),
    )
)]
#[get("/runs/{run}/attachments/{id}")]
async fn download_in_run(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunItemPath>,
) -> Result<HttpResponse, AppError> {
    let RunItemPath { project: slug, run, id } = path.into_inner();
    serve(&state, caller, slug, id, Some(run)).await
}

async fn delete_attachment(
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

/// Delete an attachment
///
/// Needs `artifacts:write`.
#[utoipa::path(
    tag = "ingestion",
    operation_id = "delete_attachment",
    params(ProjectItemPath),
    responses((status = 204, description = "Deleted."), (status = 404, description = "No such attachment (`not_found`), or no such project.", body = ErrorBody))
)]
#[delete("/attachments/{id}")]
async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project: slug, id } = path.into_inner();
    delete_attachment(&state, caller, slug, id, None).await
}

/// Delete an attachment of a run
///
/// As `delete_attachment`, for an attachment of this run only.
#[utoipa::path(
    tag = "ingestion",
    operation_id = "delete_run_attachment",
    params(RunItemPath),
    responses((status = 204, description = "Deleted."), (status = 404, description = "No such attachment in this run (`not_found`), or no such project.", body = ErrorBody))
)]
#[delete("/runs/{run}/attachments/{id}")]
async fn remove_in_run(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunItemPath>,
) -> Result<HttpResponse, AppError> {
    let RunItemPath { project: slug, run, id } = path.into_inner();
    delete_attachment(&state, caller, slug, id, Some(run)).await
}
