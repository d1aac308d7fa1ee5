//! Offline commands on the data directory: `admin create-user`,
//! `admin create-service-account`, `project create`. They write through the
//! same operations as the server, audited as the CLI, and the running server
//! sees the result on its next request.

use super::{read_stdin_line, AdminCommand, CliError, ProjectCommand};
use crate::config::Config;
use crate::domain::audit::AuditContext;
use crate::domain::names::{parse_branch, DisplayName, ProjectSlug};
use crate::domain::new_user::NewUser;
use crate::domain::password;
use crate::ops::accounts::Granter;
use crate::state::AppState;

fn invalid(e: impl std::fmt::Display) -> CliError {
    CliError::Message(e.to_string())
}

pub fn run_admin(config: &Config, cmd: AdminCommand) -> Result<(), CliError> {
    let state = AppState::open(config.clone())?;
    let ctx = AuditContext::cli();
    let by = Granter { ctx: &ctx, permissions: None };
    match cmd {
        AdminCommand::CreateUser { email, name, role, password_stdin } => {
            let (password, generated) =
                if password_stdin { (read_stdin_line()?, false) } else { (password::generate(), true) };
            let NewUser { email, name, password } = NewUser::parse(&email, &name, password).map_err(invalid)?;
            let hash = password::hash(&password);
            let account = state
                .db
                .write_blocking(|tx| crate::ops::accounts::create_user(tx, &by, &email, &name, &role, &hash))?;
            eprintln!("created user {} ({}) with role {}", account.email.unwrap_or_default(), account.id, account.role);
            if generated {
                println!("{password}");
            }
        }
        AdminCommand::CreateServiceAccount { name, role } => {
            let name = DisplayName::parse(&name).map_err(invalid)?;
            let account =
                state.db.write_blocking(|tx| crate::ops::accounts::create_service_account(tx, &by, &name, &role))?;
            eprintln!("created service account {} with role {}", account.name, account.role);
            println!("{}", account.id);
        }
    }
    Ok(())
}

pub fn run_project(config: &Config, cmd: ProjectCommand) -> Result<(), CliError> {
    let state = AppState::open(config.clone())?;
    let ctx = AuditContext::cli();
    match cmd {
        ProjectCommand::Create { slug, name, default_branch } => {
            let slug = ProjectSlug::parse(&slug).map_err(invalid)?;
            let name = DisplayName::parse(&name).map_err(invalid)?;
            let branch = parse_branch(&default_branch).map_err(invalid)?;
            let project =
                state.db.write_blocking(|tx| crate::ops::projects::create(tx, &ctx, &slug, &name, &branch))?;
            eprintln!("created project {} ({})", project.slug, project.name);
        }
    }
    Ok(())
}
