//! Small reads only the web pages need: the branches a project's runs used
//! recently (the runs filter suggests them) and whether it has runs at all.
//! "Recently" is among the newest [`RECENT_RUNS`] runs, so a page costs the
//! same however many runs the project keeps.

use rusqlite::{params, OptionalExtension};

use crate::db::{Conn, DbError};

/// Runs looked at for recent branches and names.
pub const RECENT_RUNS: u32 = 200;

/// Branches of the project's newest runs, most recently used first.
pub fn recent_branches(conn: &Conn, project_id: i64, limit: u32) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT branch FROM (
             SELECT branch, id FROM runs INDEXED BY runs_by_project WHERE project_id = ?1
             ORDER BY id DESC LIMIT CAST(?3 AS INTEGER)
         ) WHERE branch IS NOT NULL GROUP BY branch ORDER BY max(id) DESC LIMIT CAST(?2 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![project_id, limit, RECENT_RUNS], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Run names (CI jobs) of the project's newest runs, for the runs filter's
/// suggestions.
pub fn recent_names(conn: &Conn, project_id: i64, limit: u32) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM (
             SELECT name, id FROM runs INDEXED BY runs_by_project WHERE project_id = ?1
             ORDER BY id DESC LIMIT CAST(?3 AS INTEGER)
         ) WHERE name != '' GROUP BY name ORDER BY max(id) DESC LIMIT CAST(?2 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![project_id, limit, RECENT_RUNS], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether the project has any run.
pub fn has_runs(conn: &Conn, project_id: i64) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM runs WHERE project_id = ?1 LIMIT 1")?
        .query_row([project_id], |_| Ok(()))
        .optional()?
        .is_some())
}
