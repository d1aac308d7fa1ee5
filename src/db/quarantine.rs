//! Quarantine rules (table `quarantine_rules`, API.md section 9).

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::{serialize_unix, serialize_unix_opt, Conn, DbError, Missing, Tx};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::quarantine::Pattern;

/// Why a rule stopped applying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    Manual,
    Expired,
    Passes,
}

impl ReleaseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseReason::Manual => "manual",
            ReleaseReason::Expired => "expired",
            ReleaseReason::Passes => "passes",
        }
    }

    fn parse(s: &str) -> Option<ReleaseReason> {
        [ReleaseReason::Manual, ReleaseReason::Expired, ReleaseReason::Passes].into_iter().find(|r| r.as_str() == s)
    }
}

/// A rule as the API shows it. `active` is computed against the clock of
/// the read: a rule past `expires_at` is inactive before housekeeping
/// records it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: String,
    /// The one test the rule names (hex test id), or `null` for a pattern.
    pub test_id: Option<String>,
    pub pattern: Option<Pattern>,
    pub reason: String,
    pub issue_url: Option<String>,
    pub created_by: Actor,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: i64,
    pub release_after_passes: Option<u32>,
    pub consecutive_passes: u32,
    #[serde(serialize_with = "serialize_unix_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub released_at: Option<i64>,
    pub released_by: Option<Actor>,
    pub release_reason: Option<ReleaseReason>,
    pub active: bool,
}

/// A rule to store; validated by `domain::quarantine` and `ops`.
pub struct NewRule<'a> {
    pub id: &'a str,
    pub project_id: i64,
    /// The `tests` row the rule names, or `None` with a pattern.
    pub test: Option<i64>,
    pub pattern: Option<&'a Pattern>,
    pub reason: &'a str,
    pub issue_url: Option<&'a str>,
    pub created_by: &'a Actor,
    pub created_at: i64,
    pub expires_at: i64,
    pub release_after_passes: Option<u32>,
}

pub fn insert(tx: &Tx, rule: &NewRule<'_>) -> Result<(), DbError> {
    let glob = |f: fn(&Pattern) -> &Option<String>| rule.pattern.and_then(|p| f(p).clone());
    tx.prepare_cached(
        "INSERT INTO quarantine_rules (id, project_id, test, suite_glob, classname_glob, name_glob, file_glob,
             reason, issue_url, created_type, created_id, created_name, created_preview, created_at, expires_at,
             release_after_passes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        rule.id,
        rule.project_id,
        rule.test,
        glob(|p| &p.suite),
        glob(|p| &p.classname),
        glob(|p| &p.name),
        glob(|p| &p.file),
        rule.reason,
        rule.issue_url,
        rule.created_by.kind.as_str(),
        rule.created_by.id,
        rule.created_by.name,
        rule.created_by.preview,
        rule.created_at,
        rule.expires_at,
        rule.release_after_passes,
    ])?;
    Ok(())
}

/// The columns [`from_row`] reads; `?1` is the clock of the read.
const COLUMNS: &str = "q.id, CASE WHEN t.test_id IS NULL THEN NULL ELSE lower(hex(t.test_id)) END, q.suite_glob, q.classname_glob, q.name_glob, q.file_glob,
    q.reason, q.issue_url, q.created_type, q.created_id, q.created_name, q.created_preview, q.created_at,
    q.expires_at, q.release_after_passes, q.consecutive_passes, q.released_at, q.released_type, q.released_id,
    q.released_name, q.released_preview, q.release_reason,
    (q.released_at IS NULL AND q.expires_at > ?1) AS active";

fn actor(kind: Option<String>, id: Option<String>, name: Option<String>, preview: Option<String>) -> Option<Actor> {
    kind.map(|k| Actor { kind: ActorKind::parse(&k), id, name, preview })
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Rule> {
    let globs: [Option<String>; 4] = [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?];
    let pattern = globs.iter().any(Option::is_some).then(|| {
        let [suite, classname, name, file] = globs;
        Pattern { suite, classname, name, file }
    });
    Ok(Rule {
        id: r.get(0)?,
        test_id: r.get(1)?,
        pattern,
        reason: r.get(6)?,
        issue_url: r.get(7)?,
        created_by: actor(r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?).unwrap_or_else(Actor::system),
        created_at: r.get(12)?,
        expires_at: r.get(13)?,
        release_after_passes: r.get(14)?,
        consecutive_passes: r.get(15)?,
        released_at: r.get(16)?,
        released_by: actor(r.get(17)?, r.get(18)?, r.get(19)?, r.get(20)?),
        release_reason: r.get::<_, Option<String>>(21)?.as_deref().and_then(ReleaseReason::parse),
        active: r.get(22)?,
    })
}

/// Rule `id` of the project, as of `now`.
pub fn get(conn: &Conn, project_id: i64, id: &str, now: i64) -> Result<Rule, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM quarantine_rules q LEFT JOIN tests t ON t.id = q.test
         WHERE q.project_id = ?2 AND q.id = ?3"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![now, project_id, id], from_row)
        .optional()?
        .ok_or(DbError::NotFound(Missing::QuarantineRule))
}

/// Where a page of rules starts: after the rule `id`, which was active or not.
pub struct After {
    pub active: bool,
    pub id: String,
}

/// The project's rules as of `now`, active ones first, each group newest first.
pub fn list(conn: &Conn, project_id: i64, now: i64, after: Option<&After>, limit: u32) -> Result<Vec<Rule>, DbError> {
    let sql = format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM quarantine_rules q LEFT JOIN tests t ON t.id = q.test
                        WHERE q.project_id = ?2)
         WHERE ?3 IS NULL OR (active = ?3 AND id < ?4) OR (?3 = 1 AND active = 0)
         ORDER BY active DESC, id DESC LIMIT CAST(?5 AS INTEGER)"
    );
    let (active, id) = match after {
        Some(a) => (Some(a.active), Some(a.id.as_str())),
        None => (None, None),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![now, project_id, active, id, limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Releases rule `id` at `at` (a no-op for a rule already released).
pub fn release(tx: &Tx, id: &str, at: i64, by: &Actor, reason: ReleaseReason) -> Result<bool, DbError> {
    let changed = tx
        .prepare_cached(
            "UPDATE quarantine_rules SET released_at = ?2, released_type = ?3, released_id = ?4,
                 released_name = ?5, released_preview = ?6, release_reason = ?7
             WHERE id = ?1 AND released_at IS NULL",
        )?
        .execute(params![id, at, by.kind.as_str(), by.id, by.name, by.preview, reason.as_str()])?;
    Ok(changed == 1)
}

/// A project's rules in force when a report is stored, ready to match each
/// result against (a map for rules naming one test, a list of patterns).
#[derive(Debug, Default)]
pub struct ActiveRules {
    rules: Vec<ActiveRule>,
    by_test: std::collections::HashMap<i64, Vec<usize>>,
    patterns: Vec<(usize, Pattern)>,
}

#[derive(Debug)]
pub struct ActiveRule {
    pub id: String,
    pub release_after_passes: Option<u32>,
    pub consecutive_passes: u32,
}

impl ActiveRules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[ActiveRule] {
        &self.rules
    }

    /// The indexes (into [`Self::rules`]) of the rules covering the test
    /// with key `test` and these fields.
    pub fn covering(&self, test: i64, suite: &str, classname: &str, name: &str, file: Option<&str>) -> Vec<usize> {
        let mut found: Vec<usize> = self.by_test.get(&test).cloned().unwrap_or_default();
        found.extend(self.patterns.iter().filter(|(_, p)| p.matches(suite, classname, name, file)).map(|(i, _)| *i));
        found
    }
}

/// The project's rules active at `now`.
pub fn active(conn: &Conn, project_id: i64, now: i64) -> Result<ActiveRules, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, test, suite_glob, classname_glob, name_glob, file_glob, release_after_passes, consecutive_passes
         FROM quarantine_rules WHERE project_id = ?1 AND released_at IS NULL AND expires_at > ?2",
    )?;
    let mut active = ActiveRules::default();
    let mut rows = stmt.query(params![project_id, now])?;
    while let Some(r) = rows.next()? {
        let index = active.rules.len();
        active.rules.push(ActiveRule { id: r.get(0)?, release_after_passes: r.get(6)?, consecutive_passes: r.get(7)? });
        match r.get::<_, Option<i64>>(1)? {
            Some(test) => active.by_test.entry(test).or_default().push(index),
            None => active
                .patterns
                .push((index, Pattern { suite: r.get(2)?, classname: r.get(3)?, name: r.get(4)?, file: r.get(5)? })),
        }
    }
    Ok(active)
}

/// Records a rule's run of consecutive passes on the default branch.
pub fn set_consecutive_passes(tx: &Tx, id: &str, passes: u32) -> Result<(), DbError> {
    tx.prepare_cached("UPDATE quarantine_rules SET consecutive_passes = ?2 WHERE id = ?1")?
        .execute(params![id, passes])?;
    Ok(())
}

/// Rules past `expires_at` at `now` that nothing has released yet, with
/// their project's id and slug (at most `limit`).
pub fn expired_unreleased(conn: &Conn, now: i64, limit: u32) -> Result<Vec<(String, i64, String)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT q.id, q.project_id, p.slug FROM quarantine_rules q JOIN projects p ON p.id = q.project_id
         WHERE q.released_at IS NULL AND q.expires_at <= ?1 ORDER BY q.expires_at LIMIT CAST(?2 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![now, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
