//! Users and service accounts: create, rename, change role, (de)activate,
//! reset a password.

use serde_json::json;

use super::ensure_within;
use crate::db::accounts::{self, Account, AccountKind, NewAccount};
use crate::db::Tx;
use crate::db::{audit, roles};
use crate::domain::audit::{AuditContext, Target};
use crate::domain::names::{DisplayName, Email};
use crate::domain::permission::PermissionSet;
use crate::ops::{OpsError, Refusal};

fn target(a: &Account) -> Target {
    let name = a.email.clone().unwrap_or_else(|| a.name.clone());
    Target::new(a.kind.as_str(), a.id.clone(), name)
}

/// The permissions of `role`, or 422 when no such role exists.
fn role_permissions(tx: &Tx, role: &str) -> Result<PermissionSet, OpsError> {
    roles::permissions(tx, role)?.ok_or_else(|| Refusal::UnknownRole(role.to_string()).into())
}

/// Who acts, and what they may grant (`None`: the offline CLI, which may grant anything).
pub struct Granter<'a> {
    pub ctx: &'a AuditContext,
    pub permissions: Option<PermissionSet>,
}

impl Granter<'_> {
    fn check_role(&self, tx: &Tx, role: &str) -> Result<(), OpsError> {
        let granted = role_permissions(tx, role)?;
        match self.permissions {
            Some(held) => ensure_within(granted, held),
            None => Ok(()),
        }
    }

    /// Nobody acts on an account that holds more than they do: renaming,
    /// (de)activating, changing the role of or resetting the password of an
    /// account all need every permission of its current role. (Deactivating
    /// an admin ends its sessions and revokes its tokens for good; resetting
    /// its password is taking it over.)
    fn check_may_act_on(&self, tx: &Tx, account: &Account) -> Result<(), OpsError> {
        let Some(held) = self.permissions else { return Ok(()) };
        let holds = roles::permissions(tx, &account.role)?.unwrap_or_default();
        match holds.first_missing(held) {
            Some(permission) => Err(Refusal::AccountHoldsMore {
                account: account.email.clone().unwrap_or_else(|| account.name.clone()),
                permission,
            }
            .into()),
            None => Ok(()),
        }
    }
}

pub fn create_user(
    tx: &Tx,
    by: &Granter,
    email: &Email,
    name: &DisplayName,
    role: &str,
    password_hash: &str,
) -> Result<Account, OpsError> {
    by.check_role(tx, role)?;
    let account = accounts::insert(
        tx,
        &NewAccount {
            kind: AccountKind::User,
            email: Some(email.as_str()),
            name: name.as_str(),
            role,
            password_hash: Some(password_hash),
        },
    )?;
    audit::record(tx, by.ctx, "user.created", Some(&target(&account)), json!({"role": role, "name": name.as_str()}))?;
    Ok(account)
}

pub fn create_service_account(tx: &Tx, by: &Granter, name: &DisplayName, role: &str) -> Result<Account, OpsError> {
    by.check_role(tx, role)?;
    let account = accounts::insert(
        tx,
        &NewAccount { kind: AccountKind::ServiceAccount, email: None, name: name.as_str(), role, password_hash: None },
    )?;
    audit::record(tx, by.ctx, "service_account.created", Some(&target(&account)), json!({"role": role}))?;
    Ok(account)
}

/// The changes a PATCH or a form may ask for; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct AccountChanges {
    pub name: Option<DisplayName>,
    pub role: Option<String>,
    pub active: Option<bool>,
}

/// Applies changes to an account of `kind`; each change is audited.
pub fn update(
    tx: &Tx,
    by: &Granter,
    actor_account: Option<&str>,
    id: &str,
    kind: AccountKind,
    changes: AccountChanges,
) -> Result<Account, OpsError> {
    let before = accounts::get_kind(tx, id, kind)?;
    by.check_may_act_on(tx, &before)?;
    let noun = kind.as_str();
    if let Some(name) = &changes.name {
        if name.as_str() != before.name {
            accounts::set_name(tx, id, name.as_str())?;
            audit::record(
                tx,
                by.ctx,
                &format!("{noun}.updated"),
                Some(&target(&before)),
                json!({"name": name.as_str()}),
            )?;
        }
    }
    if let Some(role) = &changes.role {
        if *role != before.role {
            by.check_role(tx, role)?;
            if kind == AccountKind::User
                && before.active
                && !role_permissions(tx, role)?.contains(crate::domain::permission::Permission::UsersAdmin)
            {
                accounts::ensure_another_user_admin(tx, id)?;
            }
            accounts::set_role(tx, id, role)?;
            let action = if kind == AccountKind::User { "user.role_changed" } else { "service_account.role_changed" };
            audit::record(tx, by.ctx, action, Some(&target(&before)), json!({"from": before.role, "to": role}))?;
        }
    }
    if let Some(active) = changes.active {
        if active != before.active {
            if !active {
                if actor_account == Some(id) {
                    return Err(Refusal::DeactivateSelf.into());
                }
                if kind == AccountKind::User {
                    accounts::ensure_another_user_admin(tx, id)?;
                }
            }
            accounts::set_active(tx, id, active)?;
            if !active {
                super::tokens::revoke_all_of_owner(tx, by.ctx, id)?;
            }
            let action = format!("{noun}.{}", if active { "reactivated" } else { "deactivated" });
            audit::record(tx, by.ctx, &action, Some(&target(&before)), json!({}))?;
        }
    }
    Ok(accounts::get_kind(tx, id, kind)?)
}

/// Sets a new password (already hashed) and ends the user's sessions.
pub fn reset_password(tx: &Tx, by: &Granter, id: &str, password_hash: &str) -> Result<(), OpsError> {
    let account = accounts::get_kind(tx, id, AccountKind::User)?;
    by.check_may_act_on(tx, &account)?;
    accounts::set_password_hash(tx, id, password_hash)?;
    crate::db::sessions::delete_for_account(tx, id)?;
    audit::record(tx, by.ctx, "user.password_reset", Some(&target(&account)), json!({}))?;
    Ok(())
}
