//! `proctor token create` and `proctor key create`: print only the secret on
//! stdout, for scripts and a pipeline's first setup.

use super::{CliError, KeyCommand, TokenCommand};
use crate::auth::{Principal, ProjectScope};
use crate::config::Config;
use crate::db;
use crate::domain::audit::AuditContext;
use crate::domain::names::DisplayName;
use crate::domain::permission::PermissionSet;
use crate::domain::policy::ExpiryRequest;
use crate::ops::tokens::{self as ops, KeyRequest, PatRequest};
use crate::state::AppState;

fn invalid(e: impl std::fmt::Display) -> CliError {
    CliError::Message(e.to_string())
}

fn permissions(list: &[String]) -> Result<PermissionSet, CliError> {
    PermissionSet::parse(list.iter().map(|s| s.trim())).map_err(invalid)
}

fn expiry(days: Option<u32>, never: bool) -> ExpiryRequest {
    match (days, never) {
        (_, true) => ExpiryRequest::Never,
        (Some(d), false) => ExpiryRequest::InDays(d),
        (None, false) => ExpiryRequest::Default,
    }
}

pub fn run_token(config: &Config, cmd: TokenCommand) -> Result<(), CliError> {
    let state = AppState::open(config.clone())?;
    let ctx = AuditContext::cli();
    let TokenCommand::Create { owner, name, permissions: perms, projects, expires_in_days, no_expiry } = cmd;
    let req = PatRequest {
        name: DisplayName::parse(&name).map_err(invalid)?,
        permissions: permissions(&perms)?,
        projects: if projects.is_empty() { None } else { Some(projects) },
        expiry: expiry(expires_in_days, no_expiry),
    };
    let issued = state.db.write_blocking(|tx| {
        let account = match db::accounts::find_user_by_email(tx, &owner.to_lowercase())? {
            Some(a) => a,
            None => db::accounts::find_service_account(tx, &owner)?.ok_or_else(|| {
                crate::error::AppError::not_found(format!(
                    "No user with email {owner:?} and no service account named {owner:?}."
                ))
            })?,
        };
        if !account.active {
            return Err(crate::error::AppError::conflict("account_inactive", "The owner is deactivated."));
        }
        // The token may hold at most what its owner's role holds.
        let by = Principal {
            actor: ctx.actor.clone(),
            account_id: Some(account.id.clone()),
            permissions: db::roles::permissions(tx, &account.role)?.unwrap_or_default(),
            projects: ProjectScope::All,
        };
        Ok(ops::create_pat(tx, &state.key, &ctx, &by, &account.id, req)?)
    })?;
    eprintln!("created token {} ({}) for {owner}", issued.token.preview, issued.token.id);
    println!("{}", issued.secret.expose_secret());
    Ok(())
}

pub fn run_key(config: &Config, cmd: KeyCommand) -> Result<(), CliError> {
    let state = AppState::open(config.clone())?;
    let ctx = AuditContext::cli();
    let KeyCommand::Create { project, name, permissions: perms, expires_in_days } = cmd;
    let req = KeyRequest {
        name: DisplayName::parse(&name).map_err(invalid)?,
        permissions: permissions(&perms)?,
        expiry: expiry(expires_in_days, false),
    };
    // The operator at the console holds every permission.
    let by = Principal {
        actor: ctx.actor.clone(),
        account_id: None,
        permissions: PermissionSet::all(),
        projects: ProjectScope::All,
    };
    let issued = state.db.write_blocking(|tx| ops::create_key(tx, &state.key, &ctx, &by, &project, req))?;
    eprintln!("created key {} ({}) for project {project}", issued.token.preview, issued.token.id);
    println!("{}", issued.secret.expose_secret());
    Ok(())
}
