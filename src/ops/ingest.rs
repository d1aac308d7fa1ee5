//! Ingestion: runs are created (or joined by every shard of a CI job),
//! reports are parsed as a stream straight into the run's results inside one
//! write transaction (stored whole or not at all), runs are finalized or
//! failed. Reports are identified by the SHA-256 of their decompressed bytes:
//! the same bytes twice in a run count once.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::rc::Rc;

use rusqlite::Transaction;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::db::results::ResultWriter;
use crate::db::runs::{self, Counts, Run, RunMeta, RunStatus};
use crate::db::{self, audit};
use crate::domain::audit::{AuditContext, Target};
use crate::domain::report::{self, Limits, Merged, Outcome, ParseError, ReportFormat};
use crate::domain::time::unix_now;
use crate::error::AppError;

/// Creates a run, or returns the running run of the same build and name
/// (`true` when it was created).
pub fn create_run(tx: &Transaction, project_id: i64, meta: &RunMeta) -> Result<(Run, bool), AppError> {
    if let Some(build_id) = &meta.build_id {
        if let Some(id) = runs::find_running(tx, project_id, build_id, &meta.name)? {
            return Ok((runs::get(tx, project_id, &id)?, false));
        }
    }
    let id = runs::insert(tx, project_id, meta, unix_now())?;
    Ok((runs::get(tx, project_id, &id)?, true))
}

/// The body of an upload as it arrived.
pub struct Upload<'a> {
    pub bytes: &'a [u8],
    pub format: ReportFormat,
    pub gzip: bool,
    /// Cap on the decompressed size.
    pub max_bytes: u64,
}

/// What an upload did.
pub struct Ingested {
    pub report_id: String,
    pub counts: Counts,
    pub duplicate: bool,
}

/// Parses `upload` into run `run`, in the caller's write transaction. A
/// duplicate is only known once every byte was hashed, so the results are
/// written under a savepoint that a duplicate rolls back.
pub fn ingest(tx: &Transaction, project_id: i64, run: &Run, upload: &Upload) -> Result<Ingested, AppError> {
    tx.execute_batch("SAVEPOINT report")?;
    let result = ingest_under_savepoint(tx, project_id, run, upload);
    match &result {
        Ok(done) if !done.duplicate => tx.execute_batch("RELEASE report")?,
        _ => tx.execute_batch("ROLLBACK TO report; RELEASE report")?,
    }
    result
}

fn ingest_under_savepoint(tx: &Transaction, project_id: i64, run: &Run, upload: &Upload) -> Result<Ingested, AppError> {
    if run.status != RunStatus::Running {
        return Err(AppError::conflict(
            "run_closed",
            format!("Run {} is {}; it takes no more reports.", run.id, run.status.as_str()),
        ));
    }
    if upload.bytes.is_empty() {
        return Err(AppError::bad_request("invalid_report", "The request body is empty."));
    }
    let exceeded = Rc::new(Cell::new(false));
    let hasher = Rc::new(std::cell::RefCell::new(Sha256::new()));
    let total = Rc::new(Cell::new(0u64));
    let source: Box<dyn Read + '_> =
        if upload.gzip { Box::new(flate2::read::GzDecoder::new(upload.bytes)) } else { Box::new(upload.bytes) };
    let reader = Tap {
        inner: source,
        max: upload.max_bytes,
        exceeded: exceeded.clone(),
        hasher: hasher.clone(),
        total: total.clone(),
    };
    let mut writer = ResultWriter::new(tx, project_id, &run.id)?;
    // The report's counts are of its distinct tests: a test repeated in the
    // report counts once, merged with `combine` like the run's results. Keyed
    // by the first 64 bits of the test id so a 200,000-test report's map stays
    // a few MB.
    let mut distinct: HashMap<u64, Merged> = HashMap::new();
    let parsed =
        report::parse(upload.format, BufReader::with_capacity(64 * 1024, reader), &Limits::default(), |case| {
            let outcome = case.outcome;
            let id = writer.write(case)?;
            let key = u64::from_str_radix(id.get(..16).unwrap_or(&id), 16).unwrap_or_default();
            distinct.entry(key).and_modify(|m| m.add(outcome)).or_insert_with(|| Merged::new(outcome));
            Ok(())
        });
    if parsed.is_ok() {
        writer.flush()?;
    }
    drop(writer);
    let mut counts = Counts::default();
    for outcome in distinct.into_values().map(Merged::outcome) {
        counts.tests += 1;
        match outcome {
            Outcome::Passed => counts.passed += 1,
            Outcome::Failed => counts.failed += 1,
            Outcome::Error => counts.errors += 1,
            Outcome::Skipped => counts.skipped += 1,
            Outcome::Flaky => counts.flaky += 1,
        }
    }
    if exceeded.get() {
        return Err(AppError::Client {
            status: actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!("The report is larger than {} bytes after decompression.", upload.max_bytes),
        });
    }
    match parsed {
        Ok(_) => {}
        Err(ParseError::Sink(e)) => return Err(e),
        Err(ParseError::Invalid(e)) => {
            return Err(AppError::bad_request("invalid_report", format!("Invalid report: {e}")))
        }
    }
    let sha = hasher.borrow_mut().finalize_reset().to_vec();
    if let Some((report_id, counts)) = runs::find_report(tx, &run.id, &sha)? {
        return Ok(Ingested { report_id, counts, duplicate: true });
    }
    let format = match upload.format {
        ReportFormat::JUnit => "junit",
        ReportFormat::Ctrf => "ctrf",
    };
    let report_id = runs::insert_report(
        tx,
        &runs::NewReport { run_id: &run.id, sha256: &sha, format, bytes: total.get(), counts, now: unix_now() },
    )?;
    runs::recount(tx, &run.id)?;
    Ok(Ingested { report_id, counts, duplicate: false })
}

/// Reads through, hashing and counting, and stops at the size cap.
struct Tap<'a> {
    inner: Box<dyn Read + 'a>,
    max: u64,
    exceeded: Rc<Cell<bool>>,
    hasher: Rc<std::cell::RefCell<Sha256>>,
    total: Rc<Cell<u64>>,
}

impl Read for Tap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| std::io::Error::new(e.kind(), format!("not valid gzip: {e}")))?;
        let total = self.total.get() + n as u64;
        if total > self.max {
            self.exceeded.set(true);
            return Err(std::io::Error::other("report too large"));
        }
        self.total.set(total);
        self.hasher.borrow_mut().update(&buf[..n]);
        Ok(n)
    }
}

/// Closes a running run as passed or failed from its results; finalizing a
/// passed or failed run again returns it unchanged.
pub fn finalize(tx: &Transaction, project_id: i64, run_id: &str) -> Result<Run, AppError> {
    let run = runs::get(tx, project_id, run_id)?;
    match run.status {
        RunStatus::Passed | RunStatus::Failed => return Ok(run),
        RunStatus::Errored => return Err(AppError::conflict("run_closed", "The run was marked as errored.")),
        RunStatus::Running => {}
    }
    let counts = runs::recount(tx, run_id)?;
    let status = if counts.failed + counts.errors > 0 { RunStatus::Failed } else { RunStatus::Passed };
    runs::close(tx, run_id, status, None, unix_now())?;
    runs::get(tx, project_id, run_id)
}

/// Marks a running run as errored: the CI job died before it could upload.
pub fn fail(tx: &Transaction, project_id: i64, run_id: &str, reason: &str) -> Result<Run, AppError> {
    let run = runs::get(tx, project_id, run_id)?;
    match run.status {
        RunStatus::Errored => return Ok(run),
        RunStatus::Passed | RunStatus::Failed => {
            return Err(AppError::conflict("run_closed", format!("Run {} is already {}.", run.id, run.status.as_str())))
        }
        RunStatus::Running => {}
    }
    runs::recount(tx, run_id)?;
    runs::close(tx, run_id, RunStatus::Errored, Some(reason), unix_now())?;
    runs::get(tx, project_id, run_id)
}

/// Deletes runs created before `cutoff` (at most `batch`), with an audit row per batch.
pub fn prune(tx: &Transaction, cutoff: i64, batch: u32) -> Result<Vec<String>, AppError> {
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

/// The project of a run route, checked for visibility (uniform 404).
pub fn project_for(tx: &rusqlite::Connection, by: &Principal, slug: &str) -> Result<db::projects::Project, AppError> {
    let project = db::projects::require(tx, slug)?;
    by.require_project(project.id)?;
    Ok(project)
}
