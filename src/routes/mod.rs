//! HTTP routes: the JSON API under `/api/v1`, the web UI, `/healthz` and the
//! embedded static files.

pub mod api;
mod download;
pub mod extract;
pub mod input;
pub mod metrics;
pub mod ui;

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse};

use crate::db::attachments::Attachment;
use crate::domain::attachment::{content_disposition, safe_content_type};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/static/style.css", web::get().to(style_css))
        .route("/static/app.js", web::get().to(app_js))
        .configure(metrics::configure)
        .configure(download::configure)
        .configure(api::configure)
        .configure(ui::configure);
}

/// Headers for every response; handlers may override them (e.g. `no-store`).
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::CACHE_CONTROL, "no-cache"))
}

/// An attachment as the API and the pages serve it: always a download
/// (`Content-Disposition: attachment`) with an allow-listed type, sandboxed
/// should a browser render it anyway, never cached by shared caches.
pub fn attachment_download(found: &Attachment, bytes: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, safe_content_type(Some(&found.content_type), &found.filename)))
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&found.filename)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(bytes)
}

/// 200 when the database answers, 503 otherwise (no authentication).
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    match web::block(move || db.ping()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Ok(Err(e)) => {
            log::error!("health check: {e}");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
        Err(e) => {
            log::error!("health check: {e}");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}

const STYLE_CSS: &str = include_str!("../../static/style.css");
const APP_JS: &str = include_str!("../../static/app.js");

fn static_file(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
        .body(body)
}

async fn style_css() -> HttpResponse {
    static_file(STYLE_CSS, "text/css; charset=utf-8")
}

async fn app_js() -> HttpResponse {
    static_file(APP_JS, "text/javascript; charset=utf-8")
}
