//! Analyses of a project's window of days (API.md sections 4 and 9,
//! `runs:read`): flaky tests, the slowest tests, and failure groups.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::results::{page, read_project};
use super::ProjectPath;
use crate::auth::api::ApiCaller;
use crate::db::analysis::{self, SlowTest};
use crate::db::failures::{self, ErrorGroup};
use crate::db::flaky::{self, FlakyTest};
use crate::db::{rollups, DbError};
use crate::domain::time::unix_now;
use crate::error::AppError;
use crate::state::AppState;

/// Before `results::configure`: `/tests/{test_id}` would otherwise take these names.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(flaky_tests).service(slowest).service(errors);
}

#[derive(Deserialize, IntoParams)]
struct WindowQuery {
    /// The window: runs of the last this many days, 1–365 (default 30).
    #[param(minimum = 1, maximum = 365)]
    days: Option<u32>,
    /// Items, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// The window an analysis covered.
#[derive(Serialize, ToSchema)]
struct Window {
    days: u32,
    /// Runs created in the window (flaky tests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    runs: Option<u32>,
    /// False when the window reaches back past the rollups kept
    /// (`--rollup-retention-days`): then it starts where they do.
    complete: bool,
}

/// The project's flaky tests in a window.
#[derive(Serialize, ToSchema)]
struct FlakyTests {
    tests: Vec<FlakyTest>,
    days: u32,
    window: Window,
    /// Always null: the list is not paged.
    next_cursor: Option<String>,
}

/// The project's slowest tests in a window.
#[derive(Serialize, ToSchema)]
struct SlowTests {
    tests: Vec<SlowTest>,
    days: u32,
    window: Window,
    /// Always null: the list is not paged.
    next_cursor: Option<String>,
}

/// The failure groups of a window.
#[derive(Serialize, ToSchema)]
struct ErrorGroups {
    errors: Vec<ErrorGroup>,
    days: u32,
    /// Always null: the list is not paged.
    next_cursor: Option<String>,
}

pub const DEFAULT_DAYS: u32 = 30;
pub const MAX_DAYS: u32 = 365;

impl WindowQuery {
    /// The window's days and the list's length, each checked.
    fn window(&self) -> Result<(u32, u32), AppError> {
        let days = match self.days {
            None => DEFAULT_DAYS,
            Some(d) if (1..=MAX_DAYS).contains(&d) => d,
            Some(_) => return Err(AppError::validation(format!("days must be between 1 and {MAX_DAYS}."))),
        };
        Ok((days, page(self.limit, None).limit()?))
    }
}

/// List flaky tests
///
/// The project's flaky tests in the window, most signals fired first, with
/// their quarantine state. Needs `runs:read`.
#[utoipa::path(tag = "reading", operation_id = "list_flaky_tests", params(ProjectPath, WindowQuery), responses((status = 200, description = "The flaky tests.", body = FlakyTests)))]
#[get("/tests/flaky")]
async fn flaky_tests(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<WindowQuery>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let (days, limit) = query.window()?;
    let (list, complete) = read_project(&state, caller, slug, move |c, p| {
        let now = unix_now();
        let since = crate::domain::time::window_start(now, days);
        Ok::<_, DbError>((flaky::list(c, p, since, now, limit)?, rollups::covers(c, since)?))
    })
    .await?;
    let window = Window { days, runs: Some(list.window_runs), complete };
    Ok(HttpResponse::Ok().json(FlakyTests { tests: list.tests, days, window, next_cursor: None }))
}

/// List the slowest tests
///
/// Tests by p95 duration in the window, with p50, p95 and the trend. Needs `runs:read`.
#[utoipa::path(tag = "reading", operation_id = "list_slowest_tests", params(ProjectPath, WindowQuery), responses((status = 200, description = "The slowest tests.", body = SlowTests)))]
#[get("/tests/slowest")]
async fn slowest(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<WindowQuery>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let (days, limit) = query.window()?;
    let (tests, complete) = read_project(&state, caller, slug, move |c, p| {
        let since = crate::domain::time::window_start(unix_now(), days);
        Ok::<_, DbError>((analysis::slowest_tests(c, p.id, since, limit)?, rollups::covers(c, since)?))
    })
    .await?;
    let window = Window { days, runs: None, complete };
    Ok(HttpResponse::Ok().json(SlowTests { tests, days, window, next_cursor: None }))
}

/// List failure groups
///
/// The window's failures grouped by their normalized message, most
/// failures first. Needs `runs:read`.
#[utoipa::path(tag = "reading", operation_id = "list_errors", params(ProjectPath, WindowQuery), responses((status = 200, description = "The failure groups.", body = ErrorGroups)))]
#[get("/errors")]
async fn errors(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<WindowQuery>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let (days, limit) = query.window()?;
    let groups = read_project(&state, caller, slug, move |c, p| {
        failures::groups(c, p.id, crate::domain::time::window_start(unix_now(), days), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ErrorGroups { errors: groups, days, next_cursor: None }))
}
