//! Roles: the built-in ones come from code, custom ones from the `roles` table.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::db::{Conflict, Conn, DbError, Missing, Tx};
use crate::domain::permission::{builtin_role, PermissionSet, BUILTIN_ROLES};
use crate::domain::time::unix_now;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Role {
    pub name: String,
    #[serde(serialize_with = "serialize_permissions")]
    #[schema(value_type = Vec<String>)]
    pub permissions: PermissionSet,
    pub builtin: bool,
}

pub(crate) fn serialize_permissions<S: serde::Serializer>(p: &PermissionSet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.names())
}

/// The permissions a role grants **now**, or `None` when no such role exists.
pub fn permissions(conn: &Conn, name: &str) -> Result<Option<PermissionSet>, DbError> {
    if let Some(set) = builtin_role(name) {
        return Ok(Some(set));
    }
    let stored: Option<String> = conn
        .prepare_cached("SELECT permissions FROM roles WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    match stored {
        Some(s) => Ok(Some(PermissionSet::from_storage(&s).map_err(DbError::internal)?)),
        None => Ok(None),
    }
}

/// Built-in roles first, then custom ones by name.
pub fn list(conn: &Conn) -> Result<Vec<Role>, DbError> {
    let mut roles: Vec<Role> = BUILTIN_ROLES
        .iter()
        .map(|name| Role { name: name.to_string(), permissions: builtin_role(name).unwrap_or_default(), builtin: true })
        .collect();
    let mut stmt = conn.prepare_cached("SELECT name, permissions FROM roles ORDER BY name")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (name, perms) = row?;
        let permissions = PermissionSet::from_storage(&perms).map_err(DbError::internal)?;
        roles.push(Role { name, permissions, builtin: false });
    }
    Ok(roles)
}

/// How many accounts (users and service accounts) hold role `name`.
pub fn holders(conn: &Conn, name: &str) -> Result<i64, DbError> {
    Ok(conn.prepare_cached("SELECT count(*) FROM accounts WHERE role = ?1")?.query_row([name], |r| r.get(0))?)
}

pub fn get(conn: &Conn, name: &str) -> Result<Option<Role>, DbError> {
    Ok(permissions(conn, name)?.map(|permissions| Role {
        name: name.to_string(),
        permissions,
        builtin: builtin_role(name).is_some(),
    }))
}

pub fn insert(tx: &Tx, name: &str, permissions: PermissionSet) -> Result<Role, DbError> {
    if builtin_role(name).is_some() || permissions_exists(tx, name)? {
        return Err(DbError::Conflict(Conflict::RoleName(name.to_string())));
    }
    let now = unix_now();
    tx.execute(
        "INSERT INTO roles (name, permissions, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![name, permissions.to_storage(), now],
    )?;
    Ok(Role { name: name.to_string(), permissions, builtin: false })
}

fn permissions_exists(conn: &Conn, name: &str) -> Result<bool, DbError> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM roles WHERE name = ?1)", [name], |r| r.get(0))?)
}

/// Replaces a custom role's permissions; returns the previous set.
pub fn update(tx: &Tx, name: &str, permissions: PermissionSet) -> Result<PermissionSet, DbError> {
    let before = permissions_of_custom(tx, name)?;
    tx.execute(
        "UPDATE roles SET permissions = ?2, updated_at = ?3 WHERE name = ?1",
        params![name, permissions.to_storage(), unix_now()],
    )?;
    Ok(before)
}

/// Deletes a custom role nobody holds.
pub fn delete(tx: &Tx, name: &str) -> Result<(), DbError> {
    permissions_of_custom(tx, name)?;
    let holders = holders(tx, name)?;
    if holders > 0 {
        return Err(DbError::Conflict(Conflict::RoleInUse { role: name.to_string(), holders }));
    }
    tx.execute("DELETE FROM roles WHERE name = ?1", [name])?;
    Ok(())
}

/// A custom role's permissions; built-in roles are read-only (409), unknown ones 404.
fn permissions_of_custom(conn: &Conn, name: &str) -> Result<PermissionSet, DbError> {
    if builtin_role(name).is_some() {
        return Err(DbError::Conflict(Conflict::BuiltinRole(name.to_string())));
    }
    permissions(conn, name)?.ok_or_else(|| DbError::NotFound(Missing::Role(name.to_string())))
}
