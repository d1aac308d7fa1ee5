//! Quarantine rules of a project: `/api/v1/projects/{project}/quarantine`
//! (API.md section 9), and marking a flaky test fixed. Reading needs
//! `runs:read`; making and releasing rules and marks `tests:manage`.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::results::TestPath;
use super::{page_of, ApiJson, PageQuery, ProjectItemPath, ProjectPath};
use crate::auth::api::ApiCaller;
use crate::db::flaky::FlakyTest;
use crate::db::quarantine::{self, After, Rule};
use crate::domain::permission::Permission;
use crate::domain::quarantine::{self as rules, Pattern};
use crate::domain::time::{parse_rfc3339, unix_now};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::ops::quarantine::{self as ops, Covers, Quarantine};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(release).service(mark_fixed);
}

/// A page's cursor: `<1|0>:<rule id>`, whether the last rule was active.
fn after(cursor: Option<String>) -> Result<Option<After>, AppError> {
    let Some(cursor) = cursor else { return Ok(None) };
    match cursor.split_once(':') {
        Some(("1", id)) => Ok(Some(After { active: true, id: id.to_string() })),
        Some(("0", id)) => Ok(Some(After { active: false, id: id.to_string() })),
        _ => Err(AppError::validation("Invalid cursor.")),
    }
}

page_of!(
    /// A page of quarantine rules: active ones first.
    RulePage, quarantine: Rule
);

/// List quarantine rules
///
/// Active rules first, then released and expired ones. Needs `runs:read`.
#[utoipa::path(tag = "quarantine", operation_id = "list_quarantine", params(ProjectPath, PageQuery), responses((status = 200, description = "A page of quarantine rules.", body = RulePage)))]
#[get("/quarantine")]
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let (limit, after) = (query.limit()?, after(query.after()?)?);
    let rules = state
        .db
        .read(move |c| -> AppResult<_> {
            let project = crate::ops::visible_project(c, &caller.principal, &slug)?;
            caller.principal.require(Permission::RunsRead)?;
            Ok(quarantine::list(c, project.id, unix_now(), after.as_ref(), limit + 1)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(RulePage::of(rules, limit, |r: &Rule| format!("{}:{}", u8::from(r.active), r.id))))
}

/// Globs (`*`, `?`) on a test's fields; at least one, each non-empty.
#[derive(Deserialize, ToSchema)]
#[schema(as = TestPattern)]
#[serde(deny_unknown_fields)]
struct PatternBody {
    #[schema(min_length = 1, max_length = 500)]
    suite: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    classname: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    file: Option<String>,
}

/// A quarantine rule to make: `test_id` or `pattern`, and a reason.
#[derive(Deserialize, ToSchema)]
#[schema(as = NewQuarantineRule)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"test_id": "5d41402abc4b2a76b9719d911017c592", "reason": "Times out on shared runners", "expires_in_days": 14}))]
struct CreateBody {
    /// One test: its 32 hexadecimal `test_id`.
    #[schema(pattern = "^[0-9a-fA-F]{32}$")]
    test_id: Option<String>,
    /// Every test matching these globs.
    pattern: Option<PatternBody>,
    /// Why (1–500 characters).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
    /// An http(s) link to the issue tracking the fix.
    #[schema(max_length = 2000)]
    issue_url: Option<String>,
    /// 1–180 (default 30), or `expires_at` instead.
    #[schema(minimum = 1, maximum = 180)]
    expires_in_days: Option<i64>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// Release the rule after this many passes in a row (1–100); null: never.
    #[schema(minimum = 1, maximum = 100)]
    release_after_passes: Option<i64>,
}

impl CreateBody {
    /// The rule asked for, every field checked (a 400 naming the field).
    fn quarantine(self) -> Result<Quarantine, AppError> {
        let covers = match (self.test_id, self.pattern) {
            (Some(_), Some(_)) => return Err(AppError::validation("Give test_id or pattern, not both.")),
            (None, None) => return Err(AppError::validation("Give test_id or pattern.")),
            (Some(id), None) => Covers::Test(rules::test_id(&id)?),
            (None, Some(p)) => Covers::Pattern(Pattern::new(p.suite, p.classname, p.name, p.file)?),
        };
        let at = match self.expires_at.as_deref() {
            None => None,
            Some(raw) => Some(parse_rfc3339(raw).ok_or_else(|| {
                AppError::validation("expires_at must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z.")
            })?),
        };
        let (url, days, passes) = (self.issue_url.as_deref(), self.expires_in_days, self.release_after_passes);
        Quarantine::new(covers, &self.reason, url, days, at, passes).map_err(AppError::from)
    }
}

/// Quarantine tests
///
/// Failures of the tests the rule covers no longer fail a run, until it
/// expires, is released, or the test passed `release_after_passes` times in
/// a row. Needs `tests:manage`; audited.
#[utoipa::path(
    tag = "quarantine",
    operation_id = "create_quarantine",
    params(ProjectPath),
    request_body = CreateBody,
    responses((status = 201, description = "The rule.", body = Rule,
            links(
            ("release" = (operation_id = "release_quarantine", parameters(("project" = "$request.path.project"), ("id" = "$response.body#/id"))))
            )
        ))
)]
#[post("/quarantine")]
async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let request = body.into_inner().quarantine()?;
    let rule = state.db.write(move |tx| ops::create(tx, &caller.audit(), &caller.principal, &slug, request)).await?;
    Ok(HttpResponse::Created().json(rule))
}

/// Release a quarantine rule
///
/// Needs `tests:manage`; audited.
#[utoipa::path(
    tag = "quarantine",
    operation_id = "release_quarantine",
    params(ProjectItemPath),
    responses((status = 204, description = "Released."), (status = 404, description = "No such active rule (`not_found`), or no such project.", body = ErrorBody))
)]
#[delete("/quarantine/{id}")]
async fn release(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project: slug, id } = path.into_inner();
    state.db.write(move |tx| ops::release(tx, &caller.audit(), &caller.principal, &slug, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mark a flaky test fixed
///
/// From now on only later runs count for its flakiness; it is listed as
/// `fixed` until a signal fires again. Needs `tests:manage`; audited.
#[utoipa::path(
    tag = "quarantine",
    operation_id = "mark_test_fixed",
    params(TestPath),
    responses(
        (status = 200, description = "The test's flaky-list entry.", body = FlakyTest),
        (status = 404, description = "No such test with a flakiness signal (`not_found`), or no such project.", body = ErrorBody),
    )
)]
#[post("/tests/{test_id}/fixed")]
async fn mark_fixed(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TestPath>,
) -> Result<HttpResponse, AppError> {
    let TestPath { project: slug, test_id } = path.into_inner();
    let test_id = rules::test_id(&test_id)?;
    let item = state
        .db
        .write(move |tx| crate::ops::flaky::mark_fixed(tx, &caller.audit(), &caller.principal, &slug, &test_id))
        .await?;
    Ok(HttpResponse::Ok().json(item))
}
