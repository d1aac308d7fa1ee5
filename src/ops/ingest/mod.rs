//! Ingestion: runs are created (or joined by every shard of a CI job),
//! reports (received into a file by `crate::spool`) are parsed as a stream
//! straight into the run's results inside one write transaction (stored
//! whole or not at all), runs are finalized or failed. Reports are
//! identified by the SHA-256 of their decompressed bytes: the same bytes
//! twice in a run count once.

use serde_json::json;

use crate::db::audit;
use crate::db::projects::Project;
use crate::db::quarantine::{self, ReleaseReason};
use crate::db::results::{Passes, ResultWriter};
use crate::db::runs::{self, Counts, Run, RunMeta, RunStatus};
use crate::db::{signals, Conn, Tx};
use crate::domain::audit::{Actor, AuditContext, Target};
use crate::domain::report::ReportFormat;
use crate::domain::time::unix_now;
use crate::ops::{OpsError, Refusal};

mod read;

use read::parse_alongside;
pub use read::{read_upload, Distinct, Parsed, Upload};

/// Creates a run, or returns the running run of the same build and name
/// (`true` when it was created).
pub fn create_run(tx: &Tx, project_id: i64, meta: &RunMeta) -> Result<(Run, bool), OpsError> {
    if let Some(build_id) = &meta.build_id {
        if let Some(id) = runs::find_running(tx, project_id, build_id, &meta.name)? {
            return Ok((runs::get(tx, project_id, &id)?, false));
        }
    }
    let id = runs::insert(tx, project_id, meta, unix_now())?;
    Ok((runs::get(tx, project_id, &id)?, true))
}

/// Run `run_id` of the project, if it still takes reports (404, 409).
pub fn open_run(conn: &Conn, project_id: i64, run_id: &str) -> Result<Run, OpsError> {
    let run = runs::get(conn, project_id, run_id)?;
    takes_reports(&run)?;
    Ok(run)
}

fn takes_reports(run: &Run) -> Result<(), OpsError> {
    match run.status {
        RunStatus::Running => Ok(()),
        _ => Err(Refusal::RunTakesNoReports { run: run.id.clone(), status: run.status.as_str() }.into()),
    }
}

/// What an upload did.
pub struct Ingested {
    pub report_id: String,
    pub counts: Counts,
    pub duplicate: bool,
    /// What the report held that the parser read past (no test cases,
    /// unnamed cases, durations that did not parse, unknown elements).
    pub warnings: Vec<String>,
}

/// Parses `upload` into run `run`, in the caller's write transaction. A
/// duplicate is only known once every byte was hashed, so the results are
/// written under a savepoint that a duplicate rolls back.
pub fn ingest(tx: &Tx, project: &Project, run: &Run, upload: Upload) -> Result<Ingested, OpsError> {
    tx.savepoint(|tx| ingest_under_savepoint(tx, project, run, upload), |done| !done.duplicate)
}

fn ingest_under_savepoint(tx: &Tx, project: &Project, run: &Run, upload: Upload) -> Result<Ingested, OpsError> {
    let project_id = project.id;
    takes_reports(run)?;
    if upload.len == 0 {
        return Err(Refusal::EmptyReport.into());
    }
    let rules = quarantine::active(tx, project_id, unix_now())?;
    let on_default_branch = run.branch.as_deref() == Some(project.default_branch.as_str());
    let mut writer = ResultWriter::new(tx, project_id, (run.seq, run.created_at), rules, on_default_branch)?;
    // Into a run without results, what the writer adds to the run is the
    // report's own merge of its tests: no map of them is needed.
    let distinct = if run.counts.tests == 0 { Distinct::Written } else { Distinct::Counted };
    let format = upload.format;
    let parsed = parse_alongside(project_id, upload, distinct, |key, case| Ok(writer.write(tx, key, case)?))?;
    let written = writer.counts();
    let passes = writer.finish(tx)?;
    if let Some((report_id, counts)) = runs::find_report(tx, &run.id, &parsed.sha256)? {
        return Ok(Ingested { report_id, counts, duplicate: true, warnings: parsed.warnings });
    }
    count_passes(tx, project, &passes)?;
    let counts = parsed.counts.unwrap_or(Counts { quarantined: 0, ..written });
    let format = match format {
        ReportFormat::JUnit => "junit",
        ReportFormat::Ctrf => "ctrf",
    };
    let report_id = runs::insert_report(
        tx,
        &runs::NewReport {
            run_id: &run.id,
            sha256: &parsed.sha256,
            format,
            bytes: parsed.bytes,
            counts,
            now: unix_now(),
        },
    )?;
    Ok(Ingested { report_id, counts, duplicate: false, warnings: parsed.warnings })
}

/// Stores the rules' runs of consecutive passes on the default branch, and
/// releases each rule whose run reached its `release_after_passes`
/// (`test.released`, reason `passes`, by the system).
fn count_passes(tx: &Tx, project: &Project, passes: &[Passes]) -> Result<(), OpsError> {
    let now = unix_now();
    let system = AuditContext { actor: Actor::system(), ip: None, user_agent: None };
    for p in passes {
        quarantine::set_consecutive_passes(tx, &p.rule_id, p.consecutive)?;
        if p.release_after.is_some_and(|n| p.consecutive >= n)
            && quarantine::release(tx, &p.rule_id, now, &system.actor, ReleaseReason::Passes)?
        {
            let rule = quarantine::get(tx, project.id, &p.rule_id, now)?;
            let details = json!({"project": project.slug, "release_reason": ReleaseReason::Passes.as_str(),
                                 "consecutive_passes": p.consecutive});
            audit::record(tx, &system, "test.released", Some(&crate::ops::quarantine::target(&rule)), details)?;
            let why = format!("passed {} times in a row", p.consecutive);
            crate::ops::quarantine::announce(tx, "test.released", (project.id, &project.slug), &rule, &why)?;
        }
    }
    Ok(())
}

/// The reason of a run finalized without any test result.
pub const NO_TESTS: &str = "No test results: the uploaded reports held no test cases";

/// Closes a running run as passed or failed from its results (errored when
/// it holds no test at all); finalizing a passed or failed run again
/// returns it unchanged.
pub fn finalize(tx: &Tx, project_id: i64, run_id: &str) -> Result<Run, OpsError> {
    let run = runs::get(tx, project_id, run_id)?;
    match run.status {
        RunStatus::Passed | RunStatus::Failed => return Ok(run),
        // Finalized before, without tests: the same answer again.
        RunStatus::Errored if run.reason.as_deref() == Some(NO_TESTS) => return Ok(run),
        RunStatus::Errored => return Err(Refusal::RunErrored.into()),
        RunStatus::Running => {}
    }
    // A green run without a single test hides a broken test step (a wrong
    // glob, a runner that crashed before writing results).
    if run.counts.tests == 0 {
        return close(tx, &run, RunStatus::Errored, Some(NO_TESTS));
    }
    // Failures that quarantine covered do not fail the run.
    let unforgiven = run.counts.failed + run.counts.errors - run.counts.quarantined;
    let status = if unforgiven > 0 { RunStatus::Failed } else { RunStatus::Passed };
    close(tx, &run, status, None)
}

/// Closes a running run and records the flakiness signals of its results,
/// which are final from now on.
fn close(tx: &Tx, run: &Run, status: RunStatus, reason: Option<&str>) -> Result<Run, OpsError> {
    runs::close(tx, &run.id, status, reason, unix_now())?;
    signals::record(tx, run)?;
    let closed = runs::get(tx, run.project_id, &run.id)?;
    let changed = || Ok(runs::previous_status(tx, &closed)?.is_none_or(|before| before != closed.status.as_str()));
    crate::ops::webhooks::emit(tx, "run.finished", Some(run.project_id), changed, || run_finished(tx, &closed))?;
    announce_flaky(tx, &closed)?;
    Ok(closed)
}

/// Queues `test.flaky` for each test this run made flaky: a signal of
/// `domain::flaky` fires with the run's signals and did not before it (in
/// the window, since the test's fixed mark).
fn announce_flaky(tx: &Tx, run: &Run) -> Result<(), OpsError> {
    if !crate::ops::webhooks::hears(tx, Some(run.project_id), "test.flaky")? {
        return Ok(());
    }
    let project = crate::db::projects::require(tx, &run.project)?;
    let since = crate::domain::time::window_start(run.created_at, crate::domain::flaky::FLAKY_WINDOW_DAYS);
    let threshold = project.flaky_flip_threshold;
    for test in signals::signalled_in(tx, run, since)? {
        let fired = test.with_run.fired(threshold);
        if fired.is_empty() || !test.before.fired(threshold).is_empty() {
            continue;
        }
        crate::ops::webhooks::emit(
            tx,
            "test.flaky",
            Some(project.id),
            || Ok(true),
            || {
                Ok(json!({
                    "project": project.slug,
                    "test": {"id": test.test_id, "suite": test.suite, "classname": test.classname, "name": test.name},
                    "signals": fired,
                    "run": run.id,
                    "reason": format!("flaky by {}", fired.join(", ")),
                    "path": format!("/projects/{}/tests/{}", project.slug, test.test_id),
                }))
            },
        )?;
    }
    Ok(())
}

/// How many new failures a `run.finished` event lists.
const EVENT_FAILURES: usize = 50;

/// The data of a `run.finished` event: the run, its new failures against
/// the baseline (as `GET …/compare` finds them, first message line), and
/// its page (`path`; the delivery makes it a `url` with `--public-url`).
fn run_finished(tx: &Tx, run: &Run) -> Result<serde_json::Value, OpsError> {
    let project = crate::db::projects::require(tx, &run.project)?;
    let new_failures = crate::db::compare::new_failures(tx, &project, run)?;
    let failures: Vec<serde_json::Value> = new_failures
        .iter()
        .take(EVENT_FAILURES)
        .map(|f| {
            let message = f.message.as_deref().and_then(|m| m.lines().next()).unwrap_or("");
            json!({"test": f.name, "classname": f.classname, "file": f.file, "message": message})
        })
        .collect();
    Ok(json!({
        "project": run.project,
        "run": run,
        "new_failures": failures,
        "new_failure_count": new_failures.len(),
        "path": format!("/projects/{}/runs/{}", run.project, run.id),
    }))
}

/// Marks a running run as errored: the CI job died before it could upload.
pub fn fail(tx: &Tx, project_id: i64, run_id: &str, reason: &str) -> Result<Run, OpsError> {
    let run = runs::get(tx, project_id, run_id)?;
    match run.status {
        RunStatus::Errored => return Ok(run),
        RunStatus::Passed | RunStatus::Failed => {
            return Err(Refusal::RunAlreadyClosed { run: run.id.clone(), status: run.status.as_str() }.into())
        }
        RunStatus::Running => {}
    }
    close(tx, &run, RunStatus::Errored, Some(reason))
}

/// Marks `errored` the runs (at most `batch`) still running with no report
/// for `hours`: their CI job stopped without finalizing or failing them, and
/// left running they would look in progress for ever. Returns how many.
pub fn fail_stale(tx: &Tx, hours: u32, batch: u32) -> Result<usize, OpsError> {
    let now = unix_now();
    let ids = runs::stale(tx, now - i64::from(hours) * 3600, batch)?;
    let reason = format!(
        "No report for {hours} hours: the CI job stopped without finishing the run (marked errored by Proctor)."
    );
    for (project_id, id) in &ids {
        close(tx, &runs::get(tx, *project_id, id)?, RunStatus::Errored, Some(&reason))?;
    }
    Ok(ids.len())
}

/// Deletes runs created before `cutoff` (at most `batch`), with an audit row per batch.
pub fn prune(tx: &Tx, cutoff: i64, batch: u32) -> Result<Vec<String>, OpsError> {
    let ids = runs::older_than(tx, cutoff, batch)?;
    for id in &ids {
        runs::delete(tx, id)?;
    }
    if !ids.is_empty() {
        let ctx = AuditContext { actor: crate::domain::audit::Actor::system(), ip: None, user_agent: None };
        audit::record(
            tx,
            &ctx,
            "runs.pruned",
            Some(&Target::new("runs", "retention", "retention")),
            json!({"runs": ids.len()}),
        )?;
    }
    Ok(ids)
}
