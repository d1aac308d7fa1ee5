//! Reading routes (API.md section 4, `runs:read`): a project's runs, a run's
//! test results and its comparison with a base run, flaky and slowest tests
//! in a window of days, and one test's history.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{collection, cursor, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db::failures::{self, FailureContext};
use crate::db::projects::Project;
use crate::db::results::TestResult;
use crate::db::runs::{self, RunFilter, RunStatus};
use crate::db::Conn;
use crate::db::{analysis, compare, flaky, results, DbError, Missing};
use crate::domain::permission::Permission;
use crate::domain::time::unix_now;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/runs", web::get().to(list_runs))
        .route("/runs/{run}", web::get().to(get_run))
        .route("/runs/{run}/tests", web::get().to(run_tests))
        .route("/runs/{run}/compare", web::get().to(compare))
        // Before `/tests/{test_id}`, which would otherwise take these names.
        .route("/tests/flaky", web::get().to(flaky))
        .route("/tests/slowest", web::get().to(slowest))
        .route("/errors", web::get().to(errors))
        .route("/tests/{test_id}", web::get().to(test_history));
}

/// Runs `f` on a read connection once the caller may read runs of `slug`
/// (an invisible project is the same 404 as a missing one).
async fn read_project<T, F>(state: &AppState, caller: ApiCaller, slug: String, f: F) -> Result<T, AppError>
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

fn page(limit: Option<u32>, cursor: Option<String>) -> PageQuery {
    PageQuery { limit, cursor }
}

#[derive(Deserialize)]
struct RunsQuery {
    branch: Option<String>,
    status: Option<String>,
    commit: Option<String>,
    name: Option<String>,
    // Not `#[serde(flatten)] PageQuery`: serde_urlencoded cannot read
    // numbers through `flatten` (every `?limit=` would be a 400).
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list_runs(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    query: web::Query<RunsQuery>,
) -> Result<HttpResponse, AppError> {
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
    let runs = read_project(&state, caller, slug.into_inner(), move |c, p| {
        runs::list(c, p.id, &filter, before.as_deref(), limit + 1)
    })
    .await?;
    Ok(collection("runs", runs, limit, |r| r.id.clone()))
}

async fn get_run(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, run_id) = path.into_inner();
    let run = read_project(&state, caller, slug, move |c, p| runs::get(c, p.id, &run_id)).await?;
    Ok(HttpResponse::Ok().json(run))
}

#[derive(Deserialize)]
struct TestsQuery {
    status: Option<String>,
    limit: Option<u32>,
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

/// A result with its sort rank, which the page cursor carries.
#[derive(Serialize)]
struct Ranked {
    #[serde(skip)]
    rank: i64,
    #[serde(flatten)]
    result: TestResult,
    #[serde(flatten)]
    context: FailureContext,
}

async fn run_tests(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    query: web::Query<TestsQuery>,
) -> Result<HttpResponse, AppError> {
    let (slug, run_id) = path.into_inner();
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
    Ok(collection("tests", items, limit, |r| format!("{}:{}", r.rank, r.result.test_id)))
}

#[derive(Deserialize)]
struct CompareQuery {
    base: Option<String>,
}

async fn compare(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    query: web::Query<CompareQuery>,
) -> Result<HttpResponse, AppError> {
    let (slug, run_id) = path.into_inner();
    let base = query.into_inner().base.filter(|b| !b.is_empty());
    let (run, comparison) = read_project(&state, caller, slug, move |c, p| {
        let run = runs::get(c, p.id, &run_id)?;
        let comparison = compare::compare(c, p, &run, base.as_deref())?;
        Ok((run, comparison))
    })
    .await?;
    let mut body = serde_json::to_value(&comparison).map_err(AppError::internal)?;
    body["run"] = serde_json::to_value(&run).map_err(AppError::internal)?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
struct WindowQuery {
    days: Option<u32>,
    limit: Option<u32>,
}

pub const DEFAULT_DAYS: u32 = 30;
pub const MAX_DAYS: u32 = 365;

impl WindowQuery {
    fn days(&self) -> Result<u32, AppError> {
        match self.days {
            None => Ok(DEFAULT_DAYS),
            Some(d) if (1..=MAX_DAYS).contains(&d) => Ok(d),
            Some(_) => Err(AppError::validation(format!("days must be between 1 and {MAX_DAYS}."))),
        }
    }
}

async fn flaky(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
) -> Result<HttpResponse, AppError> {
    let days = query.days()?;
    let limit = page(query.limit, None).limit()?;
    let list = read_project(&state, caller, slug.into_inner(), move |c, p| {
        let now = unix_now();
        flaky::list(c, p, crate::domain::time::days_before(now, days), now, limit)
    })
    .await?;
    let window = json!({"days": days, "runs": list.window_runs, "complete": list.complete});
    Ok(HttpResponse::Ok().json(json!({"tests": list.tests, "days": days, "window": window, "next_cursor": null})))
}

async fn slowest(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
) -> Result<HttpResponse, AppError> {
    let days = query.days()?;
    let limit = page(query.limit, None).limit()?;
    let (tests, complete) =
        read_project(&state, caller, slug.into_inner(), move |c, p| analysis::slowest_tests(c, p.id, days, limit))
            .await?;
    let window = json!({"days": days, "complete": complete});
    Ok(HttpResponse::Ok().json(json!({"tests": tests, "days": days, "window": window, "next_cursor": null})))
}

/// The failure groups of the window: failures sharing a normalized message.
async fn errors(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
) -> Result<HttpResponse, AppError> {
    let days = query.days()?;
    let limit = page(query.limit, None).limit()?;
    let groups = read_project(&state, caller, slug.into_inner(), move |c, p| {
        failures::groups(c, p.id, crate::domain::time::days_before(unix_now(), days), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({"errors": groups, "days": days, "next_cursor": null})))
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn test_history(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, AppError> {
    let (slug, test_id) = path.into_inner();
    let q = query.into_inner();
    let page = page(q.limit, q.cursor);
    let limit = page.limit()?;
    let before = page.after()?;
    let found = read_project(&state, caller, slug, move |c, p| {
        flaky::test_page(c, p, &test_id, limit + 1, before.as_deref(), unix_now())
    })
    .await?;
    let (test, mut history, standing) = found.ok_or_else(|| AppError::from(DbError::NotFound(Missing::Test)))?;
    let next = if history.len() > limit as usize {
        history.truncate(limit as usize);
        history.last().map(|h| cursor(&h.run_id))
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(json!({
        "test": test,
        "flaky": standing.flaky,
        "quarantine": standing.quarantine,
        "history": history,
        "next_cursor": next,
    })))
}
