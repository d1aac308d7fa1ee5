//! Settings → Access Tokens (`tokens:create`): one's own personal access
//! tokens, the generate form, the show-once page, revoke and rotate. The
//! pieces shared with project API keys (expiry input, the secret page) live
//! here too.
//!
//! A new secret is answered directly as a 200 page with `Cache-Control:
//! no-store`, never through a redirect, so it is in no URL, history entry or
//! cache, and is never stored.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::{html, see_other, CsrfOnly, Notice};
use crate::app::AppState;
use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::db::tokens::{Token, TokenFilter, TokenStatus};
use crate::db::{self};
use crate::domain::names::DisplayName;
use crate::domain::permission::{Permission, PermissionSet};
use crate::domain::policy::{ExpiryRequest, PolicyMode, TokenPolicy};
use crate::domain::time::{now, unix_now};
use crate::domain::token::TokenKind;
use crate::error::{AppError, PageResult};
use crate::ops::tokens::{self as ops, Issued, PatRequest};
use crate::views::{
    permission_choices, ExpiringToken, ExpiryField, Layout, NewTokenPage, ProjectChoice, SecretPage, TokenRow,
    TokensPage, When, DAY_SECS, WEEK_SECS,
};

/// How many of one's own tokens the table shows.
const MAX_OWN_TOKENS: u32 = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/tokens", web::get().to(list))
        .route("/settings/tokens", web::post().to(create))
        .route("/settings/tokens/new", web::get().to(new))
        .route("/settings/tokens/{id}/revoke", web::post().to(revoke))
        .route("/settings/tokens/{id}/rotate", web::post().to(rotate));
}

// ---- shared with project keys -------------------------------------------------

/// The expiration fields of a token form, as submitted.
#[derive(Debug, Default, Clone)]
pub(super) struct ExpiryInput {
    /// A day count, `custom`, `never`, or empty (the policy's default).
    pub choice: String,
    /// `YYYY-MM-DD` (end of that day, UTC) or `YYYY-MM-DDTHH:MM[:SS]` (UTC).
    pub custom: String,
}

impl ExpiryInput {
    /// Takes the field if it is one of ours; returns whether it was.
    pub fn take(&mut self, key: &str, value: &str) -> bool {
        match key {
            "expiration" => self.choice = value.trim().to_string(),
            "expires_on" => self.custom = value.trim().to_string(),
            _ => return false,
        }
        true
    }

    /// What to ask the policy for. Under `fixed` there is no choice to make.
    pub fn request(&self, policy: &TokenPolicy) -> Result<ExpiryRequest, AppError> {
        if policy.mode == PolicyMode::Fixed {
            return Ok(ExpiryRequest::Default);
        }
        match self.choice.as_str() {
            "" | "default" => Ok(ExpiryRequest::Default),
            "never" => Ok(ExpiryRequest::Never),
            "custom" => parse_custom_date(&self.custom).map(ExpiryRequest::At),
            days => days
                .parse::<u32>()
                .map(ExpiryRequest::InDays)
                .map_err(|_| AppError::validation("Choose an expiration from the list.")),
        }
    }

    pub fn field(&self, policy: &TokenPolicy) -> ExpiryField {
        ExpiryField::new(policy, &self.choice, &self.custom, now())
    }
}

/// A date means the end of that day in UTC; a date and time is taken as UTC.
fn parse_custom_date(raw: &str) -> Result<OffsetDateTime, AppError> {
    if raw.is_empty() {
        return Err(AppError::validation("Enter the custom expiration date."));
    }
    if let Ok(date) = Date::parse(raw, format_description!("[year]-[month]-[day]")) {
        let end = date.with_hms(23, 59, 59).map_err(AppError::internal)?;
        return Ok(end.assume_utc());
    }
    let with_seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let without = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    PrimitiveDateTime::parse(raw, with_seconds)
        .or_else(|_| PrimitiveDateTime::parse(raw, without))
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| AppError::validation(format!("{raw:?} is not a date; use the form 2030-12-31.")))
}

/// Errors a form shows above itself (with their status) rather than as an error page.
pub(super) fn is_form_error(e: &AppError) -> bool {
    matches!(e, AppError::Client { .. } | AppError::MissingPermission(_))
}

/// The sentence a form shows for `e`.
pub(super) fn form_message(e: &AppError) -> String {
    match e {
        AppError::MissingPermission(p) => format!("You cannot grant {p}: your own role does not include it."),
        other => other.to_string(),
    }
}

/// Parses a permission checkbox value; unknown names are remembered, not fatal,
/// so the CSRF check still comes first.
pub(super) fn add_permission(set: &mut PermissionSet, bad: &mut Option<String>, value: &str) {
    match value.parse::<Permission>() {
        Ok(p) => set.insert(p),
        Err(e) => *bad = Some(e.to_string()),
    }
}

pub(super) async fn token_policy(state: &AppState) -> Result<TokenPolicy, AppError> {
    state.db.read(db::settings::token_policy).await
}

/// Where users reach this server, for the CI examples.
pub(super) fn server_url(state: &AppState, req: &HttpRequest) -> String {
    state.config.public_url.clone().unwrap_or_else(|| {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    })
}

/// `grace_seconds` of a rotate form: 0 (default) to 86400.
pub(super) fn parse_grace(raw: Option<&str>) -> Result<u32, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(0),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|g| *g <= ops::MAX_GRACE_SECONDS)
            .ok_or_else(|| AppError::validation("The grace period must be between 0 and 86400 seconds.")),
    }
}

/// What the secret page needs besides the new token.
pub(super) struct SecretContext {
    pub heading: &'static str,
    pub server_url: String,
    pub back_href: String,
    pub back_label: &'static str,
    /// After a rotation: the old token and how long it keeps working.
    pub rotated: Option<(Token, u32)>,
}

/// The show-once page: 200, `Cache-Control: no-store`.
pub(super) fn secret_response(user: &SessionUser, issued: Issued, ctx: SecretContext) -> PageResult<HttpResponse> {
    let token = &issued.token;
    let example_project = match token.project_slugs() {
        Some(slugs) if !slugs.is_empty() => slugs[0].clone(),
        _ => "my-project".to_string(),
    };
    let row = TokenRow::new(token, &TokenPolicy::default(), unix_now());
    let (old_ends, old_preview) = match &ctx.rotated {
        Some((old, grace)) => ((*grace > 0).then(|| When::at(unix_now() + i64::from(*grace))), old.preview.clone()),
        None => (None, String::new()),
    };
    let page = SecretPage {
        layout: Layout::new(user, ctx.heading, if row.is_key { "projects" } else { "tokens" }),
        heading: ctx.heading.to_string(),
        secret: issued.secret.expose_secret().to_string(),
        name: row.name,
        preview: row.preview,
        is_key: row.is_key,
        permissions: row.permissions,
        projects: row.projects,
        expires: row.expires,
        old_ends,
        old_preview,
        server_url: ctx.server_url,
        example_project,
        back_href: ctx.back_href,
        back_label: ctx.back_label.to_string(),
    };
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response.insert_header((header::PRAGMA, "no-cache"));
    html(response, &page)
}

// ---- own tokens ---------------------------------------------------------------

async fn list(state: web::Data<AppState>, user: SessionUser, notice: web::Query<Notice>) -> PageResult<TokensPage> {
    user.principal.require(Permission::TokensCreate)?;
    let now = unix_now();
    let filter =
        TokenFilter { owner_id: Some(user.account.id.clone()), kind: Some(TokenKind::Pat), ..Default::default() };
    let (policy, tokens) = state
        .db
        .read(move |c| Ok((db::settings::token_policy(c)?, db::tokens::list(c, &filter, None, MAX_OWN_TOKENS, now)?)))
        .await?;
    let (mut expiring_day, mut expiring_week) = (Vec::new(), Vec::new());
    for t in tokens.iter().filter(|t| t.status(now) == TokenStatus::Active) {
        let Some(at) = t.expires_at else { continue };
        let alert = || ExpiringToken { name: t.name.clone(), preview: t.preview.clone(), expires: When::at(at) };
        if at - now <= DAY_SECS {
            expiring_day.push(alert());
        } else if at - now <= WEEK_SECS {
            expiring_week.push(alert());
        }
    }
    Ok(TokensPage {
        layout: Layout::new(&user, "Access tokens", "tokens").with_notice(notice.text()),
        rows: tokens.iter().map(|t| TokenRow::new(t, &policy, now)).collect(),
        expiring_day,
        expiring_week,
    })
}

/// The generate form as submitted (repeated `permission` and `project` fields).
#[derive(Debug, Default)]
struct TokenForm {
    csrf: String,
    name: String,
    permissions: PermissionSet,
    bad_permission: Option<String>,
    only_selected: bool,
    projects: Vec<String>,
    expiry: ExpiryInput,
}

impl TokenForm {
    fn parse(body: &[u8]) -> TokenForm {
        let mut form = TokenForm::default();
        for (key, value) in form_urlencoded::parse(body) {
            match key.as_ref() {
                "csrf_token" => form.csrf = value.into_owned(),
                "name" => form.name = value.into_owned(),
                "permission" => add_permission(&mut form.permissions, &mut form.bad_permission, &value),
                "project_scope" => form.only_selected = value == "selected",
                "project" => form.projects.push(value.into_owned()),
                other => {
                    form.expiry.take(other, &value);
                }
            }
        }
        form
    }

    fn request(&self, policy: &TokenPolicy) -> Result<PatRequest, AppError> {
        if let Some(bad) = &self.bad_permission {
            return Err(AppError::validation(bad.clone()));
        }
        let name = DisplayName::parse(&self.name).map_err(|e| AppError::validation(e.to_string()))?;
        if self.permissions.is_empty() {
            return Err(AppError::validation("Choose at least one permission."));
        }
        let projects = if self.only_selected {
            if self.projects.is_empty() {
                return Err(AppError::validation("Choose at least one project, or All projects."));
            }
            Some(self.projects.clone())
        } else {
            None
        };
        Ok(PatRequest { name, permissions: self.permissions, projects, expiry: self.expiry.request(policy)? })
    }
}

async fn new_page(
    state: &AppState,
    user: &SessionUser,
    form: &TokenForm,
    error: Option<String>,
) -> Result<NewTokenPage, AppError> {
    let (policy, projects) =
        state.db.read(|c| Ok((db::settings::token_policy(c)?, db::projects::list(c, None, u32::MAX)?))).await?;
    Ok(NewTokenPage {
        layout: Layout::new(user, "New access token", "tokens").with_error(error),
        name: form.name.clone(),
        expiry: form.expiry.field(&policy),
        choices: permission_choices(form.permissions, user.principal.permissions),
        all_projects: !form.only_selected,
        projects: projects
            .into_iter()
            .map(|p| ProjectChoice { checked: form.projects.contains(&p.slug), slug: p.slug, name: p.name })
            .collect(),
    })
}

async fn new(state: web::Data<AppState>, user: SessionUser) -> PageResult<NewTokenPage> {
    user.principal.require(Permission::TokensCreate)?;
    Ok(new_page(&state, &user, &TokenForm::default(), None).await?)
}

async fn create(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensCreate)?;
    let form = TokenForm::parse(&body);
    user.verify_csrf(&state, &form.csrf)?;
    let policy = token_policy(&state).await?;
    let result = match form.request(&policy) {
        Ok(request) => {
            let ctx = client.audit(user.principal.actor.clone());
            let by = user.principal.clone();
            let owner = user.account.id.clone();
            let key = state.key.clone();
            state.db.write(move |tx| ops::create_pat(tx, &key, &ctx, &by, &owner, request)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(issued) => secret_response(
            &user,
            issued,
            SecretContext {
                heading: "Token created",
                server_url: server_url(&state, &req),
                back_href: "/settings/tokens".into(),
                back_label: "Back to your tokens",
                rotated: None,
            },
        ),
        Err(e) if is_form_error(&e) => {
            let page = new_page(&state, &user, &form, Some(form_message(&e))).await?;
            html(HttpResponse::build(e.status()), &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// One's own PAT, loaded in the transaction; anything else is "not found".
fn own_token(tx: &rusqlite::Transaction, user: &crate::auth::Principal, id: &str) -> Result<Token, AppError> {
    let token = ops::load(tx, id)?;
    if token.kind != TokenKind::Pat || token.owner_id() != user.account_id.as_deref() {
        return Err(AppError::not_found("No such token."));
    }
    ops::may_manage(user, &token)?;
    Ok(token)
}

async fn revoke(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensCreate)?;
    user.verify_csrf(&state, &form.csrf_token)?;
    let ctx = client.audit(user.principal.actor.clone());
    let by = user.principal.clone();
    let id = id.into_inner();
    state
        .db
        .write(move |tx| {
            let token = own_token(tx, &by, &id)?;
            ops::revoke(tx, &ctx, &token, "revoked")
        })
        .await?;
    Ok(see_other("/settings/tokens?notice=token_revoked"))
}

#[derive(Deserialize)]
pub(super) struct RotateForm {
    pub csrf_token: String,
    pub grace_seconds: Option<String>,
}

async fn rotate(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<RotateForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensCreate)?;
    user.verify_csrf(&state, &form.csrf_token)?;
    let grace = parse_grace(form.grace_seconds.as_deref())?;
    let ctx = client.audit(user.principal.actor.clone());
    let by = user.principal.clone();
    let key = state.key.clone();
    let id = id.into_inner();
    let (old, issued) = state
        .db
        .write(move |tx| {
            let old = own_token(tx, &by, &id)?;
            let issued = ops::rotate(tx, &key, &ctx, &old, grace)?;
            Ok((old, issued))
        })
        .await?;
    secret_response(
        &user,
        issued,
        SecretContext {
            heading: "Token rotated",
            server_url: server_url(&state, &req),
            back_href: "/settings/tokens".into(),
            back_label: "Back to your tokens",
            rotated: Some((old, grace)),
        },
    )
}
