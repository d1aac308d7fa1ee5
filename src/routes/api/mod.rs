//! The JSON API under `/api/v1`. Every route takes an [`ApiCaller`] (the
//! token extractor) and checks one permission; errors are the contract's
//! `{"error", "message"}`. Authenticated responses carry
//! `Proctor-Token-Expiration` and the IETF rate-limit headers.
//!
//! [`ApiCaller`]: crate::auth::api::ApiCaller

mod attachments;
mod audit;
mod json;
mod keys;
mod people;
mod projects;
mod quarantine;
mod results;
mod runs;
mod tokens;

pub use json::{ApiJson, JsonBytes};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(from_fn(auth_headers))
            .app_data(json::payload_config())
            .app_data(web::QueryConfig::default().error_handler(|err, req| query_error(&err, req).into()))
            .app_data(web::PathConfig::default().error_handler(|err, _| AppError::validation(err.to_string()).into()))
            // A project's routes first, in one scope (their paths are
            // relative to it): the project segment is matched once, and the
            // routes after it mostly by plain string comparison. (Thirty
            // full-path patterns tried in turn were 14% of a keyed read.)
            .service(
                web::scope("/projects/{project}")
                    .configure(projects::configure_one)
                    .configure(keys::configure)
                    .configure(runs::configure)
                    .configure(results::configure)
                    .configure(attachments::configure)
                    .configure(quarantine::configure)
                    // A nested scope falls back to the App's default, not
                    // /api/v1's: say it again, in the contract's shape.
                    .default_service(web::to(no_such_route)),
            )
            .configure(tokens::configure)
            .configure(projects::configure)
            .configure(people::configure)
            .configure(audit::configure)
            .default_service(web::to(no_such_route)),
    );
}

async fn no_such_route() -> HttpResponse {
    AppError::not_found("No such API route.").error_response_owned()
}

/// A query string that does not fit its route's parameters. serde's own
/// message does not name the parameter ("invalid digit found in string"), so
/// the typed ones are checked here by name first.
fn query_error(err: &actix_web::error::QueryPayloadError, req: &actix_web::HttpRequest) -> AppError {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let wrong = |(key, value): &(String, String)| match key.as_str() {
        "limit" if value.parse::<u32>().is_err() => Some(format!("a whole number between 1 and {MAX_LIMIT}")),
        "days" if value.parse::<u32>().is_err() => Some(format!("a whole number between 1 and {}", results::MAX_DAYS)),
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
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub limit: Option<u32>,
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

/// `{"<name>": [...], "next_cursor": ...}`: `items` holds up to `limit + 1`
/// rows; the extra one only says that there is a next page.
pub fn collection<T: Serialize>(name: &str, mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> HttpResponse {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| cursor(&key(last)))
    } else {
        None
    };
    let mut body = serde_json::Map::new();
    body.insert(name.into(), serde_json::to_value(items).unwrap_or_default());
    body.insert("next_cursor".into(), next.map(serde_json::Value::String).unwrap_or(serde_json::Value::Null));
    HttpResponse::Ok().json(body)
}

/// Maps a parse error of a validated name to a 400.
pub fn invalid(e: impl std::fmt::Display) -> AppError {
    AppError::validation(e.to_string())
}
