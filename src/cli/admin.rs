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
    if let AdminCommand::SendTestMail { to, smtp_url, mail_from, extra_ca_file } = &cmd {
        let url = smtp_url.clone().or(config.smtp_url.clone());
        let from = mail_from.clone().or(config.mail_from.clone());
        let ca = extra_ca_file.clone().or(config.extra_ca_file.clone());
        return send_test_mail(url.as_deref(), from.as_deref(), ca.as_deref(), to);
    }
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
        AdminCommand::SendTestMail { .. } => unreachable!("handled above"),
    }
    Ok(())
}

/// Sends one mail through `url` to `to` now (not through the outbox), and
/// says whether the SMTP server took it.
fn send_test_mail(
    url: Option<&str>,
    from: Option<&str>,
    extra_ca_file: Option<&std::path::Path>,
    to: &str,
) -> Result<(), CliError> {
    let url = url.ok_or_else(|| invalid("no SMTP server: give --smtp-url or PROCTOR_SMTP_URL"))?;
    let password = std::env::var("PROCTOR_SMTP_PASSWORD").ok();
    let mailer = crate::outbound::Mailer::new(url, password.as_deref(), from, extra_ca_file).map_err(invalid)?;
    let body = "This is a test mail from Proctor: its mail settings work.\n\n\
                Expiry warnings for access tokens will come from this sender.\n";
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(mailer.send(to, "[Proctor] Test mail", body)).map_err(invalid)?;
    eprintln!("sent a test mail to {to}");
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
