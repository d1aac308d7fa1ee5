//! Access tokens: personal access tokens (owned by an account) and project
//! API keys (owned by a project). Only the keyed hash of a secret is stored.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::{Conn, DbError, Tx};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::permission::PermissionSet;
use crate::domain::token::{TokenHash, TokenKind};

/// What a token's status is at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Disabled,
    Revoked,
    Expired,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Disabled => "disabled",
            TokenStatus::Revoked => "revoked",
            TokenStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<TokenStatus> {
        [TokenStatus::Active, TokenStatus::Disabled, TokenStatus::Revoked, TokenStatus::Expired]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// Revoked beats expired beats disabled: the most final state is shown.
pub fn status_at(revoked_at: Option<i64>, expires_at: Option<i64>, disabled: bool, now: i64) -> TokenStatus {
    if revoked_at.is_some_and(|t| t <= now) {
        TokenStatus::Revoked
    } else if expires_at.is_some_and(|t| t <= now) {
        TokenStatus::Expired
    } else if disabled {
        TokenStatus::Disabled
    } else {
        TokenStatus::Active
    }
}

/// A token as stored, with its owner's and projects' names resolved.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: String,
    pub kind: TokenKind,
    pub name: String,
    pub preview: String,
    pub owner: Option<Actor>,
    pub project: Option<(i64, String)>,
    pub permissions: PermissionSet,
    /// `None`: every project the owner can see.
    pub projects: Option<Vec<(i64, String)>>,
    pub disabled: bool,
    pub created_at: i64,
    pub created_by: Actor,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub rate_limit_per_minute: Option<u32>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
    pub recent_ips: Vec<String>,
    pub request_count: i64,
}

impl Token {
    pub fn status(&self, now: i64) -> TokenStatus {
        status_at(self.revoked_at, self.expires_at, self.disabled, now)
    }

    pub fn owner_id(&self) -> Option<&str> {
        self.owner.as_ref().and_then(|o| o.id.as_deref())
    }

    /// Project slugs as the API shows them: the key's project, the PAT's list, or null.
    pub fn project_slugs(&self) -> Option<Vec<String>> {
        match (&self.project, &self.projects) {
            (Some((_, slug)), _) => Some(vec![slug.clone()]),
            (None, Some(list)) => Some(list.iter().map(|(_, s)| s.clone()).collect()),
            (None, None) => None,
        }
    }
}

const COLUMNS: &str = "t.id, t.kind, t.name, t.preview, t.owner_id, a.kind, a.name, a.email, t.project_id, p.slug,
    t.permissions, t.all_projects, t.disabled, t.created_at, t.created_by_type, t.created_by_id, t.created_by_name,
    t.expires_at, t.revoked_at, t.rate_limit_per_minute, t.last_used_at, t.last_used_ip, t.last_used_user_agent,
    t.recent_ips, t.request_count, ct.preview";
/// `ct`: the token that created this one, for its preview in `created_by`.
const FROM: &str = "FROM tokens t LEFT JOIN accounts a ON a.id = t.owner_id LEFT JOIN projects p ON p.id = t.project_id
    LEFT JOIN tokens ct ON t.created_by_type = 'token' AND ct.id = t.created_by_id";

fn from_row(r: &Row) -> rusqlite::Result<(Token, bool)> {
    let kind: String = r.get(1)?;
    let owner_id: Option<String> = r.get(4)?;
    let owner = match owner_id {
        Some(id) => {
            let account_kind: Option<String> = r.get(5)?;
            let kind =
                if account_kind.as_deref() == Some("user") { ActorKind::User } else { ActorKind::ServiceAccount };
            Some(Actor { kind, id: Some(id), name: r.get(6)?, preview: None })
        }
        None => None,
    };
    let project = match r.get::<_, Option<i64>>(8)? {
        Some(id) => Some((id, r.get::<_, Option<String>>(9)?.unwrap_or_default())),
        None => None,
    };
    let perms: String = r.get(10)?;
    let recent: String = r.get(23)?;
    let token = Token {
        id: r.get(0)?,
        kind: kind.parse().unwrap_or(TokenKind::Key),
        name: r.get(2)?,
        preview: r.get(3)?,
        owner,
        project,
        permissions: PermissionSet::from_storage(&perms).unwrap_or_default(),
        projects: None,
        disabled: r.get(12)?,
        created_at: r.get(13)?,
        created_by: Actor {
            kind: ActorKind::parse(&r.get::<_, String>(14)?),
            id: r.get(15)?,
            name: r.get(16)?,
            preview: r.get(25)?,
        },
        expires_at: r.get(17)?,
        revoked_at: r.get(18)?,
        rate_limit_per_minute: r.get(19)?,
        last_used_at: r.get(20)?,
        last_used_ip: r.get(21)?,
        last_used_user_agent: r.get(22)?,
        recent_ips: serde_json::from_str(&recent).unwrap_or_default(),
        request_count: r.get(24)?,
    };
    let all_projects: bool = r.get(11)?;
    Ok((token, all_projects))
}

/// Fills in the project list of restricted PATs.
fn with_projects(conn: &Conn, (mut token, all): (Token, bool)) -> Result<Token, DbError> {
    if token.kind == TokenKind::Pat && !all {
        let mut stmt = conn.prepare_cached(
            "SELECT p.id, p.slug FROM token_projects tp JOIN projects p ON p.id = tp.project_id
             WHERE tp.token_id = ?1 ORDER BY p.slug",
        )?;
        let rows = stmt.query_map([&token.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        token.projects = Some(rows.collect::<Result<_, _>>()?);
    }
    Ok(token)
}

pub fn get(conn: &Conn, id: &str) -> Result<Option<Token>, DbError> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE t.id = ?1");
    match conn.prepare_cached(&sql)?.query_row([id], from_row).optional()? {
        Some(row) => Ok(Some(with_projects(conn, row)?)),
        None => Ok(None),
    }
}

pub fn by_hash(conn: &Conn, hash: &TokenHash) -> Result<Option<Token>, DbError> {
    let sql = format!("SELECT {COLUMNS} {FROM} WHERE t.hash = ?1");
    match conn.prepare_cached(&sql)?.query_row([hash.as_bytes().as_slice()], from_row).optional()? {
        Some(row) => Ok(Some(with_projects(conn, row)?)),
        None => Ok(None),
    }
}

/// Which tokens a listing shows.
#[derive(Debug, Default, Clone)]
pub struct TokenFilter {
    pub owner_id: Option<String>,
    pub kind: Option<TokenKind>,
    pub project_id: Option<i64>,
    /// Applied after loading (status depends on the clock).
    pub status: Option<TokenStatus>,
    /// `Some(ids)`: only tokens that reach no project outside `ids` (a
    /// caller restricted to those projects must not learn of, or act on,
    /// the others).
    pub within_projects: Option<Vec<i64>>,
}

impl Token {
    /// Whether every project this token can reach is in `ids`: a key's one
    /// project, or a PAT's list. A PAT for every project reaches beyond any
    /// list.
    pub fn reaches_only(&self, ids: &[i64]) -> bool {
        match (&self.project, &self.projects) {
            (Some((id, _)), _) => ids.contains(id),
            (None, Some(listed)) => listed.iter().all(|(id, _)| ids.contains(id)),
            (None, None) => false,
        }
    }
}

/// Newest first; `before` continues below an id (ids are UUID v7, time-ordered).
pub fn list(
    conn: &Conn,
    filter: &TokenFilter,
    before: Option<&str>,
    limit: u32,
    now: i64,
) -> Result<Vec<Token>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} {FROM}
         WHERE (?1 IS NULL OR t.owner_id = ?1) AND (?2 IS NULL OR t.kind = ?2)
           AND (?3 IS NULL OR t.project_id = ?3
                OR EXISTS (SELECT 1 FROM token_projects tp WHERE tp.token_id = t.id AND tp.project_id = ?3))
           AND (?4 IS NULL OR t.id < ?4)
         ORDER BY t.id DESC"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows =
        stmt.query_map(params![filter.owner_id, filter.kind.map(|k| k.as_str()), filter.project_id, before], from_row)?;
    let mut out = Vec::new();
    for row in rows {
        let token = with_projects(conn, row?)?;
        let visible = filter.within_projects.as_deref().is_none_or(|ids| token.reaches_only(ids));
        if visible && filter.status.is_none_or(|s| token.status(now) == s) {
            out.push(token);
            if out.len() >= limit as usize {
                break;
            }
        }
    }
    Ok(out)
}

pub struct NewToken<'a> {
    pub kind: TokenKind,
    pub name: &'a str,
    pub hash: &'a TokenHash,
    pub preview: &'a str,
    pub owner_id: Option<&'a str>,
    pub project_id: Option<i64>,
    pub permissions: PermissionSet,
    pub projects: Option<&'a [i64]>,
    pub created_at: i64,
    pub created_by: &'a Actor,
    pub expires_at: Option<i64>,
    pub rate_limit_per_minute: Option<u32>,
    /// The trusted publisher an OIDC token was exchanged through.
    pub publisher_id: Option<&'a str>,
}

pub fn insert(tx: &Tx, new: &NewToken) -> Result<String, DbError> {
    let id = uuid::Uuid::now_v7().to_string();
    tx.execute(
        "INSERT INTO tokens (id, kind, name, hash, preview, owner_id, project_id, permissions, all_projects, created_at,
                             created_by_type, created_by_id, created_by_name, expires_at, rate_limit_per_minute,
                             publisher_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            id,
            new.kind.as_str(),
            new.name,
            new.hash.as_bytes().as_slice(),
            new.preview,
            new.owner_id,
            new.project_id,
            new.permissions.to_storage(),
            new.projects.is_none(),
            new.created_at,
            new.created_by.kind.as_str(),
            new.created_by.id,
            new.created_by.name,
            new.expires_at,
            new.rate_limit_per_minute,
            new.publisher_id,
        ],
    )?;
    if let Some(projects) = new.projects {
        let mut stmt =
            tx.prepare_cached("INSERT OR IGNORE INTO token_projects (token_id, project_id) VALUES (?1, ?2)")?;
        for project in projects {
            stmt.execute(params![id, project])?;
        }
    }
    Ok(id)
}

/// Revokes at `at` (now, or the end of a rotation's grace period) unless already revoked earlier.
pub fn revoke(tx: &Tx, id: &str, at: i64, reason: &str) -> Result<(), DbError> {
    tx.execute(
        "UPDATE tokens SET revoked_at = ?2, revoke_reason = ?3 WHERE id = ?1 AND (revoked_at IS NULL OR revoked_at > ?2)",
        params![id, at, reason],
    )?;
    Ok(())
}

/// Revokes every live token an account owns (deactivation); returns their ids.
pub fn revoke_all_of_owner(tx: &Tx, owner_id: &str, now: i64) -> Result<Vec<String>, DbError> {
    let mut stmt =
        tx.prepare_cached("SELECT id FROM tokens WHERE owner_id = ?1 AND (revoked_at IS NULL OR revoked_at > ?2)")?;
    let ids: Vec<String> = stmt.query_map(params![owner_id, now], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for id in &ids {
        revoke(tx, id, now, "owner_deactivated")?;
    }
    Ok(ids)
}

pub fn set_disabled(tx: &Tx, id: &str, disabled: bool) -> Result<(), DbError> {
    tx.execute("UPDATE tokens SET disabled = ?2 WHERE id = ?1", params![id, disabled])?;
    Ok(())
}

pub fn set_name(tx: &Tx, id: &str, name: &str) -> Result<(), DbError> {
    tx.execute("UPDATE tokens SET name = ?2 WHERE id = ?1", params![id, name])?;
    Ok(())
}

pub fn set_permissions(tx: &Tx, id: &str, permissions: PermissionSet) -> Result<(), DbError> {
    tx.execute("UPDATE tokens SET permissions = ?2 WHERE id = ?1", params![id, permissions.to_storage()])?;
    Ok(())
}

pub fn set_rate_limit(tx: &Tx, id: &str, limit: Option<u32>) -> Result<(), DbError> {
    tx.execute("UPDATE tokens SET rate_limit_per_minute = ?2 WHERE id = ?1", params![id, limit])?;
    Ok(())
}

pub fn delete(tx: &Tx, id: &str) -> Result<(), DbError> {
    tx.execute("DELETE FROM tokens WHERE id = ?1", [id])?;
    Ok(())
}

/// Deletes exchanged OIDC tokens that expired before `cutoff`, at most
/// `batch` of them: minutes-long tokens would otherwise pile up by the
/// thousand. The audit log and the publishers' exchange lists keep the record.
pub fn delete_expired_oidc(tx: &Tx, cutoff: i64, batch: u32) -> Result<usize, DbError> {
    Ok(tx.execute(
        "DELETE FROM tokens WHERE id IN (
            SELECT id FROM tokens WHERE kind = 'oidc' AND expires_at < ?1 LIMIT CAST(?2 AS INTEGER))",
        params![cutoff, batch],
    )?)
}

/// Personal tokens and keys, live and not rotated, that expire within 7
/// days of `now` and have not had the warning due for them: (id, the
/// horizon in days, 1 within a day of expiry, else 7). At most `batch`.
pub fn expiring_unwarned(conn: &Conn, now: i64, batch: u32) -> Result<Vec<(String, u32)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, days FROM (
             SELECT t.id, CASE WHEN t.expires_at - ?1 <= 86400 THEN 1 ELSE 7 END AS days
             FROM tokens t
             WHERE t.kind IN ('pat', 'key') AND t.revoked_at IS NULL
               AND t.expires_at > ?1 AND t.expires_at <= ?1 + 7 * 86400) due
         WHERE NOT EXISTS (SELECT 1 FROM token_warnings w WHERE w.token_id = due.id AND w.days = due.days)
         LIMIT CAST(?2 AS INTEGER)",
    )?;
    let rows = stmt.query_map(params![now, batch], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records that token `id` was warned `days` before its expiry.
pub fn record_warning(tx: &Tx, id: &str, days: u32, now: i64) -> Result<(), DbError> {
    tx.execute(
        "INSERT OR IGNORE INTO token_warnings (token_id, days, at) VALUES (?1, ?2, ?3)",
        params![id, days, now],
    )?;
    Ok(())
}

/// Live tokens whose last use (or creation, if never used) is before `cutoff`.
pub fn unused_since(conn: &Conn, cutoff: i64, now: i64) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM tokens WHERE (revoked_at IS NULL OR revoked_at > ?2) AND (expires_at IS NULL OR expires_at > ?2)
           AND coalesce(last_used_at, created_at) < ?1",
    )?;
    let rows = stmt.query_map(params![cutoff, now], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Applies buffered "last used" facts in the caller's transaction.
pub fn record_use(
    tx: &Tx,
    id: &str,
    at: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
    count: u64,
    new_ips_most_recent_first: &[String],
) -> Result<(), DbError> {
    let stored: Option<String> =
        tx.query_row("SELECT recent_ips FROM tokens WHERE id = ?1", [id], |r| r.get(0)).optional()?;
    let Some(stored) = stored else { return Ok(()) };
    let stored: Vec<String> = serde_json::from_str(&stored).unwrap_or_default();
    let merged = crate::domain::usage::merge_recent_ips(&stored, new_ips_most_recent_first);
    tx.execute(
        "UPDATE tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2),
                last_used_ip = CASE WHEN ?2 >= coalesce(last_used_at, 0) THEN ?3 ELSE last_used_ip END,
                last_used_user_agent = CASE WHEN ?2 >= coalesce(last_used_at, 0) THEN ?4 ELSE last_used_user_agent END,
                request_count = request_count + ?5, recent_ips = ?6
         WHERE id = ?1",
        params![id, at, ip, user_agent, count as i64, serde_json::to_string(&merged).unwrap_or_else(|_| "[]".into())],
    )?;
    Ok(())
}

/// The current auth epoch (bumped by triggers on every auth-relevant change).
pub fn auth_epoch(conn: &Conn) -> Result<i64, DbError> {
    Ok(conn.prepare_cached("SELECT n FROM auth_epoch WHERE id = 1")?.query_row([], |r| r.get(0))?)
}
