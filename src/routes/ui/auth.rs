//! `/`, first-run `/setup`, `/login` and `POST /logout`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{html, see_other, CsrfOnly};
use crate::auth::client::ClientInfo;
use crate::auth::login::{self, Login};
use crate::auth::session::{self, MaybeSession, PreSession};
use crate::db;
use crate::domain::new_user::NewUser;
use crate::domain::secrets::{redact, redact_owned};
use crate::error::{AppError, PageResult};
use crate::routes::extract;
use crate::state::AppState;
use crate::views::{FormError, LoginPage, SetupPage};

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
fn pre_page(state: &AppState, page: &impl Template, pre: &PreSession, status: StatusCode) -> PageResult<HttpResponse> {
    let mut builder = HttpResponse::build(status);
    if let Some(cookie) = extract::pre_session_cookie(state, pre) {
        builder.cookie(cookie);
    }
    html(builder, page)
}

/// The answer to a form that signed someone in: their session cookie, and on to the projects.
fn signed_in(state: &AppState, session_value: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .cookie(extract::session_cookie(state, session_value))
        .insert_header((header::LOCATION, "/projects"))
        .finish()
}

async fn setup_form(state: web::Data<AppState>, pre: PreSession) -> PageResult<HttpResponse> {
    if any_user(&state).await? {
        return Err(login::setup_complete().into());
    }
    let page = SetupPage { csrf: pre.csrf.clone(), error: None, email: String::new(), name: String::new() };
    pre_page(&state, &page, &pre, StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct SetupForm {
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
        return Err(login::setup_complete().into());
    }
    pre.verify_csrf(&state, &form.csrf_token)?;
    let form = form.into_inner();
    let parsed = NewUser::parse(&form.email, &form.name, form.password.clone())
        .map_err(|e| FormError { sentence: redact(&e.message).into_owned(), field: Some(e.field) });
    match parsed.and_then(|new| same_twice(&form).map(|()| new)) {
        Ok(new) => Ok(signed_in(&state, login::set_up(&state, new, &client).await?)),
        Err(error) => {
            let page = SetupPage { csrf: pre.csrf.clone(), error: Some(error), email: form.email, name: form.name };
            pre_page(&state, &page, &pre, StatusCode::BAD_REQUEST)
        }
    }
}

pub(super) fn same_twice(form: &SetupForm) -> Result<(), FormError> {
    if form.password == form.password_confirm {
        Ok(())
    } else {
        Err(FormError { sentence: "The two passwords differ.".into(), field: Some("password_confirm") })
    }
}

async fn login_form(state: web::Data<AppState>, session: MaybeSession, pre: PreSession) -> PageResult<HttpResponse> {
    if session.0.is_some() {
        return Ok(see_other("/projects"));
    }
    if !any_user(&state).await? {
        return Ok(see_other("/setup"));
    }
    let page = LoginPage { csrf: pre.csrf.clone(), error: None, email: String::new() };
    pre_page(&state, &page, &pre, StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
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
    let LoginForm { email, password, .. } = form.into_inner();
    match login::log_in(&state, &email, password, &client).await? {
        Login::SignedIn(session_value) => Ok(signed_in(&state, session_value)),
        Login::Refused => {
            let page = LoginPage {
                csrf: pre.csrf.clone(),
                error: Some(FormError::general(LOGIN_FAILED)),
                email: redact_owned(email),
            };
            pre_page(&state, &page, &pre, StatusCode::UNAUTHORIZED)
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
    session::end(&state, user.cookie_value()).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(extract::cleared_session_cookie(&state))
        .insert_header((header::LOCATION, "/login"))
        .finish())
}
