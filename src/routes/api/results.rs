//! Reading routes (API.md section 4, `runs:read`): a project's runs, a run's
//! test results and its comparison with a base run, and one test's history.
//! (Flaky and slowest tests and failure groups: `analysis`.)

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{cursor, page_of, PageQuery, ProjectPath, RunPath};
use crate::auth::api::ApiCaller;
use crate::db::analysis::{HistoryEntry, TestInfo};
use crate::db::compare::Comparison;
use crate::db::failures::{self, FailureContext};
use crate::db::flaky::FlakyTest;
use crate::db::projects::Project;
use crate::db::quarantine::Rule;
use crate::db::results::TestResult;
use crate::db::runs::{self, Run, RunFilter, RunStatus};
use crate::db::Conn;
use crate::db::{compare, flaky, results, DbError, Missing};
use crate::domain::permission::Permission;
use crate::domain::time::unix_now;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_runs).service(get_run).service(run_tests).service(compare_run).service(test_history);
}

/// Runs `f` on a read connection once the caller may read runs of `slug`
/// (an invisible project is the same 404 as a missing one).
pub(super) async fn read_project<T, F>(state: &AppState, caller: ApiCaller, slug: String, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&Conn, &Project) -> Result<T, DbError> + Send + 'static,
{
    state
        .db
        .read(move |c| -> AppResult<T> {
            let project = crate::ops::visible_project(c, &caller.principal, &slug)?;
            caller.principal.require(Permission::RunsRead)?;
            Ok(f(c, &project)?)
        })
        .await
}

pub(super) fn page(limit: Option<u32>, cursor: Option<String>) -> PageQuery {
    PageQuery { limit, cursor }
}

#[derive(Deserialize, IntoParams)]
struct RunsQuery {
    /// Only runs of this branch.
    branch: Option<String>,
    /// Only runs of this status: `running`, `passed`, `failed` or `errored`.
    #[param(pattern = "^(running|passed|failed|errored)?$")]
    status: Option<String>,
    /// Only runs of this commit.
    commit: Option<String>,
    /// Only runs of this name.
    name: Option<String>,
    // Not `#[serde(flatten)] PageQuery`: serde_urlencoded cannot read
    // numbers through `flatten` (every `?limit=` would be a 400).
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

page_of!(
    /// A page of runs, newest first.
    RunPage, runs: Run
);

/// List runs
///
/// A project's runs, newest first. Needs `runs:read`.
#[utoipa::path(tag = "reading", operation_id = "list_runs", params(ProjectPath, RunsQuery), responses((status = 200, description = "A page of runs.", body = RunPage)))]
#[get("/runs")]
async fn list_runs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let q = query.into_inner();
    let page = page(q.limit, q.cursor);
    let limit = page.limit()?;
    let before = page.after()?;
    if before.as_deref().is_some_and(|id| uuid::Uuid::parse_str(id).is_err()) {
        return Err(AppError::validation("Invalid cursor."));
    }
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            AppError::validation(format!("status {s:?} is not one of running, passed, failed, errored."))
        })?),
    };
    let empty_is_none = |v: Option<String>| v.filter(|v| !v.is_empty());
    let filter = RunFilter { branch: empty_is_none(q.branch), status, commit: empty_is_none(q.commit), name: q.name };
    let runs =
        read_project(&state, caller, slug, move |c, p| runs::list(c, p.id, &filter, before.as_deref(), limit + 1))
            .await?;
    Ok(HttpResponse::Ok().json(RunPage::of(runs, limit, |r| r.id.clone())))
}

/// Get a run
///
/// Needs `runs:read`.
#[utoipa::path(
    tag = "reading",
    operation_id = "get_run",
    params(RunPath),
    responses((status = 200, description = "The run.", body = Run), (status = 404, description = "No such run (`not_found`), or no such project.", body = ErrorBody))
)]
#[get("/runs/{run}")]
async fn get_run(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunPath>,
) -> Result<HttpResponse, AppError> {
    let RunPath { project: slug, run: run_id } = path.into_inner();
    let run = read_project(&state, caller, slug, move |c, p| runs::get(c, p.id, &run_id)).await?;
    Ok(HttpResponse::Ok().json(run))
}

#[derive(Deserialize, IntoParams)]
struct TestsQuery {
    /// Only results of this status: `passed`, `failed`, `error`, `skipped` or `flaky`.
    #[param(pattern = "^(passed|failed|error|skipped|flaky)?$")]
    status: Option<String>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of a run's results: its size, the (rank, test id) it starts after, the status filter.
type TestsPage = (u32, Option<(i64, String)>, Option<String>);

impl TestsQuery {
    /// The page size, the position after which the page starts, and the
    /// status filter. The cursor is "<rank>:<test_id>" of the previous
    /// page's last result.
    fn parse(self) -> Result<TestsPage, AppError> {
        let page = page(self.limit, self.cursor);
        let limit = page.limit()?;
        let after = match page.after()? {
            None => None,
            Some(c) => {
                let parsed = c.split_once(':').and_then(|(rank, id)| Some((rank.parse::<i64>().ok()?, id.to_string())));
                Some(parsed.ok_or_else(|| AppError::validation("Invalid cursor."))?)
            }
        };
        let status = self.status.filter(|s| !s.is_empty());
        if let Some(s) = &status {
            if !TEST_STATUSES.contains(&s.as_str()) {
                return Err(AppError::validation(format!("status {s:?} is not one of {}.", TEST_STATUSES.join(", "))));
            }
        }
        Ok((limit, after, status))
    }
}

const TEST_STATUSES: [&str; 5] = ["passed", "failed", "error", "skipped", "flaky"];

/// A test result, with what is known about its failure.
#[derive(Serialize, ToSchema)]
pub(crate) struct Ranked {
    #[serde(skip)]
    rank: i64,
    #[serde(flatten)]
    result: TestResult,
    #[serde(flatten)]
    context: FailureContext,
}

page_of!(
    /// A page of a run's test results: failures first, then by name.
    ResultPage, tests: Ranked
);

/// List a run's test results
///
/// Failures first, each with its context (failing since, known flaky,
/// quarantined). Needs `runs:read`.
#[utoipa::path(
    tag = "reading",
    operation_id = "list_run_tests",
    params(RunPath, TestsQuery),
    responses((status = 200, description = "A page of the run's test results.", body = ResultPage), (status = 404, description = "No such run (`not_found`), or no such project.", body = ErrorBody))
)]
#[get("/runs/{run}/tests")]
async fn run_tests(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunPath>,
    query: web::Query<TestsQuery>,
) -> Result<HttpResponse, AppError> {
    let RunPath { project: slug, run: run_id } = path.into_inner();
    let (limit, after, status) = query.into_inner().parse()?;
    let (rows, contexts) = read_project(&state, caller, slug, move |c, p| {
        let run = runs::get(c, p.id, &run_id)?;
        let rows = results::list(c, p.id, run.seq, status.as_deref(), after, limit + 1)?;
        let results: Vec<TestResult> = rows.iter().map(|(_, r)| r.clone()).collect();
        let contexts = failures::context(c, p, &run, &results, unix_now())?;
        Ok((rows, contexts))
    })
    .await?;
    let items: Vec<Ranked> =
        rows.into_iter().zip(contexts).map(|((rank, result), context)| Ranked { rank, result, context }).collect();
    Ok(HttpResponse::Ok().json(ResultPage::of(items, limit, |r| format!("{}:{}", r.rank, r.result.test_id))))
}

#[derive(Deserialize, IntoParams)]
struct CompareQuery {
    /// The run to compare with; default: the newest finished run of the
    /// same name on the project's default branch.
    base: Option<String>,
}

/// A run compared with its base.
#[derive(Serialize, ToSchema)]
struct RunComparison {
    #[serde(flatten)]
    comparison: Comparison,
    run: Run,
}

/// Compare a run with its base
///
/// New failures (regressions), fixed, still failing, and slower tests
/// (duration up ≥ 50% and ≥ 100 ms). Needs `runs:read`.
#[utoipa::path(
    tag = "reading",
    operation_id = "compare_run",
    params(RunPath, CompareQuery),
    responses((status = 200, description = "The comparison.", body = RunComparison), (status = 404, description = "No such run or base run (`not_found`), or no such project.", body = ErrorBody))
)]
#[get("/runs/{run}/compare")]
async fn compare_run(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RunPath>,
    query: web::Query<CompareQuery>,
) -> Result<HttpResponse, AppError> {
    let RunPath { project: slug, run: run_id } = path.into_inner();
    let base = query.into_inner().base.filter(|b| !b.is_empty());
    let (run, comparison) = read_project(&state, caller, slug, move |c, p| {
        let run = runs::get(c, p.id, &run_id)?;
        let comparison = compare::compare(c, p, &run, base.as_deref())?;
        Ok((run, comparison))
    })
    .await?;
    Ok(HttpResponse::Ok().json(RunComparison { comparison, run }))
}

/// One test's page.
#[derive(Serialize, ToSchema)]
struct TestHistory {
    test: TestInfo,
    /// Its flakiness in the last 30 days; null when no signal fired and it was never marked fixed.
    flaky: Option<FlakyTest>,
    /// The active quarantine rule covering it.
    quarantine: Option<Rule>,
    /// Its results, newest first.
    history: Vec<HistoryEntry>,
    next_cursor: Option<String>,
}

/// `{project}` and `{test_id}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TestPath {
    /// The project's slug.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub project: String,
    /// The test's id, stable across runs: 32 hexadecimal characters.
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub test_id: String,
}

/// Get a test's history
///
/// The test, its flakiness and quarantine, and its results newest first. Needs `runs:read`.
#[utoipa::path(
    tag = "reading",
    operation_id = "get_test",
    params(TestPath, PageQuery),
    responses((status = 200, description = "The test and its history.", body = TestHistory), (status = 404, description = "No such test (`not_found`), or no such project.", body = ErrorBody))
)]
#[get("/tests/{test_id}")]
async fn test_history(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<TestPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let TestPath { project: slug, test_id } = path.into_inner();
    let page = query.into_inner();
    let limit = page.limit()?;
    let before = page.after()?;
    let found = read_project(&state, caller, slug, move |c, p| {
        flaky::test_page(c, p, &test_id, limit + 1, before.as_deref(), unix_now())
    })
    .await?;
    let (test, mut history, standing) = found.ok_or_else(|| AppError::from(DbError::NotFound(Missing::Test)))?;
    let next = if history.len() > limit as usize {
        history.truncate(limit as usize);
        history.last().map(|h| cursor(&h.page_key()))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(TestHistory {
        test,
        flaky: standing.flaky,
        quarantine: standing.quarantine,
        history,
        next_cursor: next,
    }))
}
