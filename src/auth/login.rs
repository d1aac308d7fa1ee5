//! Signing in with an email and a password, and the first-run setup that
//! creates the first admin. The throttle and the password check happen here;
//! the rows they write (session, audit) are `ops::sessions`' and
//! `ops::accounts`'.

use std::time::Instant;

use super::client::ClientInfo;
use crate::db::{self, accounts::Account};
use crate::domain::audit::Actor;
use crate::domain::new_user::NewUser;
use crate::domain::password;
use crate::error::AppError;
use crate::ops::accounts::Granter;
use crate::ops::{self, sessions};
use crate::state::AppState;

/// How a login attempt ended (a throttled one is an error: 429).
pub enum Login {
    /// Signed in: the new session's cookie value.
    SignedIn(String),
    /// Wrong email or password, or a deactivated account (one answer for all).
    Refused,
}

/// Checks `email` and `password` from `client`: throttled attempts are 429,
/// every attempt is audited, and an unknown email costs one hash like a
/// known one, so that timing does not tell which emails exist.
pub async fn log_in(state: &AppState, email: &str, password: String, client: &ClientInfo) -> Result<Login, AppError> {
    let email = email.trim().to_lowercase();
    let ctx = client.audit(Actor::system());
    if let Err(retry_after) = state.throttle.check(&email, client.ip.as_deref(), Instant::now()) {
        let (ctx, email) = (ctx.clone(), email.clone());
        state.db.write(move |tx| sessions::refuse(tx, &ctx, &email, "throttled")).await?;
        return Err(AppError::RateLimited { retry_after });
    }
    match verify(state, &email, password).await? {
        Some(account) => {
            state.throttle.record_success(&email);
            let value = state.db.write(move |tx| sessions::start(tx, &ctx, &account, Some(&email))).await?;
            Ok(Login::SignedIn(value))
        }
        None => {
            state.throttle.record_failure(&email, client.ip.as_deref(), Instant::now());
            state.db.write(move |tx| sessions::refuse(tx, &ctx, &email, "bad_credentials")).await?;
            Ok(Login::Refused)
        }
    }
}

/// The active account of `email` if `password` is its password: looked up
/// and verified on the password pool, off the executor.
async fn verify(state: &AppState, email: &str, password: String) -> Result<Option<Account>, AppError> {
    let db = state.db.clone();
    let email = email.to_string();
    state
        .passwords
        .run(move |memory| -> Result<Option<Account>, AppError> {
            let found = db.read_blocking(|c| db::accounts::for_login(c, &email))?;
            Ok(match found {
                Some((account, hash)) => {
                    let ok = password::verify_in(&password, &hash, memory);
                    (ok && account.active).then_some(account)
                }
                None => {
                    password::verify_dummy_in(&password, memory);
                    None
                }
            })
        })
        .await?
}

/// Creates the first admin from the setup form and signs them in; returns
/// the session's cookie value. 404 once any user exists (checked again in
/// the write, so two racing setups make one admin).
pub async fn set_up(state: &AppState, new: NewUser, client: &ClientInfo) -> Result<String, AppError> {
    let NewUser { email, name, password } = new;
    let hash = state.passwords.hash(password).await?;
    let ctx = client.audit(Actor::system());
    let (account, value) = state
        .db
        .write(move |tx| {
            if db::accounts::any_user_exists(tx)? {
                return Err(setup_complete());
            }
            let by = Granter { ctx: &ctx, permissions: None };
            let account = ops::accounts::create_user(tx, &by, &email, &name, "admin", &hash)?;
            let value = sessions::start(tx, &ctx, &account, None)?;
            Ok((account, value))
        })
        .await?;
    log::info!("first admin created: {}", account.id);
    Ok(value)
}

/// The answer to setup once a user exists.
pub fn setup_complete() -> AppError {
    AppError::not_found("Setup is complete.")
}
