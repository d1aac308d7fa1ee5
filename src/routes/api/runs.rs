//! Ingestion routes (API.md section 3): create a run (shards join it),
//! upload reports into it, finalize or fail it, and the one-call `/results`.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{invalid, JsonBytes};
use crate::auth::api::ApiCaller;
use crate::db::runs::{self, RunMeta};
use crate::domain::names::parse_branch;
use crate::domain::permission::Permission;
use crate::domain::report::ReportFormat;
use crate::domain::secrets::{redact_json, redact_owned};
use crate::error::{AppError, AppResult};
use crate::ops::ingest::{self, Upload};
use crate::routes::input::{declared_length, read_capped};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/runs", web::post().to(create))
        .route("/runs/{run}/reports", web::post().to(upload))
        .route("/runs/{run}/finalize", web::post().to(finalize))
        .route("/runs/{run}/fail", web::post().to(fail))
        .route("/results", web::post().to(results));
}

/// Run metadata as JSON (create) or query parameters (`/results`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaBody {
    commit: Option<String>,
    branch: Option<String>,
    build_id: Option<String>,
    build_url: Option<String>,
    name: Option<String>,
    #[serde(default)]
    tags: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A trimmed free-text field of at most `max` characters; a token pasted
/// into it is cut out (CI sends these, and a run must not fail for it).
fn short(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, AppError> {
    match value.map(|v| redact_owned(v.trim().to_string())).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(AppError::validation(format!("{field} must be at most {max} characters without control characters.")))
        }
        other => Ok(other),
    }
}

impl MetaBody {
    fn into_meta(self) -> Result<RunMeta, AppError> {
        let tags = self.tags.unwrap_or_default();
        if tags.len() > 50 || tags.values().any(|v| !v.is_string()) {
            return Err(AppError::validation("tags must be an object of at most 50 string values."));
        }
        let mut tags = serde_json::Value::Object(tags);
        redact_json(&mut tags);
        Ok(RunMeta {
            commit: short("commit", self.commit, 100)?,
            branch: self.branch.as_deref().map(parse_branch).transpose().map_err(invalid)?.map(redact_owned),
            build_id: short("build_id", self.build_id, 200)?,
            build_url: short("build_url", self.build_url, 2000)?,
            name: short("name", self.name, 200)?.unwrap_or_default(),
            tags,
        })
    }
}

async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: JsonBytes,
) -> Result<HttpResponse, AppError> {
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

/// Reads the report into memory, refusing more than `max` bytes (413).
async fn read_body(req: &actix_web::HttpRequest, payload: web::Payload, max: u64) -> Result<web::Bytes, AppError> {
    let declared = declared_length(req.headers());
    read_capped(&mut payload.into_inner(), declared, max as usize, || too_large(max)).await
}

async fn upload(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (slug, run_id) = path.into_inner();
    // Cheap checks before reading a possibly large body.
    let (format, gzip) = counted(&state, body_kind(req.headers()))?;
    let max = state.config.max_report_bytes;
    let principal = caller.principal.clone();
    let project = state.db.read(move |c| crate::ops::visible_project(c, &principal, &slug)).await?;
    caller.principal.require(Permission::RunsWrite)?;
    let body = counted(&state, read_body(&req, payload, max).await)?;
    let bytes = body.len() as u64;
    let done = state
        .db
        .write(move |tx| {
            let run = runs::get(tx, project.id, &run_id)?;
            ingest::ingest(tx, &project, &run, &Upload { bytes: &body, format, gzip, max_bytes: max })
        })
        .await
        .map_err(AppError::from);
    let done = counted(&state, done)?;
    count_stored(&state, &done, bytes);
    Ok(if done.duplicate { HttpResponse::Ok() } else { HttpResponse::Created() }.json(report_body(&done)))
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
fn report_body(done: &ingest::Ingested) -> serde_json::Value {
    json!({
        "id": done.report_id,
        "tests": done.counts.tests,
        "passed": done.counts.passed,
        "failed": done.counts.failed,
        "errors": done.counts.errors,
        "skipped": done.counts.skipped,
        "flaky": done.counts.flaky,
        "duplicate": done.duplicate,
        "warnings": done.warnings,
    })
}

async fn finalize(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, run_id) = path.into_inner();
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FailBody {
    reason: Option<String>,
}

async fn fail(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: JsonBytes,
) -> Result<HttpResponse, AppError> {
    let (slug, run_id) = path.into_inner();
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

/// One call for the common case: create or join the run, store the report, finalize.
async fn results(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    query: web::Query<MetaBody>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let (format, gzip) = counted(&state, body_kind(req.headers()))?;
    let meta = query.into_inner().into_meta()?;
    let max = state.config.max_report_bytes;
    let (principal, slug) = (caller.principal.clone(), slug.into_inner());
    let project = state.db.read(move |c| crate::ops::visible_project(c, &principal, &slug)).await?;
    caller.principal.require(Permission::RunsWrite)?;
    let body = counted(&state, read_body(&req, payload, max).await)?;
    let bytes = body.len() as u64;
    let stored = state
        .db
        .write(move |tx| -> AppResult<_> {
            let (run, _) = ingest::create_run(tx, project.id, &meta)?;
            let done = ingest::ingest(tx, &project, &run, &Upload { bytes: &body, format, gzip, max_bytes: max })?;
            Ok((ingest::finalize(tx, project.id, &run.id)?, done))
        })
        .await;
    let (run, done) = counted(&state, stored)?;
    count_stored(&state, &done, bytes);
    let mut body = serde_json::to_value(run).map_err(AppError::internal)?;
    body["warnings"] = json!(done.warnings);
    Ok(HttpResponse::Created().json(body))
}
