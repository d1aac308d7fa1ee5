//! Small reads only the web pages need: the branches a project's runs used
//! recently (the runs filter suggests them) and whether it has runs at all.

use rusqlite::{params, OptionalExtension};

use crate::db::{Conn, DbError};

/// Branches of the project's runs, most recently used first.
pub fn recent_branches(conn: &Conn, project_id: i64, limit: u32) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT branch FROM runs WHERE project_id = ?1 AND branch IS NOT NULL
         GROUP BY branch ORDER BY max(id) DESC LIMIT CAST(?2 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![project_id, limit], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Recently used run names (CI jobs), for the runs filter's suggestions.
pub fn recent_names(conn: &Conn, project_id: i64, limit: u32) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM runs WHERE project_id = ?1 AND name != ''
         GROUP BY name ORDER BY max(id) DESC LIMIT CAST(?2 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![project_id, limit], |r| r.get(0))?;
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
