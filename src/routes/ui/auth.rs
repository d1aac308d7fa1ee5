//! `/`, first-run `/setup`, `/login` and `POST /logout`.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::{html, see_other, CsrfOnly};
use crate::auth::client::ClientInfo;
use crate::auth::session::{self, MaybeSession, PreSession};
use crate::db;
use crate::domain::audit::{Actor, Target};
use crate::domain::new_user::NewUser;
use crate::domain::password;
use crate::domain::secrets::redact_owned;
use crate::error::{AppError, PageError, PageResult};
use crate::ops::accounts::Granter;
use crate::state::AppState;
use crate::views::{LoginPage, SetupPage};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/setup", web::get().to(setup_form))
        .route("/setup", web::post().to(setup_submit))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login_submit))
        .route("/logout", web::post().to(logout));
}

async fn any_user(state: &AppState) -> Result<bool, AppError> {
    Ok(state.db.read(db::accounts::any_user_exists).await?)
}

async fn home(state: web::Data<AppState>, session: MaybeSession) -> PageResult<HttpResponse> {
    Ok(match session.0 {
        Some(_) => see_other("/projects"),
        None if !any_user(&state).await? => see_other("/setup"),
        None => see_other("/login"),
    })
}

/// Renders a pre-session page, attaching the pre-session cookie when new.
fn pre_page(page: &impl Template, pre: &PreSession, status: StatusCode) -> PageResult<HttpResponse> {
    let mut builder = HttpResponse::build(status);
    if let Some(cookie) = &pre.new_cookie {
        builder.cookie(cookie.clone());
    }
    html(builder, page)
}

async fn setup_form(state: web::Data<AppState>, pre: PreSession) -> PageResult<HttpResponse> {
    if any_user(&state).await? {
        return Err(AppError::not_found("Setup is complete.").into());
    }
    let page = SetupPage { csrf: pre.csrf.clone(), error: None, email: String::new(), name: String::new() };
    pre_page(&page, &pre, StatusCode::OK)
}

#[derive(Deserialize)]
struct SetupForm {
    csrf_token: String,
    email: String,
    name: String,
    password: String,
    password_confirm: String,
}

async fn setup_submit(
    state: web::Data<AppState>,
    pre: PreSession,
    client: ClientInfo,
    form: web::Form<SetupForm>,
) -> PageResult<HttpResponse> {
    if any_user(&state).await? {
        return Err(AppError::not_found("Setup is complete.").into());
    }
    pre.verify_csrf(&state, &form.csrf_token)?;
    let form = form.into_inner();
    let invalid = |message: String| -> PageResult<HttpResponse> {
        let page = SetupPage {
            csrf: pre.csrf.clone(),
            error: Some(message),
            email: form.email.clone(),
            name: form.name.clone(),
        };
        pre_page(&page, &pre, StatusCode::BAD_REQUEST)
    };
    let new = match NewUser::parse(&form.email, &form.name, form.password.clone()) {
        Ok(new) => new,
        Err(e) => return invalid(e.to_string()),
    };
    if form.password != form.password_confirm {
        return invalid("The two passwords differ.".into());
    }
    let NewUser { email, name, password } = new;
    let hash = state.passwords.hash(password).await?;
    let ctx = client.audit(Actor::system());
    let account = state
        .db
        .write(move |tx| {
            // Checked again inside the write transaction: two racing setups make one admin.
            if db::accounts::any_user_exists(tx)? {
                return Err(AppError::not_found("Setup is complete."));
            }
            let by = Granter { ctx: &ctx, permissions: None };
            Ok(crate::ops::accounts::create_user(tx, &by, &email, &name, "admin", &hash)?)
        })
        .await?;
    log::info!("first admin created: {}", account.id);
    let cookie = session::start(&state, account.id, client.ip, client.user_agent).await?;
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((actix_web::http::header::LOCATION, "/projects")).finish())
}

async fn login_form(state: web::Data<AppState>, session: MaybeSession, pre: PreSession) -> PageResult<HttpResponse> {
    if session.0.is_some() {
        return Ok(see_other("/projects"));
    }
    if !any_user(&state).await? {
        return Ok(see_other("/setup"));
    }
    let page = LoginPage { csrf: pre.csrf.clone(), error: None, email: String::new() };
    pre_page(&page, &pre, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    csrf_token: String,
    email: String,
    password: String,
}

const LOGIN_FAILED: &str = "Wrong email or password.";

async fn login_submit(
    state: web::Data<AppState>,
    pre: PreSession,
    client: ClientInfo,
    form: web::Form<LoginForm>,
) -> PageResult<HttpResponse> {
    pre.verify_csrf(&state, &form.csrf_token)?;
    let form = form.into_inner();
    let email_key = form.email.trim().to_lowercase();
    let target = Target::new("user", email_key.clone(), email_key.clone());
    if let Err(retry_after) = state.throttle.check(&email_key, client.ip.as_deref(), Instant::now()) {
        let ctx = client.audit(Actor::system());
        state
            .db
            .write(move |tx| db::audit::record(tx, &ctx, "login.failed", Some(&target), json!({"reason": "throttled"})))
            .await?;
        return Err(PageError(AppError::RateLimited { retry_after }));
    }
    // Look up and verify off the executor; an unknown email still pays for one hash.
    let lookup_state = state.clone();
    let email_for_lookup = email_key.clone();
    let password = form.password.clone();
    let verified = state
        .passwords
        .run(move |memory| -> Result<Option<db::accounts::Account>, AppError> {
            let found = lookup_state.db.read_blocking(|c| db::accounts::for_login(c, &email_for_lookup))?;
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
        .await??;
    match verified {
        Some(account) => {
            state.throttle.record_success(&email_key);
            let ctx = client.audit(Actor::account(account.kind.actor_kind(), &account.id, &account.name));
            let target = Target::new("user", account.id.clone(), email_key);
            state.db.write(move |tx| db::audit::record(tx, &ctx, "login.succeeded", Some(&target), json!({}))).await?;
            let cookie = session::start(&state, account.id, client.ip, client.user_agent).await?;
            Ok(HttpResponse::SeeOther()
                .cookie(cookie)
                .insert_header((actix_web::http::header::LOCATION, "/projects"))
                .finish())
        }
        None => {
            state.throttle.record_failure(&email_key, client.ip.as_deref(), Instant::now());
            let ctx = client.audit(Actor::system());
            state
                .db
                .write(move |tx| {
                    db::audit::record(tx, &ctx, "login.failed", Some(&target), json!({"reason": "bad_credentials"}))
                })
                .await?;
            let page =
                LoginPage { csrf: pre.csrf.clone(), error: Some(LOGIN_FAILED.into()), email: redact_owned(form.email) };
            pre_page(&page, &pre, StatusCode::UNAUTHORIZED)
        }
    }
}

async fn logout(
    state: web::Data<AppState>,
    session: MaybeSession,
    form: web::Form<CsrfOnly>,
) -> PageResult<HttpResponse> {
    let Some(user) = session.0 else { return Ok(see_other("/login")) };
    user.verify_csrf(&state, &form.csrf_token)?;
    let cookie = session::end(&state, Some(user.cookie_value().to_string())).await?;
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((actix_web::http::header::LOCATION, "/login")).finish())
}
