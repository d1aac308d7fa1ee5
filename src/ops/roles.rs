//! Custom roles: create, change permissions, delete.

use serde_json::json;

use super::ensure_within;
use crate::db::Tx;
use crate::db::{audit, roles, roles::Role};
use crate::domain::audit::{AuditContext, Target};
use crate::domain::names::RoleName;
use crate::domain::permission::PermissionSet;
use crate::ops::OpsError;

fn target(name: &str) -> Target {
    Target::new("role", name, name)
}

/// `held`: what the actor holds (a role can't grant more than its creator has).
pub fn create(
    tx: &Tx,
    ctx: &AuditContext,
    held: PermissionSet,
    name: &RoleName,
    permissions: PermissionSet,
) -> Result<Role, OpsError> {
    ensure_within(permissions, held)?;
    let role = roles::insert(tx, name.as_str(), permissions)?;
    audit::record(tx, ctx, "role.created", Some(&target(name.as_str())), json!({"permissions": permissions.names()}))?;
    Ok(role)
}

pub fn update(
    tx: &Tx,
    ctx: &AuditContext,
    held: PermissionSet,
    name: &str,
    permissions: PermissionSet,
) -> Result<Role, OpsError> {
    ensure_within(permissions, held)?;
    let before = roles::update(tx, name, permissions)?;
    ensure_within(before, held)?;
    audit::record(
        tx,
        ctx,
        "role.updated",
        Some(&target(name)),
        json!({"from": before.names(), "to": permissions.names()}),
    )?;
    Ok(Role { name: name.to_string(), permissions, builtin: false })
}

pub fn delete(tx: &Tx, ctx: &AuditContext, name: &str) -> Result<(), OpsError> {
    roles::delete(tx, name)?;
    Ok(audit::record(tx, ctx, "role.deleted", Some(&target(name)), json!({}))?)
}
