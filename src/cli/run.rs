//! `proctor run`: runs the test command, uploads the reports it wrote as one
//! run, and exits with the command's status, except 0 when the command
//! failed and every failure of that finalized run is quarantined (API.md
//! section 9; the rule is in `verdict.rs`). A missing report, a failed
//! upload or an unreachable server never changes the command's status.

mod child;
mod verdict;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::upload::summary::one_line;
use super::upload::{files, Failure, Session, Target, Uploaded};
use super::{CliError, RunArgs};
use child::Ended;
use verdict::{StoredRun, Upload, Verdict};

/// How many forgiven failures are listed, at most.
const MAX_LISTED: usize = 1000;

pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    // Everything that would make the upload impossible whatever happens
    // (no URL, no token, a bad pattern) stops us before the command runs.
    // The session starts after it: an ID token is exchanged then, so that
    // a long test run does not outlive the short-lived token.
    let target = Target::new(&args.target)?;
    files::check_patterns(&args.reports).map_err(CliError::Message)?;
    let started = SystemTime::now();
    let status = match child::run(&args.command)? {
        Ended::Status(status) => status,
        Ended::NotStarted { status, why } => {
            eprintln!("error: {why}; nothing was uploaded");
            return Ok(ExitCode::from(status));
        }
    };
    let session = Session::new(target).map_err(|err| eprintln!("warning: the upload failed: {err}")).ok();
    let upload = match &session {
        Some(session) => upload(session, &written_reports(&args.reports, started)),
        None => Upload::Failed,
    };
    Ok(ExitCode::from(conclude(session.as_ref(), status, &upload)))
}

/// Uploads the reports as one finalized run; a failure is a warning.
fn upload(session: &Session, reports: &[PathBuf]) -> Upload {
    if reports.is_empty() {
        eprintln!("warning: the command wrote no report: nothing to upload");
        return Upload::NoReport;
    }
    match session.upload(reports, true) {
        Ok(uploaded) => Upload::Stored(stored(uploaded)),
        Err(err) => {
            eprintln!("warning: the upload failed: {err}");
            Upload::Failed
        }
    }
}

fn stored(uploaded: Uploaded) -> StoredRun {
    let run = uploaded.run;
    StoredRun {
        failures: run.failed.unwrap_or(0) + run.errors.unwrap_or(0),
        status: run.status.unwrap_or_default(),
        id: run.id,
        joined: uploaded.joined,
        reported_failures: uploaded.reported_failures,
    }
}

/// The exit status, with a line on stderr whenever the command failed.
fn conclude(session: Option<&Session>, status: u8, upload: &Upload) -> u8 {
    match (verdict::verdict(status, upload), upload, session) {
        (Verdict::Forgive, Upload::Stored(run), Some(session)) => forgive(session, status, run),
        (Verdict::Keep(Some(why)), _, _) => {
            eprintln!("proctor run: exit status {status} kept: {why}");
            status
        }
        _ => status,
    }
}

/// Lists the forgiven failures and answers 0, unless the list shows one no
/// rule covers after all (then the command's status stands). A list that
/// cannot be read (a token without `runs:read`) is only a warning: the
/// server's verdict on the run is what counts.
fn forgive(session: &Session, status: u8, run: &StoredRun) -> u8 {
    match session.failures(&run.id, MAX_LISTED) {
        Ok((failures, complete)) => {
            if let Some(open) = failures.iter().find(|f| !f.quarantined) {
                let title = one_line(&open.title());
                eprintln!("proctor run: exit status {status} kept: {title} is not quarantined in run {}", run.id);
                return status;
            }
            list(&failures, complete);
        }
        Err(err) => eprintln!("warning: cannot list the forgiven failures (a token with runs:read can): {err}"),
    }
    eprintln!(
        "proctor run: exit status 0 instead of {status}: the {} of run {} {} quarantined",
        failures(run.failures),
        run.id,
        if run.failures == 1 { "is" } else { "are all" }
    );
    0
}

fn list(failures: &[Failure], complete: bool) {
    for failure in failures {
        eprintln!("forgiven (quarantined): {} ({})", one_line(&failure.title()), one_line(&failure.outcome()));
    }
    if !complete {
        eprintln!("forgiven (quarantined): … and more, on the run's page");
    }
}

fn failures(n: u64) -> String {
    if n == 1 {
        "1 failure".to_string()
    } else {
        format!("{n} failures")
    }
}

/// The report files the command wrote: those the patterns match that were
/// modified since it started. Older ones (an earlier run's, left in the
/// workspace) would explain failures that are not this run's: they are
/// named in a warning and left out.
fn written_reports(patterns: &[String], started: SystemTime) -> Vec<PathBuf> {
    let expanded = match files::expand(patterns) {
        Ok(expanded) => expanded,
        Err(why) => {
            eprintln!("warning: {why}");
            return Vec::new();
        }
    };
    for pattern in &expanded.unmatched {
        eprintln!("warning: no file matches {pattern}");
    }
    let (fresh, stale): (Vec<PathBuf>, Vec<PathBuf>) =
        expanded.files.into_iter().partition(|path| modified(path).is_some_and(|at| written_since(at, started)));
    for path in &stale {
        eprintln!("warning: skipping {}: not modified since the command started (an earlier run's?)", path.display());
    }
    fresh
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether a file modified `at` was written after `started`, give or take
/// the fraction of a second that file systems keeping whole seconds drop.
fn written_since(at: SystemTime, started: SystemTime) -> bool {
    let whole = started.duration_since(UNIX_EPOCH).map(|d| Duration::from_secs(d.as_secs())).unwrap_or_default();
    at >= UNIX_EPOCH + whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_count_from_the_start_of_the_commands_second() {
        let started = UNIX_EPOCH + Duration::from_millis(1_700_000_000_600);
        assert!(written_since(started + Duration::from_millis(1), started));
        assert!(written_since(UNIX_EPOCH + Duration::from_secs(1_700_000_000), started), "same second, truncated");
        assert!(!written_since(UNIX_EPOCH + Duration::from_millis(1_699_999_999_999), started));
    }

    #[test]
    fn failures_are_counted_in_words() {
        assert_eq!(failures(1), "1 failure");
        assert_eq!(failures(3), "3 failures");
    }
}
