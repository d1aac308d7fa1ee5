//! `/api/v1/whoami`, `/api/v1/tokens` (personal access tokens), the public
//! leaked-token revocation endpoint and `/api/v1/settings/token-policy`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::{collection, invalid, PageQuery};
use super::{ApiJson, JsonBytes};
use crate::auth::api::ApiCaller;
use crate::auth::client::ClientInfo;
use crate::auth::ProjectScope;
use crate::db::{self, tokens::Token, tokens::TokenFilter};
use crate::domain::audit::Actor;
use crate::domain::names::DisplayName;
use crate::domain::permission::{Permission, PermissionSet};
use crate::domain::policy::{ExpiryRequest, TokenPolicy};
use crate::domain::time::{from_unix, parse_rfc3339, rfc3339_unix, unix_now};
use crate::domain::token::{TokenKind, TokenSecret};
use crate::error::{AppError, AppResult};
use crate::ops::tokens::{self as ops, Issued, PatRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/whoami", web::get().to(whoami))
        .route("/tokens", web::get().to(list))
        .route("/tokens", web::post().to(create))
        .route("/tokens/revoke", web::post().to(revoke_reported))
        .route("/tokens/{id}", web::delete().to(revoke))
        .route("/tokens/{id}", web::patch().to(update))
        .route("/tokens/{id}/rotate", web::post().to(rotate))
        .route("/settings/token-policy", web::get().to(get_policy))
        .route("/settings/token-policy", web::put().to(put_policy));
}

/// The API's token object; `secret` only in the response that creates it.
pub fn token_json(t: &Token, now: i64, policy: &TokenPolicy, secret: Option<&TokenSecret>) -> Value {
    let mut v = json!({
        "id": t.id,
        "kind": t.kind.as_str(),
        "name": t.name,
        "preview": t.preview,
        "permissions": t.permissions.names(),
        "projects": t.project_slugs(),
        "owner": t.owner,
        "status": t.status(now).as_str(),
        "created_at": rfc3339_unix(t.created_at),
        "created_by": t.created_by,
        "expires_at": t.expires_at.map(rfc3339_unix),
        "last_used_at": t.last_used_at.map(rfc3339_unix),
        "last_used_ip": t.last_used_ip,
        "last_used_user_agent": t.last_used_user_agent,
        "recent_ips": t.recent_ips,
        "request_count": t.request_count,
        "rate_limit_per_minute": t.rate_limit_per_minute,
        "exceeds_policy": policy.exceeds(from_unix(t.created_at), t.expires_at.map(from_unix)),
    });
    if let Some(secret) = secret {
        v["token"] = Value::String(secret.expose_secret().to_string());
    }
    v
}

/// 201 with the new token and its secret; never cached.
pub fn issued_response(issued: &Issued, policy: &TokenPolicy) -> HttpResponse {
    HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(token_json(
        &issued.token,
        unix_now(),
        policy,
        Some(&issued.secret),
    ))
}

async fn whoami(caller: ApiCaller) -> Result<HttpResponse, AppError> {
    let t = &caller.auth.token;
    let mut body = json!({
        "token": {
            "id": t.id,
            "kind": t.kind.as_str(),
            "name": t.name,
            "preview": t.preview,
            "permissions": caller.principal.permissions.names(),
            "projects": t.project_slugs(),
            "expires_at": t.expires_at.map(rfc3339_unix),
        }
    });
    // Answered from the token check's cache: the owner or project was read with the token.
    // A service account appears under "user" too (without an email), as the contract has it.
    if let Some(account) = &caller.auth.owner {
        body["user"] = serde_json::to_value(account).map_err(AppError::internal)?;
    }
    if let Some(project) = &caller.auth.project {
        body["project"] = serde_json::to_value(project).map_err(AppError::internal)?;
    }
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: bool,
    // Not `#[serde(flatten)] PageQuery`: serde_urlencoded cannot read
    // numbers through `flatten` (every `?limit=` would be a 400).
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let mut filter = if query.all {
        caller.principal.require(Permission::TokensAdmin)?;
        TokenFilter::default()
    } else {
        caller.principal.require(Permission::TokensCreate)?;
        let owner = caller.principal.account_id.clone().ok_or(AppError::MissingPermission(Permission::TokensCreate))?;
        TokenFilter { owner_id: Some(owner), kind: Some(TokenKind::Pat), ..Default::default() }
    };
    if let ProjectScope::Only(ids) = &caller.principal.projects {
        filter.within_projects = Some(ids.clone());
    }
    let page = PageQuery { limit: query.limit, cursor: query.cursor };
    let limit = page.limit()?;
    let after = page.after()?;
    let now = unix_now();
    let (tokens, policy) = state
        .db
        .read(move |c| -> AppResult<_> {
            Ok((db::tokens::list(c, &filter, after.as_deref(), limit + 1, now)?, db::settings::token_policy(c)?))
        })
        .await?;
    let items: Vec<Value> = tokens.iter().map(|t| token_json(t, now, &policy, None)).collect();
    Ok(collection("tokens", items, limit, |v| v["id"].as_str().unwrap_or_default().to_string()))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryFields {
    #[serde(default, deserialize_with = "present")]
    pub expires_in_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<String>>,
}

impl ExpiryFields {
    /// Absent → the policy's default; a number or an instant → that; `null` → never.
    pub fn request(&self) -> Result<ExpiryRequest, AppError> {
        match (&self.expires_in_days, &self.expires_at) {
            (None, None) => Ok(ExpiryRequest::Default),
            (Some(Some(days)), None) | (Some(Some(days)), Some(None)) => Ok(ExpiryRequest::InDays(*days)),
            (None, Some(Some(at))) | (Some(None), Some(Some(at))) => parse_rfc3339(at)
                .map(ExpiryRequest::At)
                .ok_or_else(|| AppError::validation(format!("expires_at {at:?} is not an RFC 3339 instant."))),
            (Some(Some(_)), Some(Some(_))) => {
                Err(AppError::validation("Give expires_in_days or expires_at, not both."))
            }
            (Some(None), None) | (None, Some(None)) | (Some(None), Some(None)) => Ok(ExpiryRequest::Never),
        }
    }
}

pub fn parse_permissions(names: &[String]) -> Result<PermissionSet, AppError> {
    PermissionSet::parse(names.iter().map(String::as_str))
        .map_err(|e| AppError::unprocessable("invalid_permission", e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    permissions: Vec<String>,
    #[serde(default)]
    projects: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    expires_in_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<String>>,
}

async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::TokensCreate)?;
    let body = body.into_inner();
    let owner = caller.principal.account_id.clone().ok_or(AppError::MissingPermission(Permission::TokensCreate))?;
    let expiry = ExpiryFields { expires_in_days: body.expires_in_days, expires_at: body.expires_at }.request()?;
    let req = PatRequest {
        name: DisplayName::parse(&body.name).map_err(invalid)?,
        permissions: parse_permissions(&body.permissions)?,
        projects: body.projects,
        expiry,
    };
    let st = state.clone();
    let (issued, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let issued = ops::create_pat(tx, &st.key, &caller.audit(), &caller.principal, &owner, req)?;
            Ok((issued, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(issued_response(&issued, &policy))
}

async fn revoke(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    state
        .db
        .write(move |tx| {
            let token = ops::load(tx, &id)?;
            ops::may_manage(&caller.principal, &token)?;
            ops::revoke(tx, &caller.audit(), &token, "revoked")
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `{"grace_seconds"}` of a rotation (PATs and keys); empty body: 0.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    #[serde(default)]
    pub grace_seconds: u32,
}

async fn rotate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: JsonBytes,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let grace = body.parse_or_default::<RotateBody>()?.grace_seconds;
    let st = state.clone();
    let (issued, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::load(tx, &id)?;
            ops::may_manage(&caller.principal, &token)?;
            let issued = ops::rotate(tx, &st.key, &caller.audit(), &caller.principal, &token, grace)?;
            Ok((issued, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(issued_response(&issued, &policy))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    rate_limit_per_minute: Option<Option<u32>>,
}

async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: ApiJson<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let name = body.name.as_deref().map(DisplayName::parse).transpose().map_err(invalid)?;
    let now = unix_now();
    let (token, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::load(tx, &id)?;
            ops::may_manage(&caller.principal, &token)?;
            let token =
                ops::update_token(tx, &caller.audit(), &caller.principal, &token, name, body.rate_limit_per_minute)?;
            Ok((token, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(token_json(&token, now, &policy, None)))
}

#[derive(Deserialize)]
struct ReportBody {
    token: String,
}

/// No authentication: whoever finds a leaked token can kill it. Always 204,
/// so the endpoint says nothing about which tokens exist.
async fn revoke_reported(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: ApiJson<ReportBody>,
) -> Result<HttpResponse, AppError> {
    let ctx = client.audit(Actor { name: Some("leaked-token report".into()), ..Actor::system() });
    let st = state.clone();
    state.db.write(move |tx| ops::revoke_reported(tx, &st.key, &ctx, &body.token)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn get_policy(state: web::Data<AppState>, _caller: ApiCaller) -> Result<HttpResponse, AppError> {
    let policy = state.db.read(db::settings::token_policy).await?;
    Ok(HttpResponse::Ok().json(policy))
}

async fn put_policy(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: ApiJson<TokenPolicy>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::TokensAdmin)?;
    let policy = body.into_inner();
    let saved = policy.clone();
    state.db.write(move |tx| crate::ops::token_policy::set_policy(tx, &caller.audit(), &policy)).await?;
    Ok(HttpResponse::Ok().json(saved))
}
