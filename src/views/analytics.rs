//! Pages about a project's tests: flaky tests, slowest tests and one test's
//! history. Rows carry display-ready strings; the history's charts are
//! [`Chart`]s (printed with `|safe`, see `views::charts`).

use askama::Template;
use askama_web::WebTemplate;

use super::charts::{human_ms, Chart};
use super::{test_href, test_name, Layout, Tab, When};
use crate::auth::session::SessionUser;
use crate::db::analysis;
use crate::db::projects::Project;
use crate::db::{self, Db};
use crate::domain::analysis::Trend;
use crate::error::{AppError, AppResult};

/// The window choices of the analytics pages, in days.
pub const WINDOW_DAYS: &[u32] = &[7, 30, 90];

/// One flaky test.
pub struct FlakyRow {
    pub href: String,
    pub name: String,
    /// "suite · class" (whichever are set).
    pub scope: String,
    pub flips: u32,
    pub failure_rate: String,
    pub runs: u32,
    pub last_flaky: When,
    /// The quarantine form for this test, for those who may quarantine.
    pub quarantine_href: Option<String>,
}

/// "suite · class", without repeats or blanks.
pub fn test_scope(suite: &str, classname: &str) -> String {
    match (suite.is_empty(), classname.is_empty() || classname == suite) {
        (false, false) => format!("{suite} · {classname}"),
        (false, true) => suite.to_string(),
        (true, false) => classname.to_string(),
        (true, true) => String::new(),
    }
}

/// A 0–1 rate as "12.5%".
pub fn percent(rate: f64) -> String {
    let s = format!("{:.1}", rate * 100.0);
    format!("{}%", s.strip_suffix(".0").unwrap_or(&s))
}

#[derive(Template, WebTemplate)]
#[template(path = "runs/flaky.html")]
pub struct FlakyPage {
    pub layout: Layout,
    pub project: Project,
    pub tab: Tab,
    pub days: u32,
    pub windows: &'static [u32],
    pub rows: Vec<FlakyRow>,
}

/// One slow test.
pub struct SlowRow {
    pub href: String,
    pub name: String,
    pub scope: String,
    pub p50: String,
    pub p95: String,
    /// "slower", "faster" or "stable".
    pub trend: &'static str,
    pub trend_arrow: &'static str,
    pub trend_class: &'static str,
    /// "×1.8" when known.
    pub trend_ratio: Option<String>,
    pub runs: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "runs/slowest.html")]
pub struct SlowestPage {
    pub layout: Layout,
    pub project: Project,
    pub tab: Tab,
    pub days: u32,
    pub windows: &'static [u32],
    pub rows: Vec<SlowRow>,
}

/// One result of a test.
pub struct HistoryRow {
    pub run_href: String,
    pub run_short: String,
    pub status: String,
    pub status_class: &'static str,
    pub duration: String,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub commit_short: Option<String>,
    pub when: When,
}

#[derive(Template, WebTemplate)]
#[template(path = "runs/test.html")]
pub struct TestPage {
    pub layout: Layout,
    pub project: Project,
    pub tab: Tab,
    pub test_id: String,
    pub name: String,
    pub suite: String,
    pub classname: String,
    pub file: Option<String>,
    pub strip: Chart,
    pub durations: Chart,
    pub rows: Vec<HistoryRow>,
    pub older: Option<String>,
    pub newest: Option<String>,
}

/// Rows on the flaky and slowest pages.
const TOP: u32 = 100;

/// The flaky tests of project `slug` over the last `days`.
pub async fn flaky_page(db: &Db, user: &SessionUser, slug: String, days: u32) -> Result<FlakyPage, AppError> {
    let (project, tests) = db
        .read(move |c| -> AppResult<_> {
            let project = db::projects::require(c, &slug)?;
            let tests = analysis::flaky_tests(c, project.id, days, TOP)?;
            Ok((project, tests))
        })
        .await?;
    let may_quarantine = user.principal.may(crate::domain::permission::Permission::TestsManage);
    let rows = tests
        .into_iter()
        .map(|t| FlakyRow {
            quarantine_href: may_quarantine
                .then(|| format!("/projects/{}/quarantine/new?test_id={}", project.slug, t.test_id)),
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
        layout: Layout::new(user, format!("Flaky tests · {}", project.name), "projects"),
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

/// The slowest tests of project `slug` over the last `days`.
pub async fn slowest_page(db: &Db, user: &SessionUser, slug: String, days: u32) -> Result<SlowestPage, AppError> {
    let (project, tests) = db
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
        layout: Layout::new(user, format!("Slowest tests · {}", project.name), "projects"),
        project,
        tab: Tab::Slowest,
        days,
        windows: WINDOW_DAYS,
        rows,
    })
}
