//! JSON request bodies: [`ApiJson`] for required ones, [`JsonBytes`] for
//! bodies that may be empty. Both refuse anything but JSON (415), bodies
//! over [`MAX_BODY_BYTES`] (413), and JSON that does not fit the route's
//! type (400 `invalid_json`, naming the field: `expires_in_days: invalid type: …`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Largest JSON body any route accepts; the largest real one (a token with
/// every project named) is a few KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A required JSON body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // The content type is checked before anything is read.
        let is_json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(not_json());
            }
            let body = body.await.map_err(payload_error)?;
            parse(&body).map(ApiJson)
        })
    }
}

/// A body that may be empty, read but not yet judged, so that a route can
/// check the project and the caller's permission first and then call
/// [`JsonBytes::parse_or_default`].
#[derive(Debug)]
pub struct JsonBytes {
    body: web::Bytes,
    is_json: bool,
}

impl FromRequest for JsonBytes {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move { Ok(JsonBytes { body: body.await.map_err(payload_error)?, is_json }) })
    }
}

impl JsonBytes {
    /// An empty body means `T::default()` (e.g. `rotate` without
    /// `{"grace_seconds"}`); anything else is held to the same rules as
    /// [`ApiJson`], so a typo is refused instead of silently falling back to
    /// the defaults, which `Option<web::Json<T>>` would do.
    pub fn parse_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, AppError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        if !self.is_json {
            return Err(not_json());
        }
        if self.body.trim_ascii() == b"null" {
            return Ok(T::default());
        }
        parse(&self.body)
    }
}

/// The body size limit for `web::Bytes` bodies under `/api/v1`.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::default().limit(MAX_BODY_BYTES)
}

/// `application/json`, or another `application/…+json` type.
fn is_json(req: &HttpRequest) -> bool {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default();
    content_type == "application/json" || (content_type.starts_with("application/") && content_type.ends_with("+json"))
}

fn not_json() -> AppError {
    AppError::unsupported_media_type("Send JSON with Content-Type: application/json.")
}

/// Deserializes, naming the path to the value that did not fit. Every body
/// is an object (serde would also read a struct from an array).
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.trim_ascii_start().first().is_some_and(|b| *b != b'{') {
        return Err(AppError::bad_request("invalid_json", "Invalid JSON body: expected an object."));
    }
    // The path helps where the JSON is well-formed but a value does not fit.
    let invalid = |path: String, e: serde_json::Error| {
        let message = if path == "." || !e.is_data() {
            format!("Invalid JSON body: {e}")
        } else {
            format!("Invalid JSON body: {path}: {e}")
        };
        AppError::bad_request("invalid_json", message)
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        invalid(path, e.into_inner())
    })?;
    deserializer.end().map_err(|e| invalid(".".into(), e))?;
    Ok(value)
}

fn payload_error(err: actix_web::Error) -> AppError {
    match err.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => {
            AppError::payload_too_large(format!("The JSON body is larger than {MAX_BODY_BYTES} bytes."))
        }
        Some(e) if crate::routes::input::stalled(e) => crate::routes::input::read_error(e, MAX_BODY_BYTES),
        _ => AppError::bad_request("invalid_json", format!("Could not read the JSON body: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        tags: Option<std::collections::HashMap<String, String>>,
    }

    fn message(body: &str) -> String {
        match parse::<Body>(body.as_bytes()) {
            Err(AppError::Client { code, message, .. }) => {
                assert_eq!(code, "invalid_json");
                message
            }
            other => panic!("expected invalid_json, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field_that_did_not_fit() {
        assert!(parse::<Body>(br#"{"name": "n", "tags": {"os": "linux"}}"#).is_ok());
        assert_eq!(
            message(r#"{"name": 5}"#),
            "Invalid JSON body: name: invalid type: integer `5`, expected a string at line 1 column 10"
        );
        assert!(message(r#"{"name": "n", "tags": {"os": 1}}"#).starts_with("Invalid JSON body: tags.os: invalid type"));
        assert_eq!(
            message(r#"{"name": "n", "tags": {"nmae": "n"}, "x": 1}"#),
            "Invalid JSON body: x: unknown field `x`, expected `name` or `tags` at line 1 column 40"
        );
        assert_eq!(message(r#"{}"#), "Invalid JSON body: missing field `name` at line 1 column 2");
        // Syntax errors have no path to name, only a position.
        assert_eq!(message(r#"{"name": "#), "Invalid JSON body: EOF while parsing a value at line 1 column 9");
        assert_eq!(message(r#"{"name": "n"} trailing"#), "Invalid JSON body: trailing characters at line 1 column 15");
    }
}
