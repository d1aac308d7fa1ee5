//! The JSON API under `/api/v1`. Every route takes an [`ApiCaller`] (the
//! token extractor) and checks one permission; errors are the contract's
//! `{"error", "message"}`. Authenticated responses carry
//! `Proctor-Token-Expiration` and the IETF rate-limit headers.
//!
//! [`ApiCaller`]: crate::auth::api::ApiCaller

mod analysis;
mod attachments;
mod audit;
pub mod doc;
mod json;
mod keys;
mod oidc;
mod people;
mod policy;
mod projects;
mod publishers;
mod quarantine;
pub(crate) mod results;
mod roles;
mod run_meta;
mod runs;
mod token_view;
mod tokens;
mod webhooks;
mod whoami;

pub use json::{ApiJson, JsonBytes};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::scope;

use crate::error::AppError;

/// Serves `/api/v1` (and `/api/openapi.json`, its description).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(doc::openapi_json));
    register(&mut utoipa_actix_web::service_config::ServiceConfig::new(cfg));
}

/// Registers every `/api/v1` route, each through `service`, which takes only
/// a handler with its `#[utoipa::path]` description ([`doc`]).
pub fn register(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(
        scope("/api/v1")
            .wrap(from_fn(auth_headers))
            .app_data(json::payload_config())
            .app_data(web::QueryConfig::default().error_handler(|err, req| query_error(&err, req).into()))
            .app_data(web::PathConfig::default().error_handler(|err, _| AppError::validation(err.to_string()).into()))
            // A project's routes first, in one scope (their paths are
            // relative to it): the project segment is matched once, and the
            // routes after it mostly by plain string comparison. (Thirty
            // full-path patterns tried in turn were 14% of a keyed read.)
            .service(
                scope("/projects/{project}")
                    .configure(projects::configure_one)
                    .configure(keys::configure)
                    .configure(runs::configure)
                    .configure(analysis::configure)
                    .configure(results::configure)
                    .configure(attachments::configure)
                    .configure(quarantine::configure)
                    .configure(publishers::configure)
                    .configure(webhooks::configure_project)
                    // A nested scope falls back to the App's default, not
                    // /api/v1's: say it again, in the contract's shape.
                    .default_service(web::to(no_such_route)),
            )
            .configure(whoami::configure)
            .configure(tokens::configure)
            .configure(policy::configure)
            .configure(oidc::configure)
            .configure(projects::configure)
            .configure(people::configure)
            .configure(roles::configure)
            .configure(audit::configure)
            .configure(webhooks::configure_instance)
            .default_service(web::to(no_such_route)),
    );
}

/// A path the API does not have (404), or a method it does not have for
/// the path (405, with `Allow`), in the contract's shape.
async fn no_such_route(req: actix_web::HttpRequest) -> HttpResponse {
    match doc::methods_of(req.path()) {
        Some(methods) => {
            let allow = methods.join(", ");
            let mut response =
                AppError::method_not_allowed(format!("{} is not allowed here; use {allow}.", req.method()))
                    .error_response_owned();
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(actix_web::http::header::ALLOW, value);
            }
            response
        }
        None => AppError::not_found("No such API route.").error_response_owned(),
    }
}

/// A query string that does not fit its route's parameters. serde's own
/// message does not name the parameter ("invalid digit found in string"), so
/// the typed ones are checked here by name first.
fn query_error(err: &actix_web::error::QueryPayloadError, req: &actix_web::HttpRequest) -> AppError {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let wrong = |(key, value): &(String, String)| match key.as_str() {
        "limit" if value.parse::<u32>().is_err() => Some(format!("a whole number between 1 and {MAX_LIMIT}")),
        "days" if value.parse::<u32>().is_err() => Some(format!("a whole number between 1 and {}", analysis::MAX_DAYS)),
        "all" if value.parse::<bool>().is_err() => Some("true or false".to_string()),
        _ => None,
    };
    match pairs.iter().find_map(|pair| Some((pair, wrong(pair)?))) {
        Some(((key, value), expected)) => {
            AppError::validation(format!("{key} must be {expected}, not {:?}.", truncated(value)))
        }
        None => {
            let reason = err.to_string();
            AppError::validation(format!(
                "Invalid query string: {}",
                reason.trim_start_matches("Query deserialize error: ")
            ))
        }
    }
}

fn truncated(value: &str) -> &str {
    value.char_indices().nth(40).map_or(value, |(i, _)| &value[..i])
}

impl AppError {
    fn error_response_owned(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

/// Copies the authentication headers the extractor left in the request's
/// extensions onto the response, errors included.
async fn auth_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    crate::routes::extract::preauthenticate(req.request()).await;
    let mut response = next.call(req).await?;
    let found = crate::routes::extract::auth_headers(response.request());
    if let Some(h) = found {
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        if let Some(exp) = &h.expiration {
            set("proctor-token-expiration", exp);
        }
        set("ratelimit-policy", &h.rate_limit_policy);
        set("ratelimit", &h.rate_limit);
    }
    Ok(response)
}

/// `?limit=&cursor=` of every collection.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

impl PageQuery {
    pub fn limit(&self) -> Result<u32, AppError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(AppError::validation(format!("limit must be between 1 and {MAX_LIMIT}."))),
        }
    }

    /// The decoded cursor: the sort key of the last item of the previous page.
    pub fn after(&self) -> Result<Option<String>, AppError> {
        match &self.cursor {
            None => Ok(None),
            Some(c) => {
                let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| AppError::validation("Invalid cursor."))?;
                String::from_utf8(bytes).map(Some).map_err(|_| AppError::validation("Invalid cursor."))
            }
        }
    }
}

pub fn cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Cuts `items` (up to `limit + 1` rows; the extra one only says that there
/// is a next page) to a page, and gives the cursor of the next one.
pub fn paged<T>(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        let next = items.last().map(|last| cursor(&key(last)));
        (items, next)
    } else {
        (items, None)
    }
}

/// A page of a collection, `{"<items>": [...], "next_cursor": ...}`, as a
/// type its route returns and describes.
macro_rules! page_of {
    ($(#[$doc:meta])* $page:ident, $items:ident: $item:ty) => {
        $(#[$doc])*
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $page {
            pub $items: Vec<$item>,
            /// The `cursor` of the next page; null on the last.
            pub next_cursor: Option<String>,
        }

        impl $page {
            /// The page of `items` (up to `limit + 1` rows) that `key` orders.
            pub fn of(items: Vec<$item>, limit: u32, key: impl Fn(&$item) -> String) -> Self {
                let ($items, next_cursor) = $crate::routes::api::paged(items, limit, key);
                $page { $items, next_cursor }
            }
        }
    };
}
pub(crate) use page_of;

/// `{project}` of a project's route.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The project's slug.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub project: String,
}

/// `{project}` and `{run}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    /// The project's slug.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub project: String,
    /// The run's id.
    pub run: String,
}

/// `{project}` and the `{id}` of an object in it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectItemPath {
    /// The project's slug.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub project: String,
    /// The object's id.
    pub id: String,
}

/// `{id}` of an object outside projects.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    /// The object's id.
    pub id: String,
}

/// Maps a parse error of a validated name to a 400.
pub fn invalid(e: impl std::fmt::Display) -> AppError {
    AppError::validation(e.to_string())
}
