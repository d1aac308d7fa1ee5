//! Users and service accounts (one table, `kind` tells them apart).

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::db::{Conflict, Conn, DbError, Missing, Tx};
use crate::domain::audit::ActorKind;
use crate::domain::permission::Permission;
use crate::domain::time::unix_now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    User,
    ServiceAccount,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::ServiceAccount => "service_account",
        }
    }

    pub fn actor_kind(self) -> ActorKind {
        match self {
            AccountKind::User => ActorKind::User,
            AccountKind::ServiceAccount => ActorKind::ServiceAccount,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::ServiceAccount => "service account",
        }
    }
}

/// A user (`email` set) or a service account (`email` none).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: String,
    #[serde(skip)]
    pub kind: AccountKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub name: String,
    pub role: String,
    pub active: bool,
    #[serde(serialize_with = "crate::db::serialize_unix")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

const COLUMNS: &str = "id, kind, email, name, role, active, created_at";

fn from_row(r: &Row) -> rusqlite::Result<Account> {
    let kind: String = r.get(1)?;
    Ok(Account {
        id: r.get(0)?,
        kind: if kind == "user" { AccountKind::User } else { AccountKind::ServiceAccount },
        email: r.get(2)?,
        name: r.get(3)?,
        role: r.get(4)?,
        active: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub struct NewAccount<'a> {
    pub kind: AccountKind,
    pub email: Option<&'a str>,
    pub name: &'a str,
    pub role: &'a str,
    pub password_hash: Option<&'a str>,
}

/// Inserts an account; the role must already have been checked to exist.
pub fn insert(tx: &Tx, new: &NewAccount) -> Result<Account, DbError> {
    let account = Account {
        id: uuid::Uuid::now_v7().to_string(),
        kind: new.kind,
        email: new.email.map(str::to_string),
        name: new.name.to_string(),
        role: new.role.to_string(),
        active: true,
        created_at: unix_now(),
    };
    let inserted = tx.execute(
        "INSERT INTO accounts (id, kind, email, name, password_hash, role, active, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7)",
        params![
            account.id,
            new.kind.as_str(),
            account.email,
            account.name,
            new.password_hash,
            account.role,
            account.created_at
        ],
    );
    match inserted {
        Ok(_) => Ok(account),
        Err(e) if super::is_unique_violation(&e) => Err(DbError::Conflict(Conflict::Email)),
        Err(e) => Err(e.into()),
    }
}

pub fn get(conn: &Conn, id: &str) -> Result<Option<Account>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], from_row).optional()?)
}

/// An account of the given kind, or a 404 naming it.
pub fn get_kind(conn: &Conn, id: &str, kind: AccountKind) -> Result<Account, DbError> {
    get(conn, id)?
        .filter(|a| a.kind == kind)
        .ok_or_else(|| DbError::NotFound(Missing::Account { noun: kind.noun(), id: id.to_string() }))
}

/// The user with this email and their password hash (for login).
pub fn for_login(conn: &Conn, email: &str) -> Result<Option<(Account, String)>, DbError> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM accounts WHERE email = ?1 AND kind = 'user'");
    Ok(conn.prepare_cached(&sql)?.query_row([email], |r| Ok((from_row(r)?, r.get(7)?))).optional()?)
}

pub fn find_user_by_email(conn: &Conn, email: &str) -> Result<Option<Account>, DbError> {
    Ok(for_login(conn, email)?.map(|(a, _)| a))
}

/// Accounts of one kind, oldest first.
pub fn list(conn: &Conn, kind: AccountKind) -> Result<Vec<Account>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE kind = ?1 ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([kind.as_str()], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn any_user_exists(conn: &Conn) -> Result<bool, DbError> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM accounts WHERE kind = 'user')", [], |r| r.get(0))?)
}

pub fn set_name(tx: &Tx, id: &str, name: &str) -> Result<(), DbError> {
    tx.execute("UPDATE accounts SET name = ?2 WHERE id = ?1", params![id, name])?;
    Ok(())
}

pub fn set_role(tx: &Tx, id: &str, role: &str) -> Result<(), DbError> {
    tx.execute("UPDATE accounts SET role = ?2 WHERE id = ?1", params![id, role])?;
    Ok(())
}

pub fn set_password_hash(tx: &Tx, id: &str, hash: &str) -> Result<(), DbError> {
    tx.execute("UPDATE accounts SET password_hash = ?2 WHERE id = ?1 AND kind = 'user'", params![id, hash])?;
    Ok(())
}

/// Activates or deactivates; deactivation also ends the account's sessions.
pub fn set_active(tx: &Tx, id: &str, active: bool) -> Result<(), DbError> {
    tx.execute("UPDATE accounts SET active = ?2 WHERE id = ?1", params![id, active])?;
    if !active {
        super::sessions::delete_for_account(tx, id)?;
    }
    Ok(())
}

/// Refuses a change that would leave no active user able to manage users
/// (the instance would be locked for good).
pub fn ensure_another_user_admin(tx: &Tx, except_id: &str) -> Result<(), DbError> {
    let mut stmt = tx.prepare_cached("SELECT role FROM accounts WHERE kind = 'user' AND active = 1 AND id != ?1")?;
    let roles = stmt.query_map([except_id], |r| r.get::<_, String>(0))?;
    for role in roles {
        let role = role?;
        if super::roles::permissions(tx, &role)?.is_some_and(|p| p.contains(Permission::UsersAdmin)) {
            return Ok(());
        }
    }
    Err(DbError::Conflict(Conflict::LastAdmin))
}

/// The emails of the active users whose role may manage users: who hears
/// of a service account's or a project key's coming expiry.
pub fn user_admin_emails(conn: &Conn) -> Result<Vec<String>, DbError> {
    let mut stmt = conn
        .prepare_cached("SELECT email, role FROM accounts WHERE kind = 'user' AND active = 1 AND email IS NOT NULL")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (email, role) = row?;
        if super::roles::permissions(conn, &role)?.is_some_and(|p| p.contains(Permission::UsersAdmin)) {
            out.push(email);
        }
    }
    Ok(out)
}

/// A service account by id or by name (names are not unique: the oldest wins).
pub fn find_service_account(conn: &Conn, name_or_id: &str) -> Result<Option<Account>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM accounts WHERE kind = 'service_account' AND (id = ?1 OR name = ?1) ORDER BY created_at LIMIT 1"
    );
    Ok(conn.prepare_cached(&sql)?.query_row([name_or_id], from_row).optional()?)
}
