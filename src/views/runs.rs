//! Pages about runs: a project's runs (with its charts) and one run
//! (failures first, the comparison with its baseline, attachments), plus the
//! formatting helpers every results page shares. Rows carry display-ready
//! strings; charts are [`Chart`]s, the only values the templates print with
//! `|safe` (see `views::charts` for why that is sound).

use time::macros::format_description;

use crate::domain::time::from_unix;
use askama::Template;
use askama_web::WebTemplate;

use super::{ContextNote, FailureGroup, Layout, When};
use crate::db::projects::Project;
use crate::db::results::TestResult;
use crate::db::runs::{Run, RunStatus};

use crate::views::charts::{human_ms, Chart};

/// The tab of the project header that is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Runs,
    Flaky,
    Slowest,
    Errors,
    Quarantine,
    /// A page below the tabs (a test's history): no tab is current.
    None,
}

/// "12 Mar" for chart ticks.
pub fn short_date(secs: i64) -> String {
    from_unix(secs).format(format_description!("[day padding:none] [month repr:short]")).unwrap_or_default()
}

/// "2026-03-12 10:04 UTC" for chart tooltips.
pub fn stamp(secs: i64) -> String {
    from_unix(secs).format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).unwrap_or_default()
}

/// CSS badge class for a run or result status.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "passed" => "ok",
        "failed" | "error" => "err",
        "flaky" | "errored" => "warn",
        _ => "muted",
    }
}

/// The first 8 characters of a commit, as tables show it.
pub fn short_commit(commit: &str) -> String {
    commit.chars().take(8).collect()
}

/// `Some(url)` only for http(s) URLs: anything else (`javascript:`, `data:`)
/// is shown as text, never as a link.
pub fn http_url(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| url.to_string())
}

/// A duration for tables, "—" when unknown.
pub fn duration_text(ms: Option<i64>) -> String {
    ms.map(human_ms).unwrap_or_else(|| "—".to_string())
}

/// A test's display name: its name with the suite or class when they add
/// something ("suite › name").
pub fn test_title(suite: &str, classname: &str, name: &str) -> String {
    let scope = if !classname.is_empty() { classname } else { suite };
    let name = test_name(name);
    if scope.is_empty() || name.starts_with(scope) {
        name
    } else {
        format!("{scope} › {name}")
    }
}

/// A test's name as a link text: reports may leave it out, and an empty
/// link could not be clicked.
pub fn test_name(name: &str) -> String {
    if name.trim().is_empty() {
        "(unnamed test)".to_string()
    } else {
        name.to_string()
    }
}

pub fn test_href(slug: &str, test_id: &str) -> String {
    format!("/projects/{slug}/tests/{test_id}")
}

pub fn run_href(slug: &str, run_id: &str) -> String {
    format!("/projects/{slug}/runs/{run_id}")
}

/// One run in the runs table.
pub struct RunRow {
    pub href: String,
    pub status: &'static str,
    pub status_class: &'static str,
    /// The run's name, or its short id when unnamed.
    pub name: String,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub commit_short: Option<String>,
    pub tests: i64,
    /// Failed plus errors.
    pub failed: i64,
    pub flaky: i64,
    pub skipped: i64,
    pub duration: String,
    pub created: When,
}

impl RunRow {
    pub fn new(run: &Run) -> RunRow {
        let name = if run.name.is_empty() { format!("Run {}", short_run_id(&run.id)) } else { run.name.clone() };
        RunRow {
            href: run_href(&run.project, &run.id),
            status: run.status.as_str(),
            status_class: status_class(run.status.as_str()),
            name,
            branch: run.branch.clone(),
            commit: run.commit.clone(),
            commit_short: run.commit.as_deref().map(short_commit),
            tests: run.counts.tests,
            failed: run.counts.failed + run.counts.errors,
            flaky: run.counts.flaky,
            skipped: run.counts.skipped,
            duration: duration_text(run.duration_ms),
            created: When::at(run.created_at),
        }
    }
}

/// The tail of a UUID v7 (its head is the timestamp, the same for runs made
/// close together).
pub fn short_run_id(id: &str) -> String {
    let tail: Vec<char> = id.chars().rev().take(8).collect();
    tail.into_iter().rev().collect()
}

/// One run of the project page's charts, as their data table shows it.
pub struct ChartRow {
    pub href: String,
    pub when: String,
    pub status: &'static str,
    pub pass_rate: String,
    pub failed: i64,
    pub flaky: i64,
    pub duration: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "projects/show.html")]
pub struct RunsPage {
    pub layout: Layout,
    pub project: Project,
    pub tab: Tab,
    pub pass_chart: Chart,
    pub duration_chart: Chart,
    /// The charts' data, oldest first: their text alternative as a table.
    pub chart_rows: Vec<ChartRow>,
    /// The branch the charts show, and the run name when one is filtered.
    pub chart_branch: String,
    pub chart_name: Option<String>,
    pub filter_branch: String,
    pub filter_name: String,
    pub filter_status: String,
    /// Recently used branches and run names, for the filters' suggestions.
    pub branches: Vec<String>,
    pub names: Vec<String>,
    pub statuses: &'static [&'static str],
    pub rows: Vec<RunRow>,
    pub older: Option<String>,
    pub newest: Option<String>,
    /// The project has runs at all (else the page explains how to upload).
    pub any_runs: bool,
    pub server_url: String,
}

pub const RUN_STATUSES: &[&str] = &["running", "passed", "failed", "errored"];

/// The head of the run page.
pub struct RunSummary {
    pub id: String,
    pub title: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub running: bool,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub build_id: Option<String>,
    /// Only when the build URL is http(s).
    pub build_link: Option<String>,
    /// A build URL that is not http(s), shown as text.
    pub build_text: Option<String>,
    pub reason: Option<String>,
    pub created: When,
    pub finished: Option<When>,
    pub duration: String,
    pub tests: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    pub flaky: i64,
    pub skipped: i64,
    /// Failures a quarantine rule forgave (also in `failed` / `errors`).
    pub quarantined: i64,
    /// Failures that fail the run.
    pub unforgiven: i64,
}

impl RunSummary {
    pub fn new(run: &Run) -> RunSummary {
        let build_link = http_url(run.build_url.as_deref());
        RunSummary {
            id: run.id.clone(),
            title: RunRow::new(run).name,
            status: run.status.as_str(),
            status_class: status_class(run.status.as_str()),
            running: run.status == RunStatus::Running,
            branch: run.branch.clone(),
            commit: run.commit.clone(),
            build_id: run.build_id.clone(),
            build_text: if build_link.is_none() { run.build_url.clone() } else { None },
            build_link,
            reason: run.reason.clone(),
            created: When::at(run.created_at),
            finished: run.finished_at.map(When::at),
            duration: duration_text(run.duration_ms),
            tests: run.counts.tests,
            passed: run.counts.passed,
            failed: run.counts.failed,
            errors: run.counts.errors,
            flaky: run.counts.flaky,
            quarantined: run.counts.quarantined,
            unforgiven: run.counts.failed + run.counts.errors - run.counts.quarantined,
            skipped: run.counts.skipped,
        }
    }
}

/// One test result of a run.
pub struct ResultRow {
    pub href: String,
    pub title: String,
    pub file: Option<String>,
    pub status: String,
    pub status_class: &'static str,
    pub duration: String,
    pub retries: i64,
    /// The first line of the message (or of the details).
    pub headline: String,
    /// The full failure text for the `<details>` element, when there is more
    /// than the headline.
    pub body: Option<String>,
    /// What is known about a failure: its streak, flakiness, quarantine.
    pub context: Vec<ContextNote>,
}

impl ResultRow {
    pub fn new(slug: &str, r: TestResult) -> ResultRow {
        let message = r.message.filter(|m| !m.trim().is_empty());
        let details = r.details.filter(|d| !d.trim().is_empty());
        let headline = first_line(message.as_deref().or(details.as_deref()).unwrap_or(""));
        let body = match (message, details) {
            (Some(m), Some(d)) if m.trim().lines().count() > 1 && !d.contains(m.trim()) => Some(format!("{m}\n\n{d}")),
            (_, Some(d)) => Some(d),
            (Some(m), None) if m.trim().lines().count() > 1 => Some(m),
            _ => None,
        };
        ResultRow {
            href: test_href(slug, &r.test_id),
            title: test_title(&r.suite, &r.classname, &r.name),
            file: r.file,
            status_class: status_class(&r.status),
            status: r.status,
            duration: duration_text(r.duration_ms),
            retries: r.retries,
            headline,
            body,
            context: Vec::new(),
        }
    }
}

/// The first non-blank line, cut at 300 characters.
pub fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if line.chars().count() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line.to_string()
    }
}

/// A test that changed against the baseline.
pub struct ChangeRow {
    pub href: String,
    pub title: String,
    pub status: String,
    pub status_class: &'static str,
    /// "was passed", or for slower tests "1.2 s → 3.4 s".
    pub detail: String,
}

/// Rows a page shows of each list of a comparison; the API has them all.
pub const CHANGES_SHOWN: usize = 100;

/// One list of a comparison: its first [`CHANGES_SHOWN`] rows and how many
/// there are (a run where 20,000 tests still fail makes a list, not a page
/// of megabytes).
pub struct ChangeList {
    pub rows: Vec<ChangeRow>,
    pub total: usize,
}

impl ChangeList {
    pub fn new(total: usize, rows: impl Iterator<Item = ChangeRow>) -> ChangeList {
        ChangeList { rows: rows.take(CHANGES_SHOWN).collect(), total }
    }

    /// Rows left out of the page.
    pub fn hidden(&self) -> usize {
        self.total - self.rows.len()
    }
}

/// The comparison of a run with its baseline.
pub struct ComparisonView {
    pub base_href: String,
    pub base_title: String,
    pub base_commit: Option<String>,
    pub base_created: When,
    /// Where the whole comparison is, for lists cut short.
    pub api_path: String,
    pub new_failures: ChangeList,
    pub fixed: ChangeList,
    pub still_failing: ChangeList,
    pub slower: ChangeList,
}

impl ComparisonView {
    pub fn is_empty(&self) -> bool {
        [&self.new_failures, &self.fixed, &self.still_failing, &self.slower].iter().all(|l| l.total == 0)
    }
}

/// A stored file of the run.
pub struct AttachmentRow {
    pub href: String,
    pub filename: String,
    pub content_type: String,
    pub size: String,
    pub created: When,
}

/// "912 B", "4.2 KiB", "1.3 MiB".
pub fn human_bytes(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    match bytes {
        i64::MIN..=1023 => format!("{} B", bytes.max(0)),
        1024..=1_048_575 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.1} GiB", b / 1_073_741_824.0),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "runs/show.html")]
pub struct RunPage {
    pub layout: Layout,
    pub project: Project,
    pub tab: Tab,
    pub run: RunSummary,
    /// Failures no quarantine rule covered: they fail the run.
    pub failures: Vec<ResultRow>,
    /// Failures sharing one normalized message, largest first.
    pub groups: Vec<FailureGroup>,
    /// Failures a quarantine rule covered when they were stored.
    pub quarantined: Vec<ResultRow>,
    pub flaky: Vec<ResultRow>,
    pub others: Vec<ResultRow>,
    /// Passed and skipped tests in the run (more than `others` when capped).
    pub others_total: i64,
    /// Set when the list was cut: says how many are shown and where the rest are.
    pub capped: Option<String>,
    /// `None`: no baseline yet.
    pub comparison: Option<ComparisonView>,
    pub attachments: Vec<AttachmentRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_titles_add_the_scope_only_when_it_says_something() {
        assert_eq!(test_title("checkout", "Checkout", "pays"), "Checkout › pays");
        assert_eq!(test_title("checkout", "", "pays"), "checkout › pays");
        assert_eq!(test_title("", "", "pays"), "pays");
        // jest-junit repeats the describe block in the name.
        assert_eq!(test_title("", "Cart", "Cart adds an item"), "Cart adds an item");
        // A report may leave the name out; the link must still have text.
        assert_eq!(test_title("", "", ""), "(unnamed test)");
        assert_eq!(test_title("s", "a.B", " "), "a.B › (unnamed test)");
        assert_eq!(test_name(""), "(unnamed test)");
        assert_eq!(test_name("ok"), "ok");
    }
}
