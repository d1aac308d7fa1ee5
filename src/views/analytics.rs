//! Pages about a project's tests: flaky tests, slowest tests and one test's
//! history. Rows carry display-ready strings; the history's charts are
//! [`Chart`]s (printed with `|safe`, see `views::charts`).

use askama::Template;
use askama_web::WebTemplate;

use super::charts::{human_ms, Chart};
use super::{test_href, test_name, Layout, Tab, When};
use crate::auth::session::SessionUser;
use crate::db::analysis;
use crate::db::flaky::{self, FlakyTest};
use crate::db::projects::Project;
use crate::db::quarantine::Rule;
use crate::db::{self, Db};
use crate::domain::analysis::Trend;
use crate::domain::flaky::State;
use crate::domain::time::unix_now;
use crate::error::{AppError, AppResult};

/// The window choices of the analytics pages, in days.
pub const WINDOW_DAYS: &[u32] = &[7, 30, 90];

/// One flaky test.
pub struct FlakyRow {
    pub href: String,
    pub name: String,
    /// "suite · class" (whichever are set).
    pub scope: String,
    pub retry: SignalCell,
    pub same_commit: SignalCell,
    pub flips: SignalCell,
    /// `flaky`, `quarantined` or `fixed`, and the badge's class.
    pub state: &'static str,
    pub state_class: &'static str,
    /// The covering rule: who made it, until when, why, the issue.
    pub quarantine: Option<RuleNote>,
    pub fixed: Option<When>,
    pub failure_rate: String,
    pub runs: u32,
    pub last_flaky: Option<When>,
    /// The quarantine form for this test (may manage, not quarantined).
    pub quarantine_href: Option<String>,
    /// Where the release and mark-fixed buttons post (may manage).
    pub release_action: Option<String>,
    pub fixed_action: Option<String>,
}

impl FlakyRow {
    /// Retry, same commit, flips: the table's three columns.
    pub fn signal_cells(&self) -> [&SignalCell; 3] {
        [&self.retry, &self.same_commit, &self.flips]
    }
}

/// One signal's count; `fired` when it reached its rule.
pub struct SignalCell {
    pub count: u32,
    pub fired: bool,
    pub title: String,
}

/// A quarantine rule as a flaky row or a failure shows it.
pub struct RuleNote {
    pub owner: String,
    pub until: When,
    /// "2027-01-02 16:28 UTC".
    pub until_text: String,
    pub reason: String,
    /// Only http(s) links are stored, so this is safe as an `href`.
    pub issue_url: Option<String>,
}

impl RuleNote {
    pub fn of(rule: &Rule) -> RuleNote {
        RuleNote {
            owner: rule.created_by.name.clone().or(rule.created_by.preview.clone()).unwrap_or_else(|| "Proctor".into()),
            until: When::at(rule.expires_at),
            until_text: super::stamp(rule.expires_at),
            reason: rule.reason.clone(),
            issue_url: rule.issue_url.clone(),
        }
    }
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
    pub flip_threshold: u32,
    pub notice: Option<&'static str>,
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
    /// Its row of the flaky list, when it is listed.
    pub flaky: Option<FlakyRow>,
    /// The window of `flaky`.
    pub flaky_days: u32,
    /// The active quarantine rule covering it.
    pub quarantine: Option<RuleNote>,
}

/// Rows on the flaky and slowest pages.
const TOP: u32 = 100;

/// The flaky tests of project `slug` over the last `days`.
pub async fn flaky_page(
    db: &Db,
    user: &SessionUser,
    slug: String,
    days: u32,
    notice: Option<&'static str>,
) -> Result<FlakyPage, AppError> {
    let (project, list) = db
        .read(move |c| -> AppResult<_> {
            let project = db::projects::require(c, &slug)?;
            let now = unix_now();
            let list = flaky::list(c, &project, crate::domain::time::window_start(now, days), now, TOP)?;
            Ok((project, list))
        })
        .await?;
    let may_manage = user.principal.may(crate::domain::permission::Permission::TestsManage);
    let rows = list.tests.into_iter().map(|t| flaky_row(&project, t, may_manage)).collect();
    Ok(FlakyPage {
        layout: Layout::new(user, format!("Flaky tests · {}", project.name), "projects"),
        flip_threshold: project.flaky_flip_threshold,
        project,
        tab: Tab::Flaky,
        days,
        windows: WINDOW_DAYS,
        rows,
        notice,
    })
}

pub fn flaky_row(project: &Project, t: FlakyTest, may_manage: bool) -> FlakyRow {
    let threshold = project.flaky_flip_threshold;
    let retry = SignalCell {
        count: t.signals.retry,
        fired: t.signals.retry > 0,
        title: "runs where it failed, then passed on a retry".into(),
    };
    let same_commit = SignalCell {
        count: t.signals.same_commit,
        fired: t.signals.same_commit > 0,
        title: "commits on which it passed in one run and failed in another".into(),
    };
    let flips = SignalCell {
        count: t.signals.flips,
        fired: t.signals.flips >= threshold,
        title: format!("changes between passing and failing on {} (flaky at {threshold})", project.default_branch),
    };
    let (state_class, base) = (state_class(t.state), format!("/projects/{}", project.slug));
    FlakyRow {
        href: test_href(&project.slug, &t.test.test_id),
        name: test_name(&t.test.name),
        scope: test_scope(&t.test.suite, &t.test.classname),
        retry,
        same_commit,
        flips,
        state: t.state.as_str(),
        state_class,
        quarantine: t.quarantine.as_ref().map(RuleNote::of),
        fixed: t.fixed_at.map(When::at),
        failure_rate: percent(t.failure_rate),
        runs: t.runs,
        last_flaky: t.last_flaky_at.map(When::at),
        quarantine_href: (may_manage && t.quarantine.is_none())
            .then(|| format!("{base}/quarantine/new?test_id={}", t.test.test_id)),
        release_action: t
            .quarantine
            .as_ref()
            .filter(|_| may_manage)
            .map(|r| format!("{base}/quarantine/{}/release", r.id)),
        fixed_action: (may_manage && t.state != State::Fixed).then(|| format!("{base}/tests/{}/fixed", t.test.test_id)),
    }
}

/// The badge class of a flaky test's state.
pub fn state_class(state: State) -> &'static str {
    match state {
        State::Flaky => "err",
        State::Quarantined => "warn",
        State::Fixed => "ok",
    }
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
            let since = crate::domain::time::window_start(unix_now(), days);
            let tests = analysis::slowest_tests(c, project.id, since, TOP)?;
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

/// One failure group on the Errors tab.
pub struct ErrorRow {
    pub message: String,
    pub failures: u32,
    pub tests: u32,
    pub first_seen: When,
    pub last_seen: When,
    /// Some of the tests it hit: (link, name).
    pub examples: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "runs/errors.html")]
pub struct ErrorsPage {
    pub layout: Layout,
    pub project: Project,
    pub tab: Tab,
    pub days: u32,
    pub windows: &'static [u32],
    pub rows: Vec<ErrorRow>,
}

/// The failure groups of project `slug` over the last `days`.
pub async fn errors_page(db: &Db, user: &SessionUser, slug: String, days: u32) -> Result<ErrorsPage, AppError> {
    let (project, groups) = db
        .read(move |c| -> AppResult<_> {
            let project = db::projects::require(c, &slug)?;
            let groups = db::failures::groups(c, project.id, crate::domain::time::window_start(unix_now(), days), TOP)?;
            Ok((project, groups))
        })
        .await?;
    let rows = groups
        .into_iter()
        .map(|g| ErrorRow {
            examples: g
                .examples
                .into_iter()
                .map(|t| (test_href(&project.slug, &t.test_id), test_name(&t.name)))
                .collect(),
            message: g.message,
            failures: g.failures,
            tests: g.tests,
            first_seen: When::at(g.first_seen),
            last_seen: When::at(g.last_seen),
        })
        .collect();
    Ok(ErrorsPage {
        layout: Layout::new(user, format!("Errors · {}", project.name), "projects"),
        project,
        tab: Tab::Errors,
        days,
        windows: WINDOW_DAYS,
        rows,
    })
}
