//! What the personal-token and project-key pages share: the expiry input of
//! their forms, how a form shows its errors, permission checkboxes, the
//! rotate form and its grace period, and the show-once secret page.
//!
//! A new secret is answered directly as a 200 page with `Cache-Control:
//! no-store`, never through a redirect, so it is in no URL, history entry or
//! cache, and is never stored.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::html;
use crate::auth::session::SessionUser;
use crate::db::{self};
use crate::domain::permission::{Permission, PermissionSet};
use crate::domain::policy::{ExpiryRequest, PolicyMode, TokenPolicy};
use crate::domain::time::now;
use crate::error::{AppError, PageResult, EXPIRY_FIELD};
use crate::ops::tokens::{self as ops, Issued};
use crate::state::AppState;
use crate::views::{secret_page, ExpiryField, SecretContext};

/// The custom date of a token form's expiration.
const CUSTOM_DATE_FIELD: &str = "expires_on";

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
                .map_err(|_| AppError::invalid(EXPIRY_FIELD, "Choose an expiration from the list.")),
        }
    }

    /// A refusal of the expiry by the policy, blamed on the field that was
    /// used: the custom date when "Custom date…" was chosen.
    pub fn blame(&self, e: AppError) -> AppError {
        match e.field() {
            Some(EXPIRY_FIELD) if self.choice == "custom" => e.for_field(CUSTOM_DATE_FIELD),
            _ => e,
        }
    }

    pub fn field(&self, policy: &TokenPolicy) -> ExpiryField {
        ExpiryField::new(policy, &self.choice, &self.custom, now())
    }
}

/// A date means the end of that day in UTC; a date and time is taken as UTC.
fn parse_custom_date(raw: &str) -> Result<OffsetDateTime, AppError> {
    if raw.is_empty() {
        return Err(AppError::invalid(CUSTOM_DATE_FIELD, "Enter the custom expiration date."));
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
        .map_err(|_| AppError::invalid(CUSTOM_DATE_FIELD, format!("{raw:?} is not a date; use the form 2030-12-31.")))
}

/// The `permission` checkboxes of a form (one key, repeated), collected as
/// the form is parsed. An unknown name is remembered rather than fatal, so
/// the CSRF check still comes first; [`Self::checked`] reports it.
#[derive(Debug, Default)]
pub(super) struct PermissionChecks {
    /// What was ticked, to tick again when the form comes back.
    pub(super) set: PermissionSet,
    unknown: Option<String>,
}

impl PermissionChecks {
    pub(super) fn add(&mut self, value: &str) {
        match value.parse::<Permission>() {
            Ok(p) => self.set.insert(p),
            Err(e) => self.unknown = Some(e.to_string()),
        }
    }

    /// The permissions ticked, or 400 naming one that does not exist.
    pub(super) fn checked(&self) -> Result<PermissionSet, AppError> {
        match &self.unknown {
            Some(unknown) => Err(AppError::invalid("permissions", unknown.clone())),
            None => Ok(self.set),
        }
    }
}

pub(super) async fn token_policy(state: &AppState) -> Result<TokenPolicy, AppError> {
    Ok(state.db.read(db::settings::token_policy).await?)
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
        Some(s) => {
            s.parse::<u32>().ok().filter(|g| *g <= ops::MAX_GRACE_SECONDS).ok_or_else(|| {
                AppError::invalid("grace_seconds", "The grace period must be between 0 and 86400 seconds.")
            })
        }
    }
}

#[derive(Deserialize)]
pub(super) struct RotateForm {
    pub(super) grace_seconds: Option<String>,
}

/// The show-once page: 200, `Cache-Control: no-store`.
pub(super) fn secret_response(user: &SessionUser, issued: Issued, ctx: SecretContext) -> PageResult<HttpResponse> {
    let page = secret_page(user, &issued.token, issued.secret.expose_secret().to_string(), ctx);
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response.insert_header((header::PRAGMA, "no-cache"));
    html(response, &page)
}
