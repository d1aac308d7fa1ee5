//! A test's page: its flakiness and quarantine, its results newest first
//! (a page at a time), a status strip and a duration chart.

use super::charts::{self, human_ms, Point, Tone};
use super::{
    duration_text, flaky_row, run_href, short_commit, short_date, short_run_id, stamp, status_class, test_href,
    test_title, HistoryRow, Layout, RuleNote, Tab, TestPage, When,
};
use crate::auth::session::SessionUser;
use crate::db::analysis::HistoryEntry;
use crate::db::{self, Db, DbError, Missing};
use crate::domain::time::unix_now;
use crate::error::AppError;

/// Results on one page of a test's history.
const HISTORY_PAGE: u32 = 50;

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

/// The page of test `test_id` of project `slug`, starting below run
/// `before` (a later page) or at the newest result.
pub async fn test_history_page(
    db: &Db,
    user: &SessionUser,
    slug: String,
    test_id: String,
    before: Option<String>,
) -> Result<TestPage, AppError> {
    let before = before.as_deref().map(str::trim).filter(|b| !b.is_empty() && b.len() <= 64).map(str::to_string);
    let paged = before.is_some();
    let (project, found) = db
        .read(move |c| -> Result<_, DbError> {
            let project = db::projects::require(c, &slug)?;
            let found = db::flaky::test_page(c, &project, &test_id, HISTORY_PAGE + 1, before.as_deref(), unix_now())?;
            Ok((project, found))
        })
        .await?;
    let (test, mut entries, standing) = found.ok_or_else(|| AppError::from(DbError::NotFound(Missing::Test)))?;
    let may_manage = user.principal.may(crate::domain::permission::Permission::TestsManage);
    let flaky = standing.flaky.map(|f| flaky_row(&project, f, may_manage));
    let quarantine = standing.quarantine.as_ref().map(RuleNote::of);
    let more = entries.len() > HISTORY_PAGE as usize;
    entries.truncate(HISTORY_PAGE as usize);
    let base = test_href(&project.slug, &test.test_id);
    let older = if more { entries.last().map(|e| format!("{base}?before={}", e.page_key())) } else { None };
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
        layout: Layout::new(user, format!("{name} · {}", project.name), "projects"),
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
        flaky,
        flaky_days: crate::domain::flaky::FLAKY_WINDOW_DAYS,
        quarantine,
    })
}
