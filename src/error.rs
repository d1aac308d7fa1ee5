//! One error type for every failure. [`AppError`] renders as the API's JSON
//! `{"error", "message"}`; [`PageError`] wraps it for the web UI and renders
//! an HTML page (or the redirect to `/login`). Causes of internal errors go
//! to the log, never to the client.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use serde::Serialize;

use crate::db::{Conflict, DbError, Missing};
use crate::domain::invalid::FieldError;
use crate::domain::permission::Permission;
use crate::domain::principal::Denied;
use crate::ops::{OpsError, Refusal};

/// A client mistake without a field at fault.
fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
    AppError::Client { status, code, message: message.into(), field: None }
}

/// The field a token's expiry refused by the policy is blamed on: the
/// pages' expiration choice (the API's `expires_in_days` or `expires_at`).
pub const EXPIRY_FIELD: &str = "expiration";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A client mistake with a specific status and error code (400, 404,
    /// 409, 413, 415, 422); `field` names the request's field at fault, when
    /// one is (a page ties its form's field to the error with it).
    #[error("{message}")]
    Client { status: StatusCode, code: &'static str, message: String, field: Option<&'static str> },
    /// No valid credentials (API). `token_presented` decides the `WWW-Authenticate` error attribute.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: &'static str, token_presented: bool },
    #[error("API key missing required permission: {0}")]
    MissingPermission(Permission),
    /// The signed-in person may not use this page or action (UI).
    #[error("{0}")]
    Forbidden(String),
    #[error("Too many requests; try again in {retry_after} seconds.")]
    RateLimited { retry_after: u64 },
    /// 503 `server_busy`: the server cannot take this now (uploads beyond
    /// `--ingest-memory-mib`); the client should send it again later.
    #[error("{message} Try again in {retry_after} seconds.")]
    Busy { retry_after: u64, message: &'static str },
    /// A page that needs a session was requested without one.
    #[error("login required")]
    LoginRequired,
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AppError {
        client(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn validation(message: impl Into<String>) -> AppError {
        AppError::bad_request("invalid_request", message)
    }
    /// 400 `invalid_request` about the request's field `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
        AppError::validation(message).for_field(field)
    }
    pub fn not_found(message: impl Into<String>) -> AppError {
        client(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn project_not_found() -> AppError {
        client(StatusCode::NOT_FOUND, "project_not_found", "Project not found.")
    }
    /// 403 with a code and sentence of its own (a rule, not one missing permission).
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> AppError {
        client(StatusCode::FORBIDDEN, code, message)
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
        client(StatusCode::CONFLICT, code, message)
    }
    /// 413 `payload_too_large`: a body over its limit.
    pub fn payload_too_large(message: impl Into<String>) -> AppError {
        client(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    /// 408 `request_timeout`: a body that stopped arriving.
    pub fn request_timeout(message: impl Into<String>) -> AppError {
        client(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
    }
    /// 415 `unsupported_media_type`: a body of a type the route does not take.
    pub fn unsupported_media_type(message: impl Into<String>) -> AppError {
        client(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> AppError {
        client(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message)
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> AppError {
        client(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
    pub fn internal(cause: impl std::fmt::Display) -> AppError {
        AppError::Internal(cause.to_string())
    }

    /// Names the request's field at fault (a client mistake's only).
    pub fn for_field(mut self, name: &'static str) -> AppError {
        if let AppError::Client { field, .. } = &mut self {
            *field = Some(name);
        }
        self
    }

    /// The request's field at fault, if the error names one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppError::Client { field, .. } => *field,
            _ => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Client { status, .. } => *status,
            AppError::Unauthenticated { .. } | AppError::LoginRequired => StatusCode::UNAUTHORIZED,
            AppError::MissingPermission(_) | AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Client { code, .. } | AppError::Unauthenticated { code, .. } => code,
            AppError::MissingPermission(_) => "missing_permission",
            AppError::Forbidden(_) => "forbidden",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Busy { .. } => "server_busy",
            AppError::LoginRequired => "credentials_required",
            AppError::Internal(_) => "internal_error",
        }
    }

    /// The sentence shown to the client; internal causes stay in the log.
    /// Anything shaped like a token secret is cut out, wherever the input
    /// that produced the message came from.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "Internal server error; the cause has been logged.".into(),
            other => redact(&other.to_string()),
        }
    }

    /// The sentence a page's form shows above itself: a refusal in the
    /// words of a person who chose something, not of an API key.
    pub fn form_sentence(&self) -> String {
        match self {
            AppError::MissingPermission(p) => format!("You cannot grant {p}: your own role does not include it."),
            other => other.public_message(),
        }
    }

    /// Sorts an error met by a form's change: a refusal the person can act
    /// on comes back to be shown above the form again (at its status);
    /// anything else (a missing page, a failure) becomes the error page.
    pub fn on_form(self) -> Result<AppError, PageError> {
        match self {
            AppError::Client { status, .. } if status != StatusCode::NOT_FOUND => Ok(self),
            AppError::MissingPermission(_) => Ok(self),
            other => Err(PageError(other)),
        }
    }

    /// Like [`Self::on_form`], for forms where something the form itself
    /// named can be missing (a project ticked on the token form, the account
    /// a row's form acts on): that 404 is shown above the form too.
    pub fn on_form_or_missing(self) -> Result<AppError, PageError> {
        match self {
            AppError::Client { status, .. } if status == StatusCode::NOT_FOUND => Ok(self),
            other => other.on_form(),
        }
    }

    fn log_if_internal(&self) {
        if let AppError::Internal(cause) = self {
            log::error!("internal error: {}", redact(cause));
        }
    }
}

impl From<Denied> for AppError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::MissingPermission(permission) => AppError::MissingPermission(permission),
            Denied::ProjectNotFound => AppError::project_not_found(),
        }
    }
}

impl From<DbError> for AppError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound(Missing::Project) => AppError::project_not_found(),
            DbError::NotFound(missing) => AppError::not_found(missing_sentence(&missing)),
            DbError::Conflict(conflict) => {
                let (code, sentence) = conflict_code_and_sentence(&conflict);
                let error = AppError::conflict(code, sentence);
                match conflict_field(&conflict) {
                    Some(field) => error.for_field(field),
                    None => error,
                }
            }
            DbError::Internal(cause) => AppError::Internal(cause),
        }
    }
}

impl From<OpsError> for AppError {
    fn from(err: OpsError) -> Self {
        match err {
            OpsError::Refused(refusal) => refusal.into(),
            OpsError::Denied(denied) => denied.into(),
            OpsError::Db(db) => db.into(),
        }
    }
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        use Refusal as R;
        match refusal {
            R::Policy(v) => AppError::unprocessable("policy_violation", format!("{} (rule: {})", v.message, v.rule))
                .for_field(EXPIRY_FIELD),
            R::InvalidPolicy(e) => AppError::unprocessable("invalid_policy", e.message).for_field(e.field),
            R::InvalidWebhook(e) => AppError::from(e),
            R::WebhookInactive => AppError::conflict(
                "webhook_inactive",
                "This webhook is turned off and gets nothing; turn it on (active: true) first.",
            ),
            R::NoPermissions => AppError::invalid("permissions", "Choose at least one permission."),
            R::ProjectFromRestricted => AppError::forbidden(
                "missing_permission",
                "A token restricted to some projects cannot create projects: use one for all projects.",
            ),
            R::AllProjectsFromRestricted => AppError::forbidden(
                "missing_permission",
                "A token restricted to some projects cannot create a token for all projects.",
            ),
            R::NotAKeyPermission(p) => AppError::unprocessable(
                "invalid_permission",
                format!("A project API key cannot hold {p}; allowed: projects:read, runs:read, runs:write, artifacts:write."),
            )
            .for_field("permissions"),
            R::GraceOutOfRange { max } => {
                AppError::invalid("grace_seconds", format!("grace_seconds must be between 0 and {max}."))
            }
            R::RateLimitOutOfRange => {
                AppError::invalid("rate_limit_per_minute", "rate_limit_per_minute must be between 1 and 1000000, or null.")
            }
            R::TokenRevoked => {
                AppError::conflict("token_revoked", "A revoked token cannot be rotated; create a new one.")
            }
            R::TokenRotated => {
                AppError::conflict("token_rotated", "This token was already rotated; rotate its successor instead.")
            }
            R::NotRotatable => AppError::conflict(
                "not_rotatable",
                "A token exchanged for an OpenID Connect ID token cannot be rotated; the CI job exchanges a new one.",
            ),
            R::UnknownRole(role) => {
                AppError::unprocessable("unknown_role", format!("There is no role named {role:?}.")).for_field("role")
            }
            R::AccountHoldsMore { account, permission } => AppError::forbidden(
                "missing_permission",
                format!("You cannot change {account}: it holds {permission}, which your own role does not include."),
            ),
            R::DeactivateSelf => AppError::conflict("cannot_deactivate_self", "You cannot deactivate your own account."),
            R::RunTakesNoReports { run, status } => {
                AppError::conflict("run_closed", format!("Run {run} is {status}; it takes no more reports."))
            }
            R::RunErrored => AppError::conflict("run_closed", "The run was marked as errored."),
            R::RunAlreadyClosed { run, status } => {
                AppError::conflict("run_closed", format!("Run {run} is already {status}."))
            }
            R::EmptyReport => AppError::bad_request("invalid_report", "The request body is empty."),
            R::InvalidReport(why) => AppError::bad_request("invalid_report", format!("Invalid report: {why}")),
            R::ReportTooLarge { max } => {
                AppError::payload_too_large(format!("The report is larger than {max} bytes after decompression."))
            }
        }
    }
}

/// A domain rule's refusal of one field (a quarantine rule's, a webhook's,
/// a trusted publisher's, a new user's): 400 naming the field.
impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::invalid(e.field, e.message)
    }
}

fn missing_sentence(missing: &Missing) -> String {
    match missing {
        Missing::Project => "Project not found.".into(),
        Missing::Run => "No such run in this project.".into(),
        Missing::BaseRun => "No such base run in this project.".into(),
        Missing::Attachment => "No such attachment in this project.".into(),
        Missing::AttachmentFile => "The attachment's file is missing.".into(),
        Missing::Account { noun, id } => format!("No {noun} with id {id:?}."),
        Missing::Role(name) => format!("No role named {name:?}."),
        Missing::Token => "No such token.".into(),
        Missing::Key => "No such key in this project.".into(),
        Missing::Test => "No such test in this project.".into(),
        Missing::QuarantineRule => "No such quarantine rule in this project.".into(),
        Missing::Publisher => "No such trusted publisher in this project.".into(),
        Missing::Webhook => "No such webhook.".into(),
        Missing::Delivery => "No such delivery of this webhook.".into(),
    }
}

/// The field whose value is already taken, for the conflicts that have one.
fn conflict_field(conflict: &Conflict) -> Option<&'static str> {
    match conflict {
        Conflict::ProjectSlug(_) => Some("slug"),
        Conflict::Email => Some("email"),
        Conflict::RoleName(_) => Some("name"),
        _ => None,
    }
}

fn conflict_code_and_sentence(conflict: &Conflict) -> (&'static str, String) {
    match conflict {
        Conflict::ProjectSlug(slug) => ("slug_taken", format!("A project with slug {slug:?} already exists.")),
        Conflict::Email => ("email_taken", "A user with that email already exists.".into()),
        Conflict::RoleName(name) => ("role_exists", format!("A role named {name:?} already exists.")),
        Conflict::BuiltinRole(name) => ("builtin_role", format!("The built-in role {name:?} cannot be changed.")),
        Conflict::RoleInUse { role, holders } => {
            ("role_in_use", format!("Role {role:?} is held by {holders} account(s); give them another role first."))
        }
        Conflict::LastAdmin => (
            "last_admin",
            "This is the last active user who can manage users; give someone else that role first.".into(),
        ),
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        AppError::Internal(format!("blocking task: {err}"))
    }
}

impl From<std::io::Error> for AppError {
    fn from(err: std::io::Error) -> Self {
        AppError::Internal(format!("i/o: {err}"))
    }
}

/// Every API error's body (API.md section 2, "Errors").
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error, example = json!({"error": "missing_permission", "message": "API key missing required permission: runs:write"}))]
pub struct ErrorBody<'a> {
    /// A stable code to branch on, e.g. `project_not_found`.
    error: &'a str,
    /// A sentence for people: what is wrong, and where.
    message: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.log_if_internal();
        let mut response = HttpResponse::build(self.status());
        match self {
            AppError::Unauthenticated { token_presented, .. } => {
                let value = if *token_presented {
                    r#"Bearer realm="proctor", error="invalid_token""#
                } else {
                    r#"Bearer realm="proctor""#
                };
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
            AppError::MissingPermission(permission) => {
                let value = format!(r#"Bearer realm="proctor", error="insufficient_scope", scope="{permission}""#);
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
            AppError::RateLimited { retry_after } | AppError::Busy { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            AppError::Client { status, .. } if *status == StatusCode::FORBIDDEN => {
                let value = r#"Bearer realm="proctor", error="insufficient_scope""#;
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
            _ => {}
        }
        if self.status() == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still come; this connection is done.
            response.insert_header((header::CONNECTION, "close"));
        }
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        response.json(ErrorBody { error: self.code(), message: self.public_message() })
    }
}

impl From<crate::ops::oidc::ExchangeError> for AppError {
    fn from(e: crate::ops::oidc::ExchangeError) -> Self {
        match e {
            crate::ops::oidc::ExchangeError::Rejected(refused) => AppError::oidc_rejected(refused),
            crate::ops::oidc::ExchangeError::Ops(e) => e.into(),
        }
    }
}

impl AppError {
    /// 401 `oidc_rejected`: an ID token the exchange refuses, and which check refused it.
    pub fn oidc_rejected(refused: crate::domain::oidc::Refused) -> AppError {
        AppError::Client { status: StatusCode::UNAUTHORIZED, code: "oidc_rejected", message: refused.0, field: None }
    }
}

/// An [`AppError`] met while serving a web page.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(err: E) -> Self {
        PageError(err.into())
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: String,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log_if_internal();
        if let AppError::LoginRequired = self.0 {
            return HttpResponse::SeeOther().insert_header((header::LOCATION, "/login")).finish();
        }
        let status = self.0.status();
        let title = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let message = match &self.0 {
            AppError::MissingPermission(p) => format!("Your role does not include the permission {p}."),
            other => other.public_message(),
        };
        let page = ErrorPage { status: status.as_u16(), title, message };
        let body = page.render().unwrap_or_else(|_| page.message.clone());
        let mut response = HttpResponse::build(status);
        if let AppError::RateLimited { retry_after } | AppError::Busy { retry_after, .. } = self.0 {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            response.insert_header((header::CONNECTION, "close"));
        }
        response.content_type("text/html; charset=utf-8").body(body)
    }
}

/// Error messages quote the client's input ("unknown permission …"); a
/// token secret pasted into the wrong field must not come back in the
/// response (API.md section 2: no response ever contains a secret).
fn redact(message: &str) -> String {
    crate::domain::secrets::redact(message).into_owned()
}

pub type AppResult<T> = Result<T, AppError>;
pub type PageResult<T> = Result<T, PageError>;
