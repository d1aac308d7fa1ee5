//! Test identities and per-run results: the ingestion sink and the reads of
//! one run's results.

use std::collections::HashSet;

use rusqlite::types::ValueRef;
use rusqlite::{params, CachedStatement, OptionalExtension};
use serde::Serialize;

use crate::db::quarantine::ActiveRules;
use crate::db::runs::{self, Counts};
use crate::db::{Conn, DbError, Tx};
use crate::domain::fingerprint;
use crate::domain::report::{Merged, Outcome, TestCase};
use crate::domain::rollup::{DigestWriter, Entry};
use crate::domain::test_identity::TestKey;
use crate::domain::time::unix_now;

/// Writes test cases into a run in the order they arrive, merging repeats of
/// a test the way `domain::report::Merged` does (some attempt failed and some
/// passed: flaky; else the last result), across reports and shards too, and
/// keeps the run's counts and total duration up to date as it goes.
///
/// Keys are integers: a test's `tests.id` is assigned when the project first
/// sees it, so a report listing its tests in the usual order writes its
/// results in key order (appending to the run's part of the table), and the
/// only random access per case is the lookup of the test's id by its
/// 16-byte `test_id` in a compact index.
pub struct ResultWriter<'t> {
    find_test: CachedStatement<'t>,
    insert_test: CachedStatement<'t>,
    insert_result: CachedStatement<'t>,
    find_result: CachedStatement<'t>,
    update_result: CachedStatement<'t>,
    insert_fingerprint: CachedStatement<'t>,
    /// Fingerprints this writer stored (or found stored), at most
    /// [`FINGERPRINTS_KEPT`]: a cache, so that a suite failing with one
    /// message does not insert it a thousand times.
    fingerprints: HashSet<i64>,
    project_id: i64,
    run_seq: i64,
    /// When the run was created (the day its results roll up into).
    run_at: i64,
    /// What the cases written, and merges undone, add to the rollups: the
    /// digest being written (queued whenever it holds
    /// `rollups::DIGEST_ENTRIES`, so memory does not grow with the report).
    digest: DigestWriter,
    /// What the cases written so far changed in the run's counts and total
    /// duration (negative where a merge moved a test to another outcome).
    counts: Counts,
    duration_ms: i64,
    /// The project's quarantine rules in force.
    rules: ActiveRules,
    /// Whether results count toward the rules' consecutive passes (the run
    /// is on the project's default branch).
    count_passes: bool,
    /// Per rule (by index): whether a failure reset its passes, and the
    /// passes since the last reset (or since the report began).
    tallies: Vec<(bool, u32)>,
}

/// How many fingerprints a writer remembers having stored; past that it
/// starts over (storing one again is harmless: `INSERT OR IGNORE`).
const FINGERPRINTS_KEPT: usize = 4096;

/// A result already stored in the run, as merging needs it.
struct Stored {
    status: Outcome,
    attempt_bits: u8,
    duration_ms: Option<i64>,
    quarantined: bool,
    fingerprint: Option<i64>,
}

/// A rule's run of consecutive passes after a report, to store (and to
/// release the rule by when it reached `release_after_passes`).
pub struct Passes {
    pub rule_id: String,
    pub consecutive: u32,
    pub release_after: Option<u32>,
}

impl<'t> ResultWriter<'t> {
    /// A writer into run `run_seq` of the project (created at `run_at`),
    /// marking failures `rules` cover as quarantined; `count_passes` when
    /// the run is on the default branch.
    pub fn new(
        tx: &Tx<'t>,
        project_id: i64,
        (run_seq, run_at): (i64, i64),
        rules: ActiveRules,
        count_passes: bool,
    ) -> Result<ResultWriter<'t>, DbError> {
        let tallies = vec![(false, 0); rules.rules().len()];
        Ok(ResultWriter {
            find_test: tx.prepare_cached("SELECT id FROM tests WHERE project_id = ?1 AND test_id = ?2")?,
            insert_test: tx.prepare_cached(
                "INSERT INTO tests (project_id, test_id, suite, classname, name, file) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?,
            insert_result: tx.prepare_cached(
                "INSERT INTO results (run, test, status, duration_ms, retries, message, details, attempt_bits, quarantined,
                     fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (run, test) DO NOTHING",
            )?,
            find_result: tx.prepare_cached(
                "SELECT status, attempt_bits, duration_ms, quarantined, fingerprint FROM results
                 WHERE run = ?1 AND test = ?2",
            )?,
            update_result: tx.prepare_cached(
                "UPDATE results SET status = ?3, attempt_bits = ?4, duration_ms = coalesce(?5, duration_ms),
                   retries = retries + ?6 + 1, attempts = attempts + 1,
                   message = coalesce(?7, message), details = coalesce(?8, details), quarantined = ?9,
                   fingerprint = coalesce(?10, fingerprint)
                 WHERE run = ?1 AND test = ?2",
            )?,
            insert_fingerprint: tx.prepare_cached(
                "INSERT OR IGNORE INTO error_fingerprints (project_id, fingerprint, message, first_seen)
                 VALUES (?1, ?2, ?3, ?4)",
            )?,
            fingerprints: HashSet::new(),
            project_id,
            run_seq,
            run_at,
            digest: DigestWriter::default(),
            counts: Counts::default(),
            duration_ms: 0,
            rules,
            count_passes,
            tallies,
        })
    }

    /// Stores one case under its test id.
    pub fn write(&mut self, tx: &Tx, test_id: &TestKey, case: &TestCase) -> Result<(), DbError> {
        let test = self.test_key(test_id, case)?;
        let covered = self.covered(test, case);
        let duration = case.duration_ms.map(|d| d.min(i64::MAX as u64) as i64);
        let quarantined = covered && is_failure(case.outcome);
        let fingerprint = self.fingerprint(case)?;
        let inserted = self.insert_result.execute(params![
            self.run_seq,
            test,
            case.outcome.as_str(),
            duration,
            case.retries,
            case.message,
            case.details,
            case.outcome.attempt_bits(),
            quarantined,
            fingerprint,
        ])?;
        if inserted == 1 {
            self.digest(tx, entry(test, case.outcome, false, duration, fingerprint))?;
            self.counts.tests += 1;
            self.counts.add(case.outcome, 1);
            self.counts.quarantined += i64::from(quarantined);
            self.duration_ms += duration.unwrap_or(0);
            return Ok(());
        }
        // Seen before in this run: merge.
        let old = self.find_result.query_row(params![self.run_seq, test], |r| {
            Ok(Stored {
                status: stored_outcome(r.get_ref(0)?),
                attempt_bits: r.get(1)?,
                duration_ms: r.get(2)?,
                quarantined: r.get(3)?,
                fingerprint: r.get(4)?,
            })
        })?;
        let mut merged = Merged::stored(old.status, old.attempt_bits);
        merged.add(case.outcome);
        let status = merged.outcome();
        // A failure stays quarantined if it was when first stored.
        let quarantined = is_failure(status) && (old.quarantined || covered);
        self.update_result.execute(params![
            self.run_seq,
            test,
            status.as_str(),
            merged.attempt_bits(),
            duration,
            case.retries,
            case.message,
            case.details,
            quarantined,
            fingerprint,
        ])?;
        self.digest(tx, entry(test, old.status, true, old.duration_ms, old.fingerprint))?;
        let stored_duration = duration.or(old.duration_ms);
        self.digest(tx, entry(test, status, false, stored_duration, fingerprint.or(old.fingerprint)))?;
        self.counts.add(old.status, -1);
        self.counts.add(status, 1);
        self.counts.quarantined += i64::from(quarantined) - i64::from(old.quarantined);
        if let Some(d) = duration {
            self.duration_ms += d - old.duration_ms.unwrap_or(0);
        }
        Ok(())
    }

    /// Adds an entry to the digest, queueing it first when it is full (a
    /// fold takes whole digests, so their size bounds its transactions).
    fn digest(&mut self, tx: &Tx, e: Entry) -> Result<(), DbError> {
        if self.digest.len() >= crate::db::rollups::DIGEST_ENTRIES {
            crate::db::rollups::queue(tx, self.project_id, self.run_at, std::mem::take(&mut self.digest))?;
        }
        self.digest.push(&e);
        Ok(())
    }

    /// A failing case's failure group (see `domain::fingerprint`), its
    /// normalized message stored the first time the project sees it.
    fn fingerprint(&mut self, case: &TestCase) -> Result<Option<i64>, DbError> {
        if matches!(case.outcome, Outcome::Passed | Outcome::Skipped) {
            return Ok(None);
        }
        let Some(message) = fingerprint::normalize(case.message.as_deref(), case.details.as_deref()) else {
            return Ok(None);
        };
        let print = fingerprint::fingerprint(&message);
        // A failing suite repeats one message many times: store it once.
        if self.fingerprints.len() >= FINGERPRINTS_KEPT {
            self.fingerprints.clear();
        }
        if self.fingerprints.insert(print) {
            self.insert_fingerprint.execute(params![self.project_id, print, message, unix_now()])?;
        }
        Ok(Some(print))
    }

    /// Whether a rule covers the test; on the default branch, the result
    /// also counts toward (or resets) the covering rules' passes.
    fn covered(&mut self, test: i64, case: &TestCase) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let covering = self.rules.covering(test, &case.suite, &case.classname, &case.name, case.file.as_deref());
        if self.count_passes {
            for rule in &covering {
                let tally = &mut self.tallies[*rule];
                match case.outcome {
                    Outcome::Passed => tally.1 += 1,
                    Outcome::Skipped => {}
                    Outcome::Failed | Outcome::Error | Outcome::Flaky => *tally = (true, 0),
                }
            }
        }
        !covering.is_empty()
    }

    /// What the cases written so far changed in the run's counts.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Applies the counts of what was written to the run; returns the
    /// rules whose consecutive passes changed.
    pub fn finish(self, tx: &Tx) -> Result<Vec<Passes>, DbError> {
        runs::add_counts(tx, self.run_seq, &self.counts, self.duration_ms)?;
        crate::db::rollups::queue(tx, self.project_id, self.run_at, self.digest)?;
        let changed = self.rules.rules().iter().zip(&self.tallies).filter(|(_, (reset, passes))| *reset || *passes > 0);
        Ok(changed
            .map(|(rule, (reset, passes))| Passes {
                rule_id: rule.id.clone(),
                consecutive: if *reset { *passes } else { rule.consecutive_passes + passes },
                release_after: rule.release_after_passes,
            })
            .collect())
    }

    /// The test's key in `tests`, adding the test when the project has not seen it.
    fn test_key(&mut self, test_id: &TestKey, case: &TestCase) -> Result<i64, DbError> {
        let found = self.find_test.query_row(params![self.project_id, &test_id[..]], |r| r.get(0)).optional()?;
        if let Some(key) = found {
            return Ok(key);
        }
        Ok(self.insert_test.insert(params![
            self.project_id,
            &test_id[..],
            case.suite,
            case.classname,
            case.name,
            case.file
        ])?)
    }
}

/// A result as its digest entry: durations clamped at zero, the failure
/// group kept for failed and errored results only (what failure groups
/// count).
fn entry(test: i64, outcome: Outcome, removed: bool, duration_ms: Option<i64>, fingerprint: Option<i64>) -> Entry {
    Entry {
        test,
        outcome,
        removed,
        duration_ms: duration_ms.map(|d| d.max(0) as u64),
        fingerprint: fingerprint.filter(|_| is_failure(outcome)),
    }
}

fn is_failure(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Failed | Outcome::Error)
}

/// A result's status column read without allocating (the table's CHECK
/// admits only the outcomes' names).
pub fn stored_outcome(value: ValueRef) -> Outcome {
    value.as_str().ok().and_then(Outcome::parse).unwrap_or(Outcome::Skipped)
}

/// A test result as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    /// The test's key in `tests`.
    #[serde(skip)]
    pub key: i64,
    /// The failure group of a failure (`domain::fingerprint`), as hex.
    #[serde(serialize_with = "serialize_fingerprint")]
    #[schema(value_type = Option<String>)]
    pub fingerprint: Option<i64>,
    pub test_id: String,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub status: String,
    pub duration_ms: Option<i64>,
    pub retries: i64,
    pub message: Option<String>,
    pub details: Option<String>,
    /// A failure an active quarantine rule covered when it was stored.
    pub quarantined: bool,
}

/// Results of a run, failures first (error, failed, flaky, then the rest),
/// then by test id; `after` is the (rank, test_id) cursor of the previous page.
pub fn list(
    conn: &Conn,
    project_id: i64,
    run_seq: i64,
    status: Option<&str>,
    after: Option<(i64, String)>,
    limit: u32,
) -> Result<Vec<(i64, TestResult)>, DbError> {
    let (after_rank, after_id) = match after {
        Some((rank, id)) => (Some(rank), Some(id)),
        None => (None, None),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT rank, test_id, suite, classname, name, file, status, duration_ms, retries, message, details, quarantined,
                test, fingerprint FROM (
           SELECT CASE r.status WHEN 'error' THEN 0 WHEN 'failed' THEN 1 WHEN 'flaky' THEN 2 WHEN 'passed' THEN 3 ELSE 4 END AS rank,
                  lower(hex(t.test_id)) AS test_id, t.suite, t.classname, t.name, t.file, r.status, r.duration_ms, r.retries, r.message, r.details,
                  r.quarantined, r.test, r.fingerprint
           FROM results r JOIN tests t ON t.id = r.test AND t.project_id = ?1
           WHERE r.run = ?2 AND (?3 IS NULL OR r.status = ?3))
         WHERE ?4 IS NULL OR rank > ?4 OR (rank = ?4 AND test_id > ?5)
         ORDER BY rank, test_id LIMIT CAST(?6 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![project_id, run_seq, status, after_rank, after_id, limit], |r| {
        Ok((
            r.get(0)?,
            TestResult {
                test_id: r.get(1)?,
                suite: r.get(2)?,
                classname: r.get(3)?,
                name: r.get(4)?,
                file: r.get(5)?,
                status: r.get(6)?,
                duration_ms: r.get(7)?,
                retries: r.get(8)?,
                message: r.get(9)?,
                details: r.get(10)?,
                quarantined: r.get(11)?,
                key: r.get(12)?,
                fingerprint: r.get(13)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn serialize_fingerprint<S: serde::Serializer>(print: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match print {
        Some(p) => s.serialize_str(&format!("{:016x}", *p as u64)),
        None => s.serialize_none(),
    }
}
