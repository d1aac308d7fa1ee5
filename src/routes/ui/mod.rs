//! The web UI: server-rendered pages behind a session cookie. Every handler
//! extracts the session, checks one permission through [`Principal`], calls
//! one operation, and renders or redirects (POST/redirect/GET).
//!
//! [`Principal`]: crate::auth::Principal

mod admin_accounts;
mod admin_roles;
mod admin_tokens;
mod audit;
mod auth;
mod project_keys;
mod projects;
mod publishers;
mod runs;
mod tests;
mod token_forms;
mod tokens;
mod webhooks;

#[cfg(any(test, fuzzing))]
pub mod fuzzing;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::domain::audit::AuditContext;
use crate::error::{AppError, PageError};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    auth::configure(cfg);
    projects::configure(cfg);
    runs::configure(cfg);
    tests::configure(cfg);
    project_keys::configure(cfg);
    publishers::configure(cfg);
    tokens::configure(cfg);
    admin_tokens::configure(cfg);
    admin_accounts::configure(cfg);
    admin_roles::configure(cfg);
    audit::configure(cfg);
    webhooks::configure(cfg);
}

/// The largest form a page takes.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Forms up to 64 KiB; one that cannot be read gets the HTML error page, not
/// actix's plain-text one. Browsers send what the page's form has, so this
/// mostly meets hand-made requests.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(MAX_FORM_BYTES).error_handler(|err, _| {
        use actix_web::error::UrlencodedError;
        let error = match err {
            UrlencodedError::Overflow { .. } => AppError::payload_too_large("The form is larger than 64 KiB."),
            UrlencodedError::ContentType => {
                AppError::unsupported_media_type("Send the form as application/x-www-form-urlencoded.")
            }
            UrlencodedError::Parse(e) => AppError::validation(format!("The form could not be read: {e}.")),
            UrlencodedError::Payload(e) if crate::routes::input::stalled(&e) => {
                crate::routes::input::read_error(&e, MAX_FORM_BYTES)
            }
            // actix's own sentences, each with its full stop.
            other => AppError::validation(format!("The form could not be read. {other}")),
        };
        PageError(error).into()
    })
}

/// A form read as raw bytes, for the forms with repeated keys (`permission`
/// checkboxes) that `web::Form` cannot take: the same 64 KiB cap, content
/// type and HTML error pages as [`form_config`]'s forms.
pub struct RawForm(pub web::Bytes);

impl actix_web::FromRequest for RawForm {
    type Error = PageError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let is_form = content_type
            .split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        let declared = crate::routes::input::declared_length(req.headers());
        let mut payload = payload.take();
        let too_large = || AppError::payload_too_large("The form is larger than 64 KiB.");
        Box::pin(async move {
            if !is_form {
                return Err(PageError(AppError::unsupported_media_type(
                    "Send the form as application/x-www-form-urlencoded.",
                )));
            }
            let body = crate::routes::input::read_capped(&mut payload, declared, MAX_FORM_BYTES, too_large).await?;
            Ok(RawForm(body))
        })
    }
}

/// A form that a signed-in user submitted, read like [`RawForm`] (64 KiB,
/// the form content type, HTML error pages), its CSRF token checked before
/// the handler runs: the state-changing page handlers take this instead of
/// a session and a form, so none can forget the check. The handler then
/// checks its permission, makes its change (audited with [`Self::audit`])
/// and answers 303.
pub struct Submitted<T> {
    pub user: SessionUser,
    pub client: ClientInfo,
    pub form: T,
}

impl<T> Submitted<T> {
    /// Who acts, for the audit row of the change.
    pub fn audit(&self) -> AuditContext {
        self.client.audit(self.user.principal.actor.clone())
    }
}

/// The CSRF field alone; absent is empty, which never matches.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Submitted<T> {
    type Error = PageError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let user = SessionUser::from_request(req, payload);
        let body = RawForm::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let proxies = state.as_ref().map(|s| s.config.trusted_proxies.clone()).unwrap_or_default();
        let client = crate::routes::extract::client_info(req, &proxies);
        Box::pin(async move {
            let user = user.await?;
            let RawForm(body) = body.await?;
            let state = state.ok_or_else(|| AppError::internal("no application state"))?;
            let (csrf, form) = read_submitted(&body);
            user.verify_csrf(&state, &csrf)?;
            Ok(Submitted { user, client, form: form? })
        })
    }
}

/// A submitted form's body as [`Submitted`] reads it: its CSRF field, and
/// the form (refused only after the CSRF check).
fn read_submitted<T: serde::de::DeserializeOwned>(body: &[u8]) -> (String, Result<T, AppError>) {
    let csrf: CsrfField = serde_urlencoded::from_bytes(body).unwrap_or(CsrfField { csrf_token: String::new() });
    let form = serde_urlencoded::from_bytes(body)
        .map_err(|e| AppError::validation(format!("The form could not be read: {e}.")));
    (csrf.csrf_token, form)
}

/// A page address whose query does not fit the page (only hand-edited ones).
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        let reason = err.to_string();
        let reason = reason.trim_start_matches("Query deserialize error: ");
        PageError(AppError::validation(format!("This address has a query the page cannot read: {reason}."))).into()
    })
}

/// 303 to `location` (after a successful POST).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

pub use crate::views::Notice;

/// Every POST form carries this field.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    pub csrf_token: String,
}

/// Renders `page` as the body of `builder`'s response.
pub fn html(
    mut builder: actix_web::HttpResponseBuilder,
    page: &impl askama::Template,
) -> crate::error::PageResult<HttpResponse> {
    let body = page.render().map_err(crate::error::AppError::internal)?;
    Ok(builder.content_type("text/html; charset=utf-8").body(body))
}
