//! A project's test analytics pages: flaky tests, slowest tests (both over a
//! window of 7, 30 or 90 days) and one test's history with its charts.

use actix_web::web;
use serde::Deserialize;

use super::runs::{short_date, stamp};
use crate::auth::session::SessionUser;
use crate::db;
use crate::db::analysis::{self, HistoryEntry};
use crate::domain::analysis::Trend;
use crate::domain::permission::Permission;
use crate::error::{AppError, PageResult};
use crate::state::AppState;
use crate::views::charts::{self, human_ms, Point, Tone};
use crate::views::{
    duration_text, percent, run_href, short_commit, short_run_id, status_class, test_href, test_name, test_scope,
    test_title, FlakyPage, FlakyRow, HistoryRow, Layout, SlowRow, SlowestPage, Tab, TestPage, When, WINDOW_DAYS,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects/{slug}/flaky", web::get().to(flaky))
        .route("/projects/{slug}/slowest", web::get().to(slowest))
        .route("/projects/{slug}/tests/{test_id}", web::get().to(history));
}

/// Rows on the flaky and slowest pages.
const TOP: u32 = 100;
/// Results per page of a test's history (and in its charts).
const HISTORY_PAGE: u32 = 50;

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
        .read(move |c| {
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
        .read(move |c| {
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

fn history_point(slug: &str, h: &HistoryEntry) -> Point {
    let mut label = format!("{} · {}", stamp(h.created_at), h.status);
    if let Some(ms) = h.duration_ms {
        label.push_str(&format!(" · {}", human_ms(ms)));
    }
    if let Some(b) = &h.branch {
        label.push_str(&format!(" · {b}"));
    }
    if let Some(c) = &h.commit {
        label.push_str(&format!(" @ {}", short_commit(c)));
    }
    Point {
        href: run_href(slug, &h.run_id),
        label,
        tick: short_date(h.created_at),
        tone: Tone::of_status(&h.status),
        pass_rate: None,
        duration_ms: h.duration_ms,
    }
}

async fn history(
    state: web::Data<AppState>,
    user: SessionUser,
    path: web::Path<(String, String)>,
    query: web::Query<HistoryQuery>,
) -> PageResult<TestPage> {
    user.principal.require(Permission::RunsRead)?;
    let (slug, test_id) = path.into_inner();
    let before = query.before.as_deref().map(str::trim).filter(|b| !b.is_empty() && b.len() <= 64).map(str::to_string);
    let paged = before.is_some();
    let (project, found) = state
        .db
        .read(move |c| {
            let project = db::projects::require(c, &slug)?;
            let found = analysis::history(c, project.id, &test_id, HISTORY_PAGE + 1, before.as_deref())?;
            Ok((project, found))
        })
        .await?;
    let (test, mut entries) = found.ok_or_else(|| AppError::not_found("No such test in this project."))?;
    let more = entries.len() > HISTORY_PAGE as usize;
    entries.truncate(HISTORY_PAGE as usize);
    let base = test_href(&project.slug, &test.test_id);
    let older = if more { entries.last().map(|e| format!("{base}?before={}", e.run_id)) } else { None };
    let points: Vec<Point> = entries.iter().rev().map(|e| history_point(&project.slug, e)).collect();
    let rows = entries
        .into_iter()
        .map(|e| HistoryRow {
            run_href: run_href(&project.slug, &e.run_id),
            run_short: short_run_id(&e.run_id),
            status_class: status_class(&e.status),
            status: e.status,
            duration: duration_text(e.duration_ms),
            branch: e.branch,
            commit_short: e.commit.as_deref().map(short_commit),
            commit: e.commit,
            when: When::at(e.created_at),
        })
        .collect();
    let name = test_title(&test.suite, &test.classname, &test.name);
    Ok(TestPage {
        layout: Layout::new(&user, format!("{name} · {}", project.name), "projects"),
        project,
        tab: Tab::None,
        strip: charts::status_strip(&points, &format!("results of {name}")),
        durations: charts::test_duration_chart(&points, &name),
        test_id: test.test_id,
        name,
        suite: test.suite,
        classname: test.classname,
        file: test.file,
        rows,
        older,
        newest: paged.then_some(base),
    })
}
