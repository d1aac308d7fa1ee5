//! The pages of a project's runs: the runs page (charts, filters, the runs
//! table) and one run's page (failures first, the comparison with its
//! baseline, flaky tests, the other results, attachments).

use serde::Deserialize;

use super::charts::{self, human_ms, Point, Tone};
use super::{
    percent, run_href, short_commit, short_date, stamp, test_href, test_title, AttachmentRow, ChangeList, ChangeRow,
    ChartRow, ComparisonView, Layout, Notice, ResultLists, RunPage, RunRow, RunSummary, RunsPage, Tab, When,
    RUN_STATUSES,
};
use crate::auth::session::SessionUser;
use crate::db::analysis::{self, TrendPoint};
use crate::db::compare::{self, TestChange};
use crate::db::runs::{RunFilter, RunStatus};
use crate::db::{self, Db};
use crate::error::{AppError, AppResult};

/// Runs per page of the runs table.
const PAGE: u32 = 50;
/// Finished runs in the charts.
const CHART_RUNS: u32 = 30;
/// Results listed on a run's page; the API has them all.
const RESULTS_CAP: u32 = 500;

#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    branch: Option<String>,
    name: Option<String>,
    status: Option<String>,
    before: Option<String>,
    /// A confirmation after a redirect (`project_created`).
    notice: Option<String>,
}

/// A query value trimmed, `None` when blank or unreasonably long.
fn param(value: Option<&str>, max: usize) -> Option<String> {
    value.map(str::trim).filter(|v| !v.is_empty() && v.len() <= max).map(str::to_string)
}

/// The runs page's filters, as the address carries them.
#[derive(Debug, Clone, Copy, Default)]
struct Filters<'a> {
    branch: Option<&'a str>,
    name: Option<&'a str>,
    status: Option<&'a str>,
}

/// `/projects/{slug}?query` with the given filters (and page).
fn runs_url(slug: &str, filters: Filters<'_>, before: Option<&str>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let Filters { branch, name, status } = filters;
    for (key, value) in [("branch", branch), ("name", name), ("status", status), ("before", before)] {
        if let Some(v) = value {
            q.append_pair(key, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        format!("/projects/{slug}")
    } else {
        format!("/projects/{slug}?{q}")
    }
}

fn trend_point(slug: &str, p: &TrendPoint) -> Point {
    let failed = p.failed + p.errors;
    let mut label = format!(
        "{} · {}: {} of {} tests passed",
        stamp(p.created_at),
        p.status.as_str(),
        percent(p.pass_rate),
        p.tests - p.skipped
    );
    if failed > 0 {
        label.push_str(&format!(", {failed} failed"));
    }
    if p.flaky > 0 {
        label.push_str(&format!(", {} flaky", p.flaky));
    }
    if let Some(ms) = p.duration_ms {
        label.push_str(&format!(" · {}", human_ms(ms)));
    }
    Point {
        href: run_href(slug, &p.run_id),
        label,
        tick: short_date(p.created_at),
        // A passed run that needed retries is shown amber, like a flaky test.
        tone: match (p.status.as_str(), p.flaky) {
            ("passed", n) if n > 0 => Tone::Flaky,
            (status, _) => Tone::of_status(status),
        },
        pass_rate: Some(p.pass_rate * 100.0),
        duration_ms: p.duration_ms,
    }
}

/// A run of the charts as a row of their data table.
fn chart_row(slug: &str, p: &TrendPoint) -> ChartRow {
    ChartRow {
        href: run_href(slug, &p.run_id),
        when: stamp(p.created_at),
        status: p.status.as_str(),
        pass_rate: percent(p.pass_rate),
        failed: p.failed + p.errors,
        flaky: p.flaky,
        duration: p.duration_ms.map_or_else(|| "—".to_string(), human_ms),
    }
}

/// The runs page of project `slug` (`server_url`: this server's address,
/// for the upload instructions of an empty project).
pub async fn runs_page(
    db: &Db,
    user: &SessionUser,
    slug: String,
    query: RunsQuery,
    server_url: String,
) -> Result<RunsPage, AppError> {
    let branch = param(query.branch.as_deref(), 255);
    let name = param(query.name.as_deref(), 200);
    let status = query.status.as_deref().and_then(RunStatus::parse);
    let before = param(query.before.as_deref(), 64);
    let notice = Notice { notice: query.notice };
    let filter = RunFilter { branch: branch.clone(), name: name.clone(), status, ..RunFilter::default() };
    let (project, mut runs, trend, branches, names, any_runs) = {
        let (filter, before, branch, name) = (filter.clone(), before.clone(), branch.clone(), name.clone());
        db.read(move |c| -> AppResult<_> {
            let project = db::projects::require(c, &slug)?;
            let runs = db::runs::list(c, project.id, &filter, before.as_deref(), PAGE + 1)?;
            let chart_branch = branch.unwrap_or_else(|| project.default_branch.clone());
            let trend = analysis::run_trend(c, project.id, Some(&chart_branch), name.as_deref(), CHART_RUNS)?;
            let branches = db::pages::recent_branches(c, project.id, 30)?;
            let names = db::pages::recent_names(c, project.id, 30)?;
            let any = !runs.is_empty() || db::pages::has_runs(c, project.id)?;
            Ok((project, runs, trend, branches, names, any))
        })
        .await?
    };
    let more = runs.len() > PAGE as usize;
    runs.truncate(PAGE as usize);
    let filters = Filters { branch: branch.as_deref(), name: name.as_deref(), status: status.map(RunStatus::as_str) };
    let older = if more { runs.last().map(|r| runs_url(&project.slug, filters, Some(&r.id))) } else { None };
    let points: Vec<Point> = trend.iter().map(|p| trend_point(&project.slug, p)).collect();
    // The newest page follows what CI is doing: the first run arriving, or
    // running runs finishing.
    let live = before.is_none() && (!any_runs || runs.iter().any(|r| r.status == RunStatus::Running));
    Ok(RunsPage {
        layout: Layout::new(user, project.name.clone(), "projects").with_notice(notice.text()).live(live),
        tab: Tab::Runs,
        pass_chart: charts::pass_rate_chart(&points),
        duration_chart: charts::run_duration_chart(&points),
        chart_rows: trend.iter().map(|p| chart_row(&project.slug, p)).collect(),
        chart_branch: branch.clone().unwrap_or_else(|| project.default_branch.clone()),
        chart_name: name.clone(),
        filter_branch: branch.clone().unwrap_or_default(),
        filter_name: name.clone().unwrap_or_default(),
        filter_status: filters.status.unwrap_or_default().to_string(),
        branches,
        names,
        statuses: RUN_STATUSES,
        rows: runs.iter().map(RunRow::new).collect(),
        older,
        newest: before.is_some().then(|| runs_url(&project.slug, filters, None)),
        any_runs,
        server_url,
        project,
    })
}

fn change_list(slug: &str, changes: &[TestChange], slower: bool) -> ChangeList {
    ChangeList::new(changes.len(), changes.iter().map(|c| change_row(slug, c, slower)))
}

fn change_row(slug: &str, c: &TestChange, slower: bool) -> ChangeRow {
    let detail = if slower {
        format!(
            "{} → {}",
            c.base_duration_ms.map(human_ms).unwrap_or_default(),
            c.duration_ms.map(human_ms).unwrap_or_default()
        )
    } else {
        match &c.base_status {
            Some(base) => format!("{} → {}", base, c.status),
            None => format!("{} (not in the baseline)", c.status),
        }
    };
    ChangeRow {
        href: test_href(slug, &c.test_id),
        title: test_title(&c.suite, &c.classname, &c.name),
        status: c.status.clone(),
        status_class: crate::views::status_class(&c.status),
        detail,
    }
}

/// The page of run `run_id` of project `slug`.
pub async fn run_page(db: &Db, user: &SessionUser, slug: String, run_id: String) -> Result<RunPage, AppError> {
    let (project, run, results, comparison, attachments) = db
        .read(move |c| -> AppResult<_> {
            let project = db::projects::require(c, &slug)?;
            let run = db::runs::get(c, project.id, &run_id)?;
            let results = db::results::list(c, project.id, run.seq, None, None, RESULTS_CAP + 1)?;
            let listed: Vec<_> = results.iter().map(|(_, r)| r.clone()).collect();
            let contexts = db::failures::context(c, &project, &run, &listed, crate::domain::time::unix_now())?;
            let groups = super::run_results::group_messages(c, project.id, &listed)?;
            let results: Vec<_> = results.into_iter().map(|(_, r)| r).zip(contexts).collect();
            let comparison = compare::compare(c, &project, &run, None)?;
            let attachments = db::attachments::list(c, &run.id, None, 200)?;
            Ok((project, run, (results, groups), comparison, attachments))
        })
        .await?;
    let (results, group_messages) = results;
    let slug = project.slug.clone();
    let capped = (results.len() > RESULTS_CAP as usize).then(|| {
        format!(
            "Showing the first {RESULTS_CAP} of {} results, failures first. The API lists them all: \
             GET /api/v1/projects/{slug}/runs/{}/tests",
            run.counts.tests, run.id
        )
    });
    let lists = ResultLists::sort(&slug, project.flaky_flip_threshold, results, group_messages);
    let comparison = comparison.base.as_ref().map(|base| ComparisonView {
        base_href: run_href(&slug, &base.id),
        base_title: RunRow::new(base).name,
        base_commit: base.commit.as_deref().map(short_commit),
        base_created: When::at(base.created_at),
        api_path: format!("/api/v1/projects/{slug}/runs/{}/compare", run.id),
        new_failures: change_list(&slug, &comparison.new_failures, false),
        fixed: change_list(&slug, &comparison.fixed, false),
        still_failing: change_list(&slug, &comparison.still_failing, false),
        slower: change_list(&slug, &comparison.slower, true),
    });
    let attachments = attachments
        .into_iter()
        .map(|a| AttachmentRow {
            href: format!("/projects/{slug}/runs/{}/attachments/{}", run.id, a.id),
            size: crate::views::human_bytes(a.bytes),
            created: When::at(a.created_at),
            filename: a.filename,
            content_type: a.content_type,
        })
        .collect();
    let summary = RunSummary::new(&run);
    Ok(RunPage {
        layout: Layout::new(user, format!("{} · {}", summary.title, project.name), "projects")
            .live(run.status == RunStatus::Running),
        project,
        tab: Tab::Runs,
        run: summary,
        failures: lists.failures,
        groups: lists.groups,
        quarantined: lists.quarantined,
        flaky: lists.flaky,
        others: lists.others,
        others_total: run.counts.passed + run.counts.skipped,
        capped,
        comparison,
        attachments,
    })
}
