//! `GET /metrics` (API.md section 10) and the middleware that counts every
//! request by its route template. Off unless `--metrics-token` is set
//! (404); then only that bearer token reads them (401 otherwise, compared in
//! constant time).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::AppError;
use crate::metrics::CONTENT_TYPE;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(scrape));
}

async fn scrape(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let Some(token) = &state.config.metrics_token else {
        return Err(AppError::not_found("Metrics are off: start the server with --metrics-token."));
    };
    let presented = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let bearer = presented.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if !token.matches(bearer) {
        return Ok(HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="proctor-metrics""#))
            .json(serde_json::json!({"error": "invalid_token", "message": "Present the metrics token as a bearer token."})));
    }
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render()))
}

/// Counts the request and its latency under its route's template (never its
/// path: ids would make a series each) and a known method.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let response = next.call(req).await?;
    let request = response.request();
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_string());
        state.metrics.request(&route, method, response.status().as_u16(), started.elapsed());
    }
    Ok(response)
}
