//! A run's results as its page lists them: failures (with what is known
//! about each), quarantined failures, flaky tests, the rest; and failure
//! groups, the failures that share a normalized message.

use super::runs::short_date;
use super::ResultRow;
use crate::db::failures::FailureContext;
use crate::db::results::TestResult;
use crate::db::{self, Conn, DbError};
use crate::domain::analysis::is_failing;
use crate::domain::flaky::State;

/// One fact about a failure: a sentence, a link, a badge class.
pub struct ContextNote {
    pub text: String,
    pub href: Option<String>,
    /// The link leaves Proctor (an issue tracker).
    pub external: bool,
    pub class: &'static str,
}

impl ContextNote {
    /// The notes of a failure's context: "new" or "failing since run X (N
    /// runs)", "known flaky (2 signals)", "quarantined until … (reason, issue)".
    pub fn of(slug: &str, c: &FailureContext, threshold: u32) -> Vec<ContextNote> {
        let mut notes = Vec::new();
        let note = |text: String, href: Option<String>, class| ContextNote { text, href, external: false, class };
        match &c.failing_since {
            None if c.first_failed_at.is_some() => notes.push(note("new failure".into(), None, "err")),
            None => {}
            Some(s) => notes.push(note(
                format!(
                    "failing since {} ({}{} runs)",
                    short_date(s.created_at),
                    if s.at_least { "at least " } else { "" },
                    s.runs
                ),
                Some(crate::views::run_href(slug, &s.run_id)),
                "warn",
            )),
        }
        match &c.known_flaky {
            Some(k) if k.state == State::Fixed => {
                notes.push(note("marked fixed".into(), Some(format!("/projects/{slug}/flaky")), "muted"))
            }
            Some(k) => {
                let fired = k.signals.fired(threshold).len();
                let s = if fired == 1 { "" } else { "s" };
                let text = format!("known flaky ({fired} signal{s}, {})", k.state.as_str());
                notes.push(note(text, Some(format!("/projects/{slug}/flaky")), "warn"));
            }
            None => {}
        }
        if let Some(q) = &c.quarantine {
            notes.push(note(format!("quarantined until {}: {}", short_date(q.expires_at), q.reason), None, "muted"));
            if let Some(url) = &q.issue_url {
                notes.push(ContextNote { external: true, ..note("issue".into(), Some(url.clone()), "muted") });
            }
        }
        notes
    }
}

/// Failures of a run that share a message fingerprint (two or more).
pub struct FailureGroup {
    pub message: String,
    /// Each test's link and title.
    pub tests: Vec<(String, String)>,
}

/// The run page's lists, each sorted for reading.
pub struct ResultLists {
    /// Failures no quarantine rule covered: they fail the run.
    pub failures: Vec<ResultRow>,
    /// Failures a quarantine rule covered when they were stored.
    pub quarantined: Vec<ResultRow>,
    pub flaky: Vec<ResultRow>,
    pub others: Vec<ResultRow>,
    pub groups: Vec<FailureGroup>,
}

impl ResultLists {
    /// Sorts `results` (with their failure context) into the page's lists;
    /// `groups` are the shared fingerprints and their messages.
    pub fn sort(
        slug: &str,
        threshold: u32,
        results: Vec<(TestResult, FailureContext)>,
        groups: Vec<(i64, String)>,
    ) -> ResultLists {
        let prints: Vec<i64> = groups.iter().map(|(print, _)| *print).collect();
        let mut lists = ResultLists {
            failures: Vec::new(),
            quarantined: Vec::new(),
            flaky: Vec::new(),
            others: Vec::new(),
            groups: groups.into_iter().map(|(_, message)| FailureGroup { message, tests: Vec::new() }).collect(),
        };
        for (result, context) in results {
            let forgiven = result.quarantined;
            let print = result.fingerprint.filter(|_| is_failing(&result.status));
            let mut row = ResultRow::new(slug, result);
            row.context = ContextNote::of(slug, &context, threshold);
            if let Some(i) = print.and_then(|p| prints.iter().position(|g| *g == p)) {
                lists.groups[i].tests.push((row.href.clone(), row.title.clone()));
            }
            match row.status.as_str() {
                "failed" | "error" if forgiven => lists.quarantined.push(row),
                "failed" | "error" => lists.failures.push(row),
                "flaky" => lists.flaky.push(row),
                _ => lists.others.push(row),
            }
        }
        // The API's order (status, then test id) scatters a class's tests; on
        // the page they read better grouped: errors before failures, then by title.
        for list in [&mut lists.failures, &mut lists.quarantined] {
            list.sort_by(|a, b| (a.status != "error", &a.title).cmp(&(b.status != "error", &b.title)));
        }
        lists.flaky.sort_by(|a, b| a.title.cmp(&b.title));
        lists.others.sort_by(|a, b| (&a.status, &a.title).cmp(&(&b.status, &b.title)));
        lists
    }
}

/// The fingerprints shared by two or more of the listed failures, most
/// failures first, with their normalized messages.
pub fn group_messages(c: &Conn, project_id: i64, listed: &[TestResult]) -> Result<Vec<(i64, String)>, DbError> {
    let mut counts: Vec<(i64, usize)> = Vec::new();
    for print in listed.iter().filter(|r| is_failing(&r.status)).filter_map(|r| r.fingerprint) {
        match counts.iter_mut().find(|(p, _)| *p == print) {
            Some((_, n)) => *n += 1,
            None => counts.push((print, 1)),
        }
    }
    counts.retain(|(_, n)| *n >= 2);
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut out = Vec::with_capacity(counts.len());
    for (print, _) in counts {
        out.push((print, db::failures::message_of(c, project_id, print)?.unwrap_or_default()));
    }
    Ok(out)
}
