//! Projects: slug, name, default branch.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::{Conflict, Conn, DbError, Missing, Tx};
use crate::domain::time::unix_now;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Project {
    #[serde(skip)]
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub default_branch: String,
    /// Changes between passing and failing on the default branch that make
    /// a test flaky (API.md section 9).
    pub flaky_flip_threshold: u32,
    #[serde(serialize_with = "crate::db::serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

fn from_row(r: &Row) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        slug: r.get(1)?,
        name: r.get(2)?,
        default_branch: r.get(3)?,
        created_at: r.get(4)?,
        flaky_flip_threshold: r.get(5)?,
    })
}

const COLUMNS: &str = "id, slug, name, default_branch, created_at, flaky_flip_threshold";

pub fn insert(tx: &Tx, slug: &str, name: &str, default_branch: &str) -> Result<Project, DbError> {
    let now = unix_now();
    let inserted = tx.execute(
        "INSERT INTO projects (slug, name, default_branch, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![slug, name, default_branch, now],
    );
    match inserted {
        Ok(_) => Ok(Project {
            id: tx.last_insert_rowid(),
            slug: slug.into(),
            name: name.into(),
            default_branch: default_branch.into(),
            created_at: now,
            flaky_flip_threshold: crate::domain::analysis::DEFAULT_FLIP_THRESHOLD,
        }),
        Err(e) if super::is_unique_violation(&e) => Err(DbError::Conflict(Conflict::ProjectSlug(slug.to_string()))),
        Err(e) => Err(e.into()),
    }
}

pub fn by_slug(conn: &Conn, slug: &str) -> Result<Option<Project>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM projects WHERE slug = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([slug], from_row).optional()?)
}

/// The project, or the uniform `project_not_found`.
pub fn require(conn: &Conn, slug: &str) -> Result<Project, DbError> {
    by_slug(conn, slug)?.ok_or(DbError::NotFound(Missing::Project))
}

/// All projects by name; `after` continues from a slug (keyset pagination on slug).
pub fn list(conn: &Conn, after: Option<&str>, limit: u32) -> Result<Vec<Project>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM projects WHERE (?1 IS NULL OR slug > ?1) ORDER BY slug LIMIT CAST(?2 AS INTEGER)"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![after, limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn update(tx: &Tx, id: i64, name: &str, default_branch: &str, flip_threshold: u32) -> Result<(), DbError> {
    tx.execute(
        "UPDATE projects SET name = ?2, default_branch = ?3, flaky_flip_threshold = ?4 WHERE id = ?1",
        params![id, name, default_branch, flip_threshold],
    )?;
    Ok(())
}

/// Deletes a project; its runs, keys and results go with it (foreign keys cascade).
pub fn delete(tx: &Tx, id: i64) -> Result<(), DbError> {
    tx.execute("DELETE FROM projects WHERE id = ?1", [id])?;
    Ok(())
}
