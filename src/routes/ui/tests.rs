//! A project's test analytics pages: flaky tests, slowest tests (both over a
//! window of 7, 30 or 90 days) and one test's history with its charts.

use actix_web::web;
use serde::Deserialize;

use crate::auth::session::SessionUser;
use crate::db;
use crate::db::analysis;
use crate::domain::analysis::Trend;
use crate::domain::permission::Permission;
use crate::error::{AppResult, PageResult};
use crate::state::AppState;
use crate::views::charts::human_ms;
use crate::views::{
    percent, test_history_page, test_href, test_name, test_scope, FlakyPage, FlakyRow, Layout, SlowRow, SlowestPage,
    Tab, TestPage, When, WINDOW_DAYS,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects/{slug}/flaky", web::get().to(flaky))
        .route("/projects/{slug}/slowest", web::get().to(slowest))
        .route("/projects/{slug}/tests/{test_id}", web::get().to(history));
}

/// Rows on the flaky and slowest pages.
const TOP: u32 = 100;
/// Results per page of a test's history (and in its charts).

#[derive(Debug, Deserialize)]
struct WindowQuery {
    days: Option<String>,
}

impl WindowQuery {
    /// One of the offered windows; 30 days for anything else.
    fn days(&self) -> u32 {
        self.days.as_deref().and_then(|d| d.trim().parse().ok()).filter(|d| WINDOW_DAYS.contains(d)).unwrap_or(30)
    }
}

async fn flaky(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
) -> PageResult<FlakyPage> {
    user.principal.require(Permission::RunsRead)?;
    let (slug, days) = (slug.into_inner(), query.days());
    let (project, tests) = state
        .db
        .read(move |c| -> AppResult<_> {
            let project = db::projects::require(c, &slug)?;
            let tests = analysis::flaky_tests(c, project.id, days, TOP)?;
            Ok((project, tests))
        })
        .await?;
    let rows = tests
        .into_iter()
        .map(|t| FlakyRow {
            href: test_href(&project.slug, &t.test_id),
            name: test_name(&t.name),
            scope: test_scope(&t.suite, &t.classname),
            flips: t.flips,
            failure_rate: percent(t.failure_rate),
            runs: t.runs,
            last_flaky: When::at(t.last_flaky_at),
        })
        .collect();
    Ok(FlakyPage {
        layout: Layout::new(&user, format!("Flaky tests · {}", project.name), "projects"),
        project,
        tab: Tab::Flaky,
        days,
        windows: WINDOW_DAYS,
        rows,
    })
}

/// Arrow, CSS class and word for a trend.
fn trend_look(trend: Trend) -> (&'static str, &'static str, &'static str) {
    match trend {
        Trend::Slower => ("↑", "err", "slower"),
        Trend::Faster => ("↓", "ok", "faster"),
        Trend::Stable => ("→", "muted", "stable"),
    }
}

async fn slowest(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
) -> PageResult<SlowestPage> {
    user.principal.require(Permission::RunsRead)?;
    let (slug, days) = (slug.into_inner(), query.days());
    let (project, tests) = state
        .db
        .read(move |c| -> AppResult<_> {
            let project = db::projects::require(c, &slug)?;
            let tests = analysis::slowest_tests(c, project.id, days, TOP)?;
            Ok((project, tests))
        })
        .await?;
    let rows = tests
        .into_iter()
        .map(|t| {
            let (trend_arrow, trend_class, trend) = trend_look(t.trend);
            SlowRow {
                href: test_href(&project.slug, &t.test_id),
                name: test_name(&t.name),
                scope: test_scope(&t.suite, &t.classname),
                p50: human_ms(t.p50_ms),
                p95: human_ms(t.p95_ms),
                trend,
                trend_arrow,
                trend_class,
                trend_ratio: t.trend_ratio.map(|r| format!("×{r:.2}")),
                runs: t.runs,
            }
        })
        .collect();
    Ok(SlowestPage {
        layout: Layout::new(&user, format!("Slowest tests · {}", project.name), "projects"),
        project,
        tab: Tab::Slowest,
        days,
        windows: WINDOW_DAYS,
        rows,
    })
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    before: Option<String>,
}

async fn history(
    state: web::Data<AppState>,
    user: SessionUser,
    path: web::Path<(String, String)>,
    query: web::Query<HistoryQuery>,
) -> PageResult<TestPage> {
    user.principal.require(Permission::RunsRead)?;
    let (slug, test_id) = path.into_inner();
    Ok(test_history_page(&state.db, &user, slug, test_id, query.into_inner().before).await?)
}
