//! Attachment rows: files (logs, screenshots, builds) stored with a run.
//! The bytes live on disk (`ops::attachments`); this is their index.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::{Conn, DbError, Missing, Tx};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: String,
    pub run_id: String,
    pub filename: String,
    pub content_type: String,
    pub bytes: i64,
    #[serde(skip)]
    pub sha256: Vec<u8>,
    #[serde(serialize_with = "crate::db::serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

const COLUMNS: &str = "a.id, a.run_id, a.filename, a.content_type, a.bytes, a.sha256, a.created_at";

fn from_row(r: &Row) -> rusqlite::Result<Attachment> {
    Ok(Attachment {
        id: r.get(0)?,
        run_id: r.get(1)?,
        filename: r.get(2)?,
        content_type: r.get(3)?,
        bytes: r.get(4)?,
        sha256: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub fn insert(tx: &Tx, a: &Attachment) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO attachments (id, run_id, filename, content_type, bytes, sha256, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![a.id, a.run_id, a.filename, a.content_type, a.bytes, a.sha256, a.created_at],
    )?;
    Ok(())
}

/// The attachments of a run, oldest first; `after` continues above an id.
pub fn list(conn: &Conn, run_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<Attachment>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM attachments a WHERE a.run_id = ?1 AND (?2 IS NULL OR a.id > ?2) ORDER BY a.id LIMIT CAST(?3 AS INTEGER)"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![run_id, after, limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Attachment `id` of a run of project `project_id`, or 404.
pub fn get(conn: &Conn, project_id: i64, id: &str) -> Result<Attachment, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM attachments a JOIN runs r ON r.id = a.run_id WHERE a.id = ?1 AND r.project_id = ?2"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![id, project_id], from_row)
        .optional()?
        .ok_or(DbError::NotFound(Missing::Attachment))
}

pub fn delete(tx: &Tx, id: &str) -> Result<(), DbError> {
    tx.execute("DELETE FROM attachments WHERE id = ?1", [id])?;
    Ok(())
}

/// Ids of a project's runs (to remove their attachment files once the
/// project is deleted).
pub fn run_ids_of_project(conn: &Conn, project_id: i64) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM runs WHERE project_id = ?1")?;
    let rows = stmt.query_map([project_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether a run exists (the sweep of attachment directories left behind).
pub fn run_exists(conn: &Conn, run_id: &str) -> Result<bool, DbError> {
    Ok(conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?.query_row([run_id], |_| Ok(())).optional()?.is_some())
}
