//! Ingestion routes (API.md section 3): create a run (shards join it),
//! upload reports into it, finalize or fail it, and the one-call `/results`.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::run_meta::{short, MetaBody, MetaQuery};
use super::{JsonBytes, ProjectPath, RunPath};
use crate::auth::api::ApiCaller;
use crate::db::runs::{self, Counts, Run};
use crate::db::Tx;
use crate::domain::permission::Permission;
use crate::domain::report::ReportFormat;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::ops::ingest::{self, Upload};
use crate::routes::input::{receive_upload, Incoming};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create).service(upload).service(finalize).service(fail).service(results);
}

/// Create a run
///
/// Or join one: with the same `build_id` and `name` as a run still
/// `running` in the project, that run is returned (200), so every shard of
/// a CI build can call this. The body may be empty. Needs `runs:write`.
#[utoipa::path(
    tag = "ingestion",
    operation_id = "create_run",
    params(ProjectPath),
    request_body(content = Option<MetaBody>, description = "Optional."),
    responses(
        (status = 201, description = "A new run.", body = Run,
            links(
            ("upload" = (operation_id = "upload_report", parameters(("project" = "$request.path.project"), ("run" = "$response.body#/id")))),
            ("finalize" = (operation_id = "finalize_run", parameters(("project" = "$request.path.project"), ("run" = "$response.body#/id")))),
            ("fail" = (operation_id = "fail_run", parameters(("project" = "$request.path.project"), ("run" = "$response.body#/id")))),
            ("get" = (operation_id = "get_run", parameters(("project" = "$request.path.project"), ("run" = "$response.body#/id")))),
            ("tests" = (operation_id = "list_run_tests", parameters(("project" = "$request.path.project"), ("run" = "$response.body#/id")))),
            ("compare" = (operation_id = "compare_run", parameters(("project" = "$request.path.project"), ("run" = "$response.body#/id")))),
            ("attach" = (operation_id = "upload_attachment", parameters(("project" = "$request.path.project"), ("run" = "$response.body#/id")))),
            ("attachments" = (operation_id = "list_attachments", parameters(("project" = "$request.path.project"), ("run" = "$response.body#/id"))))
            )
        ),
        (status = 200, description = "The running run of the same `build_id` and `name`.", body = Run),
    )
)]
#[post("/runs")]
async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    body: JsonBytes,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    // The body is judged after the project and the permission, like every route's.
    let meta = body.parse_or_default::<MetaBody>().and_then(MetaBody::into_meta);
    let (run, created) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let project = crate::ops::visible_project(tx, &caller.principal, &slug)?;
            caller.principal.require(Permission::RunsWrite)?;
            Ok(ingest::create_run(tx, project.id, &meta?)?)
        })
        .await?;
    Ok(if created { HttpResponse::Created().json(run) } else { HttpResponse::Ok().json(run) })
}

/// The report's format from `Content-Type`, and whether it is gzipped.
fn body_kind(headers: &HeaderMap) -> Result<(ReportFormat, bool), AppError> {
    let unsupported = AppError::unsupported_media_type;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let format = match mime.as_str() {
        "application/xml" | "text/xml" | "application/junit+xml" => ReportFormat::JUnit,
        "application/json" => ReportFormat::Ctrf,
        "" => {
            return Err(unsupported("Send a Content-Type: application/xml (JUnit) or application/json (CTRF).".into()))
        }
        other => {
            return Err(unsupported(format!(
                "Content-Type {other:?} is not supported; send application/xml (JUnit) or application/json (CTRF)."
            )))
        }
    };
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => false,
        Some(e) if e == "identity" || e.is_empty() => false,
        Some(e) if e == "gzip" || e == "x-gzip" => true,
        Some(e) => return Err(unsupported(format!("Content-Encoding {e:?} is not supported; use gzip or none."))),
    };
    Ok((format, gzip))
}

fn too_large(max: u64) -> AppError {
    AppError::payload_too_large(format!("The report is larger than {max} bytes."))
}

/// Receives the report into the spool as it arrives (413 past the cap,
/// 503 `server_busy` beyond `--ingest-memory-mib`), then hands it to
/// `store` in the writer's transaction, as ingestion reads it; the spooled
/// file goes once the transaction is over, off the executor. Refusals are
/// counted in the metrics. Returns what `store` did and the body's size.
async fn store_report<T: Send + 'static>(
    state: &AppState,
    req: &actix_web::HttpRequest,
    payload: web::Payload,
    (format, gzip): (ReportFormat, bool),
    store: impl FnOnce(&Tx, Upload<'static>) -> AppResult<T> + Send + 'static,
) -> AppResult<(T, u64)> {
    let max = state.config.max_report_bytes;
    let received = receive_upload(state, req, payload.into_inner(), Incoming::Report, || too_large(max)).await;
    let body = counted(state, received)?;
    let report = Upload { body: Box::new(body.reader()?), len: body.bytes, format, gzip, max_bytes: max };
    let stored = counted(state, state.db.write(move |tx| store(tx, report)).await);
    let bytes = body.bytes;
    body.discard().await;
    Ok((stored?, bytes))
}

/// Upload a report into a run
///
/// One report file: JUnit XML (`application/xml`, `text/xml`) or CTRF JSON
/// (`application/json`), optionally with `Content-Encoding: gzip`. Stored
/// whole or not at all; the same bytes again are a duplicate (200), counted
/// once. Needs `runs:write`.
#[utoipa::path(
    tag = "ingestion",
    operation_id = "upload_report",
    params(RunPath),
    request_body(
        description = "The report file.",
        content(
            (String = "application/xml", example = json!("<testsuite name=\"unit\"><testcase classname=\"a\" name=\"b\"/></testsuite>")),
            (String = "text/xml"),
            (Object = "application/json", example = json!({"results": {"tool": {"name": "jest"}, "tests": [{"name": "b", "status": "passed", "duration": 5}]}})),
        )
    ),
    responses(
        (status = 201, description = "Stored.", body = ReportStored),
        (status = 200, description = "The same bytes were stored in this run before (`duplicate: true`).", body = ReportStored),
        (status = 400, description = "Not a readable report (`invalid_report`, with the line and column).", body = ErrorBody),
        (status = 409, description = "The run is no longer running (`run_closed`).", body = ErrorBody),
        (status = 413, description = "Larger than `--max-report-bytes`, as sent or decompressed (`payload_too_large`).", body = ErrorBody),
        (status = 503, description = "The server is receiving as many uploads as `--ingest-memory-mib` allows (`server_busy`); send it again after `Retry-After` seconds.", body = ErrorBody),
    )
)]
#[post("/runs/{run}/reports")]
async fn upload(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunPath>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let RunPath { project: slug, run: run_id } = path.into_inner();
    // Cheap checks before reading a possibly large body.
    let kind = counted(&state, body_kind(req.headers()))?;
    let principal = caller.principal.clone();
    let open = state.db.read(move |c| -> AppResult<_> {
        let project = crate::ops::visible_project(c, &principal, &slug)?;
        principal.require(Permission::RunsWrite)?;
        // A closed or unknown run is refused before its report is read.
        Ok((ingest::open_run(c, project.id, &run_id)?.id, project))
    });
    let (run_id, project) = counted(&state, open.await)?;
    let (done, bytes) = store_report(&state, &req, payload, kind, move |tx, report| {
        let run = runs::get(tx, project.id, &run_id)?;
        Ok(ingest::ingest(tx, &project, &run, report)?)
    })
    .await?;
    count_stored(&state, &done, bytes);
    Ok(if done.duplicate { HttpResponse::Ok() } else { HttpResponse::Created() }.json(ReportStored::from(done)))
}

/// Counts a report's refusal in the metrics, passing the result on.
fn counted<T>(state: &AppState, result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        state.metrics.report_rejected(e.code());
    }
    result
}

/// Counts a stored report (not a duplicate) in the metrics.
fn count_stored(state: &AppState, done: &ingest::Ingested, bytes: u64) {
    if !done.duplicate {
        state.metrics.report_stored(done.counts.tests as u64, bytes);
    }
}

/// The answer to a report upload: its id, its counts, and whether it was a duplicate.
#[derive(Serialize, ToSchema)]
struct ReportStored {
    id: String,
    #[serde(flatten)]
    counts: Counts,
    duplicate: bool,
    /// What was odd but stored: no test cases, unnamed cases, durations that did not parse, unknown elements.
    warnings: Vec<String>,
}

impl From<ingest::Ingested> for ReportStored {
    fn from(done: ingest::Ingested) -> ReportStored {
        ReportStored { id: done.report_id, counts: done.counts, duplicate: done.duplicate, warnings: done.warnings }
    }
}

/// Finalize a run
///
/// Closes the run and computes its status (`passed`, `failed`, or `errored`
/// without results). Idempotent. Needs `runs:write`.
#[utoipa::path(
    tag = "ingestion",
    operation_id = "finalize_run",
    params(RunPath),
    responses(
        (status = 200, description = "The closed run.", body = Run),
        (status = 409, description = "The run was failed (`errored`) before; it stays so (`run_closed`).", body = ErrorBody),
    )
)]
#[post("/runs/{run}/finalize")]
async fn finalize(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunPath>,
) -> Result<HttpResponse, AppError> {
    let RunPath { project: slug, run: run_id } = path.into_inner();
    let run = state
        .db
        .write(move |tx| {
            let project = crate::ops::visible_project(tx, &caller.principal, &slug)?;
            caller.principal.require(Permission::RunsWrite)?;
            ingest::finalize(tx, project.id, &run_id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(run))
}

#[derive(Deserialize, Default, ToSchema)]
#[schema(as = RunFailure)]
#[serde(deny_unknown_fields)]
struct FailBody {
    /// Why the job failed, at most 2000 characters.
    #[schema(max_length = 2000)]
    reason: Option<String>,
}

/// Fail a run
///
/// The CI job failed before it could upload: the run becomes `errored`
/// with the reason. The body may be empty. Needs `runs:write`.
#[utoipa::path(
    tag = "ingestion",
    operation_id = "fail_run",
    params(RunPath),
    request_body(content = Option<FailBody>, description = "Optional."),
    responses(
        (status = 200, description = "The errored run.", body = Run),
        (status = 409, description = "The run is already closed (`run_closed`).", body = ErrorBody),
    )
)]
#[post("/runs/{run}/fail")]
async fn fail(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunPath>,
    body: JsonBytes,
) -> Result<HttpResponse, AppError> {
    let RunPath { project: slug, run: run_id } = path.into_inner();
    let reason = body
        .parse_or_default::<FailBody>()
        .and_then(|b| short("reason", b.reason, 2000))
        .map(|r| r.unwrap_or_else(|| "the CI job failed before it could upload".into()));
    let run = state
        .db
        .write(move |tx| -> AppResult<_> {
            let project = crate::ops::visible_project(tx, &caller.principal, &slug)?;
            caller.principal.require(Permission::RunsWrite)?;
            Ok(ingest::fail(tx, project.id, &run_id, &reason?)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(run))
}

/// A finished run and what its report's parser noticed.
#[derive(Serialize, ToSchema)]
struct RunStored {
    #[serde(flatten)]
    run: Run,
    warnings: Vec<String>,
}

/// Upload a run in one call
///
/// The common case: create (or join) a run from the query parameters,
/// store the body as its report, finalize it. The body is a report as for
/// `upload_report`. Needs `runs:write`.
#[utoipa::path(
    tag = "ingestion",
    operation_id = "upload_results",
    params(ProjectPath, MetaQuery),
    request_body(
        description = "The report file.",
        content((String = "application/xml"), (String = "text/xml"), (Object = "application/json"))
    ),
    responses(
        (status = 201, description = "The finalized run.", body = RunStored),
        (status = 400, description = "Not a readable report (`invalid_report`, with the line and column).", body = ErrorBody),
        (status = 409, description = "The run of this `build_id` and `name` is closed (`run_closed`).", body = ErrorBody),
        (status = 413, description = "Larger than `--max-report-bytes`, as sent or decompressed (`payload_too_large`).", body = ErrorBody),
        (status = 503, description = "The server is receiving as many uploads as `--ingest-memory-mib` allows (`server_busy`); send it again after `Retry-After` seconds.", body = ErrorBody),
    )
)]
#[post("/results")]
async fn results(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<MetaQuery>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let kind = counted(&state, body_kind(req.headers()))?;
    let meta = MetaBody::from(query.into_inner()).into_meta()?;
    let (principal, slug) = (caller.principal.clone(), path.into_inner().project);
    let project = state.db.read(move |c| crate::ops::visible_project(c, &principal, &slug)).await?;
    caller.principal.require(Permission::RunsWrite)?;
    let ((run, done), bytes) = store_report(&state, &req, payload, kind, move |tx, report| {
        let (run, _) = ingest::create_run(tx, project.id, &meta)?;
        let done = ingest::ingest(tx, &project, &run, report)?;
        Ok((ingest::finalize(tx, project.id, &run.id)?, done))
    })
    .await?;
    count_stored(&state, &done, bytes);
    Ok(HttpResponse::Created().json(RunStored { run, warnings: done.warnings }))
}
