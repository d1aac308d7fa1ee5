//! Trusted publishers of a project (API.md section 11): the CI jobs whose
//! OpenID Connect ID tokens may be exchanged for a short-lived token.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::roles::serialize_permissions;
use crate::db::{serialize_unix, Conn, DbError, Missing, Tx};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::permission::PermissionSet;
use crate::domain::provenance::Provenance;

/// A trusted publisher, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Publisher {
    pub id: String,
    #[serde(skip)]
    pub project_id: i64,
    /// The issuer's `https://` URL, exactly as ID tokens name it in `iss`.
    pub issuer: String,
    /// The audience an ID token must carry in `aud`.
    pub audience: String,
    /// Claim name → glob (`*`, `?`); an ID token must match every one.
    pub claims: BTreeMap<String, String>,
    /// What the exchanged token may do.
    #[serde(serialize_with = "serialize_permissions")]
    #[schema(value_type = Vec<crate::domain::permission::Permission>)]
    pub permissions: PermissionSet,
    /// Minutes the exchanged token lives (never past the ID token's own expiry plus this).
    pub token_minutes: u32,
    #[serde(serialize_with = "serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    pub created_by: Actor,
}

const COLUMNS: &str = "id, project_id, issuer, audience, claims, permissions, token_minutes, created_at, \
    created_by_type, created_by_id, created_by_name";

fn from_row(r: &Row) -> rusqlite::Result<Publisher> {
    let claims: String = r.get(4)?;
    let permissions: String = r.get(5)?;
    let kind: String = r.get(8)?;
    Ok(Publisher {
        id: r.get(0)?,
        project_id: r.get(1)?,
        issuer: r.get(2)?,
        audience: r.get(3)?,
        claims: serde_json::from_str(&claims).unwrap_or_default(),
        permissions: PermissionSet::from_storage(&permissions).unwrap_or_default(),
        token_minutes: r.get(6)?,
        created_at: r.get(7)?,
        created_by: Actor { kind: ActorKind::parse(&kind), id: r.get(9)?, name: r.get(10)?, preview: None },
    })
}

pub fn insert(tx: &Tx, publisher: &Publisher) -> Result<(), DbError> {
    let claims = serde_json::to_string(&publisher.claims).map_err(|e| DbError::Internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO trusted_publishers (id, project_id, issuer, audience, claims, permissions, token_minutes,
            created_at, created_by_type, created_by_id, created_by_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            publisher.id,
            publisher.project_id,
            publisher.issuer,
            publisher.audience,
            claims,
            publisher.permissions.to_storage(),
            publisher.token_minutes,
            publisher.created_at,
            publisher.created_by.kind.as_str(),
            publisher.created_by.id,
            publisher.created_by.name,
        ],
    )?;
    Ok(())
}

/// A project's publishers after `after` (an id), oldest first, at most `limit`.
pub fn list(conn: &Conn, project_id: i64, after: Option<&str>, limit: u32) -> Result<Vec<Publisher>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM trusted_publishers WHERE project_id = ?1 AND id > ?2 ORDER BY id LIMIT CAST(?3 AS INTEGER)"
    ))?;
    let rows = stmt.query_map(params![project_id, after.unwrap_or(""), limit], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Conn, project_id: i64, id: &str) -> Result<Publisher, DbError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM trusted_publishers WHERE project_id = ?1 AND id = ?2"),
        params![project_id, id],
        from_row,
    )
    .optional()?
    .ok_or(DbError::NotFound(Missing::Publisher))
}

pub fn delete(tx: &Tx, id: &str) -> Result<(), DbError> {
    tx.execute("DELETE FROM trusted_publishers WHERE id = ?1", params![id])?;
    Ok(())
}

/// The publishers of a project that trust `issuer`, oldest first.
pub fn for_issuer(conn: &Conn, project_id: i64, issuer: &str) -> Result<Vec<Publisher>, DbError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM trusted_publishers WHERE project_id = ?1 AND issuer = ?2 ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![project_id, issuer], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records that ID token `jti` of `issuer` was exchanged, until
/// `expires_at`; false when it already was (a replay).
pub fn use_jti(tx: &Tx, issuer: &str, jti: &str, expires_at: i64) -> Result<bool, DbError> {
    let inserted = tx.execute(
        "INSERT OR IGNORE INTO oidc_jtis (issuer, jti, expires_at) VALUES (?1, ?2, ?3)",
        params![issuer, jti, expires_at],
    )?;
    Ok(inserted == 1)
}

/// Forgets the used `jti`s whose ID tokens have expired (they could not be
/// exchanged again anyway); returns how many.
pub fn prune_jtis(tx: &Tx, now: i64) -> Result<usize, DbError> {
    Ok(tx.execute("DELETE FROM oidc_jtis WHERE expires_at < ?1", params![now])?)
}

/// Whether any project trusts `issuer`: the exchange asks before it does
/// any network work for a token.
pub fn issuer_is_trusted(conn: &Conn, issuer: &str) -> Result<bool, DbError> {
    let found: Option<i64> = conn
        .query_row("SELECT 1 FROM trusted_publishers WHERE issuer = ?1 LIMIT 1", params![issuer], |r| r.get(0))
        .optional()?;
    Ok(found.is_some())
}

/// One exchange a publisher let in, for its page.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub publisher_id: String,
    pub token_id: Option<String>,
    pub at: i64,
    pub provenance: Provenance,
}

/// Exchanges kept per publisher; older ones are in the audit log only.
pub const KEPT_EXCHANGES: i64 = 20;

/// Records `exchange` and forgets its publisher's exchanges beyond the
/// newest [`KEPT_EXCHANGES`].
pub fn record_exchange(tx: &Tx, exchange: &Exchange) -> Result<(), DbError> {
    let p = &exchange.provenance;
    tx.execute(
        "INSERT INTO oidc_exchanges (publisher_id, token_id, at, subject, repository, git_ref, sha, run_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            exchange.publisher_id,
            exchange.token_id,
            exchange.at,
            p.subject,
            p.repository,
            p.git_ref,
            p.sha,
            p.run_url
        ],
    )?;
    tx.execute(
        "DELETE FROM oidc_exchanges WHERE publisher_id = ?1 AND id <= (
            SELECT id FROM oidc_exchanges WHERE publisher_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![exchange.publisher_id, KEPT_EXCHANGES],
    )?;
    Ok(())
}

/// The newest `limit` exchanges of each publisher of project `project_id`,
/// newest first within each.
pub fn recent_exchanges(conn: &Conn, project_id: i64, limit: u32) -> Result<Vec<Exchange>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.publisher_id, e.token_id, e.at, e.subject, e.repository, e.git_ref, e.sha, e.run_url
         FROM trusted_publishers p
         JOIN oidc_exchanges e ON e.id IN (
             SELECT id FROM oidc_exchanges WHERE publisher_id = p.id ORDER BY id DESC LIMIT CAST(?2 AS INTEGER))
         WHERE p.project_id = ?1
         ORDER BY e.publisher_id, e.id DESC",
    )?;
    let rows = stmt.query_map(params![project_id, limit], |r| {
        Ok(Exchange {
            publisher_id: r.get(0)?,
            token_id: r.get(1)?,
            at: r.get(2)?,
            provenance: Provenance {
                subject: r.get(3)?,
                repository: r.get(4)?,
                git_ref: r.get(5)?,
                sha: r.get(6)?,
                run_id: None,
                run_url: r.get(7)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many publishers project `project_id` has.
pub fn count(conn: &Conn, project_id: i64) -> Result<usize, DbError> {
    let n: i64 =
        conn.query_row("SELECT count(*) FROM trusted_publishers WHERE project_id = ?1", params![project_id], |r| {
            r.get(0)
        })?;
    Ok(usize::try_from(n).unwrap_or(0))
}
