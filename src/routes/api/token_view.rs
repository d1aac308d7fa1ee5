//! The token object as the API shows it (API.md section 2), for personal
//! access tokens and project keys alike, and pages of them.

use actix_web::http::header;
use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::page_of;
use crate::db::tokens::{Token, TokenStatus};
use crate::domain::audit::Actor;
use crate::domain::policy::TokenPolicy;
use crate::domain::time::{from_unix, rfc3339_unix, unix_now};
use crate::domain::token::{TokenKind, TokenSecret};
use crate::ops::tokens::Issued;

/// The API's token object (API.md section 2).
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub kind: TokenKind,
    pub name: String,
    /// The token's first characters, to recognise it by.
    pub preview: String,
    #[schema(value_type = Vec<crate::domain::permission::Permission>)]
    pub permissions: Vec<&'static str>,
    /// Slugs of the projects it may reach; null: every project its owner can see.
    pub projects: Option<Vec<String>>,
    /// The user or service account a personal access token belongs to.
    pub owner: Option<Actor>,
    pub status: TokenStatus,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_by: Actor,
    /// Null: never.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub last_used_user_agent: Option<String>,
    pub recent_ips: Vec<String>,
    pub request_count: i64,
    /// Requests per minute; null: the server's default.
    pub rate_limit_per_minute: Option<u32>,
    /// Whether its lifetime is longer than the expiration policy allows now.
    pub exceeds_policy: bool,
    /// The secret: only in the response that creates or rotates the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl TokenView {
    pub fn new(t: &Token, now: i64, policy: &TokenPolicy, secret: Option<&TokenSecret>) -> TokenView {
        TokenView {
            id: t.id.clone(),
            kind: t.kind,
            name: t.name.clone(),
            preview: t.preview.clone(),
            permissions: t.permissions.names(),
            projects: t.project_slugs(),
            owner: t.owner.clone(),
            status: t.status(now),
            created_at: rfc3339_unix(t.created_at),
            created_by: t.created_by.clone(),
            expires_at: t.expires_at.map(rfc3339_unix),
            last_used_at: t.last_used_at.map(rfc3339_unix),
            last_used_ip: t.last_used_ip.clone(),
            last_used_user_agent: t.last_used_user_agent.clone(),
            recent_ips: t.recent_ips.clone(),
            request_count: t.request_count,
            rate_limit_per_minute: t.rate_limit_per_minute,
            exceeds_policy: policy.exceeds(from_unix(t.created_at), t.expires_at.map(from_unix)),
            token: secret.map(|s| s.expose_secret().to_string()),
        }
    }
}

/// 201 with the new token and its secret; never cached.
pub fn issued_response(issued: &Issued, policy: &TokenPolicy) -> HttpResponse {
    HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(TokenView::new(
        &issued.token,
        unix_now(),
        policy,
        Some(&issued.secret),
    ))
}

page_of!(
    /// A page of tokens, newest first.
    TokenPage, tokens: TokenView
);

page_of!(
    /// A page of a project's API keys, newest first.
    KeyPage, keys: TokenView
);
