//! The exit status of `proctor run` (API.md section 9): the command's own,
//! except 0 when the command failed and the run it stored explains every
//! failure by a quarantine rule. Pure, so that every case is tested here.

/// What became of the command's reports.
#[derive(Debug)]
pub enum Upload {
    /// The command wrote no report (none matched, or only stale ones).
    NoReport,
    /// The server could not be reached, or refused a report or the run.
    Failed,
    /// The reports are stored and the run finalized.
    Stored(StoredRun),
}

/// The finalized run, as far as the verdict needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRun {
    pub id: String,
    /// `passed`, `failed` or `errored` (or whatever else the server said).
    pub status: String,
    /// Its failed and errored tests, quarantined ones included.
    pub failures: u64,
    /// The run was already running for this build id and name, so other
    /// jobs' results may be in it.
    pub joined: bool,
    /// Failed and errored tests in the reports this command wrote.
    pub reported_failures: u64,
}

/// The exit status to use.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The command's own status; with why, when that is a failure.
    Keep(Option<String>),
    /// 0: the command failed, and every failure of this run is quarantined.
    Forgive,
}

/// The rule. A failed command is forgiven only by a stored, finalized run
/// of its own that `passed` although it holds failures (the server passes a
/// run only when every failure is quarantined), and only when the reports
/// it wrote hold failures themselves: a run that passed without any, or
/// one filled by another job too, cannot explain why this command failed.
pub fn verdict(command_status: u8, upload: &Upload) -> Verdict {
    if command_status == 0 {
        return Verdict::Keep(None);
    }
    let why = match upload {
        Upload::NoReport => "no report was uploaded".to_string(),
        Upload::Failed => "the upload failed, so no stored run explains the failure".to_string(),
        Upload::Stored(run) => match unexplained(run) {
            Some(why) => why,
            None => return Verdict::Forgive,
        },
    };
    Verdict::Keep(Some(why))
}

/// Why a stored run does not explain the command's failure, if it doesn't.
fn unexplained(run: &StoredRun) -> Option<String> {
    let id = &run.id;
    let why = match run.status.as_str() {
        "failed" => format!("run {id} failed: it has failures that no quarantine rule covers"),
        "passed" if run.failures == 0 => format!(
            "run {id} passed without a single failure, so it does not explain why the command failed \
             (did it stop after writing its report?)"
        ),
        "passed" if run.joined => format!(
            "run {id} was already running for this build id and name, so other jobs' results are in it \
             and it cannot speak for this command alone"
        ),
        "passed" if run.reported_failures == 0 => {
            format!("the reports this command wrote hold no failure, so run {id} does not explain why it failed")
        }
        "passed" => return None,
        other => format!("run {id} is {other}, not passed"),
    };
    Some(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: &str, failures: u64) -> StoredRun {
        StoredRun { id: "r1".into(), status: status.into(), failures, joined: false, reported_failures: failures }
    }

    fn kept(command: u8, upload: &Upload) -> String {
        match verdict(command, upload) {
            Verdict::Keep(Some(why)) => why,
            other => panic!("{upload:?}: {other:?}"),
        }
    }

    #[test]
    fn a_command_that_passed_keeps_its_zero_whatever_the_upload() {
        for upload in [Upload::NoReport, Upload::Failed, Upload::Stored(stored("failed", 2))] {
            assert_eq!(verdict(0, &upload), Verdict::Keep(None), "{upload:?}");
        }
    }

    #[test]
    fn a_failed_command_is_forgiven_only_when_its_own_run_passed_with_failures() {
        assert_eq!(verdict(3, &Upload::Stored(stored("passed", 2))), Verdict::Forgive);
        assert_eq!(verdict(137, &Upload::Stored(stored("passed", 1))), Verdict::Forgive);
    }

    #[test]
    fn no_report_or_a_failed_upload_keeps_the_status() {
        assert_eq!(kept(3, &Upload::NoReport), "no report was uploaded");
        assert!(kept(3, &Upload::Failed).starts_with("the upload failed"));
    }

    #[test]
    fn a_failed_errored_or_unfinished_run_keeps_the_status() {
        assert!(kept(3, &Upload::Stored(stored("failed", 2))).contains("no quarantine rule covers"));
        assert_eq!(kept(3, &Upload::Stored(stored("errored", 0))), "run r1 is errored, not passed");
        assert_eq!(kept(3, &Upload::Stored(stored("running", 1))), "run r1 is running, not passed");
    }

    #[test]
    fn a_run_that_passed_cannot_explain_what_it_does_not_hold() {
        assert!(kept(3, &Upload::Stored(stored("passed", 0))).contains("without a single failure"));
        let joined = StoredRun { joined: true, ..stored("passed", 2) };
        assert!(kept(3, &Upload::Stored(joined)).contains("other jobs' results"));
        let others = StoredRun { reported_failures: 0, ..stored("passed", 2) };
        assert!(kept(3, &Upload::Stored(others)).contains("hold no failure"));
    }
}
