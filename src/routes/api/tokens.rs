//! `/api/v1/tokens`: personal access tokens, the public leaked-token
//! revocation endpoint, and the token object keys share.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::token_view::{issued_response, TokenPage, TokenView};
use super::{invalid, IdPath, PageQuery};
use super::{ApiJson, JsonBytes};
use crate::auth::api::ApiCaller;
use crate::auth::client::ClientInfo;
use crate::auth::ProjectScope;
use crate::db::{self, tokens::TokenFilter};
use crate::domain::audit::Actor;
use crate::domain::names::DisplayName;
use crate::domain::permission::{Permission, PermissionSet};
use crate::domain::policy::ExpiryRequest;
use crate::domain::time::{parse_rfc3339, unix_now};
use crate::domain::token::TokenKind;
use crate::error::ErrorBody;
use crate::error::{AppError, AppResult};
use crate::ops::tokens::{self as ops, PatRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        // Before `/tokens/{id}`, which would otherwise take this name.
        .service(revoke_reported)
        .service(revoke)
        .service(update)
        .service(rotate);
}

#[derive(Deserialize, IntoParams)]
struct ListQuery {
    /// Every token of the instance, keys included (needs `tokens:admin`); otherwise the caller's own.
    #[serde(default)]
    all: bool,
    // Not `#[serde(flatten)] PageQuery`: serde_urlencoded cannot read
    // numbers through `flatten` (every `?limit=` would be a 400).
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List tokens
///
/// The caller's own personal access tokens (`tokens:create`), or with
/// `all=true` every token of the instance (`tokens:admin`).
#[utoipa::path(tag = "tokens", operation_id = "list_tokens", params(ListQuery), responses((status = 200, description = "A page of tokens.", body = TokenPage)))]
#[get("/tokens")]
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
    let items: Vec<TokenView> = tokens.iter().map(|t| TokenView::new(t, now, &policy, None)).collect();
    Ok(HttpResponse::Ok().json(TokenPage::of(items, limit, |t| t.id.clone())))
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `expires_in_days` / `expires_at` of a new token or key: absent (`None`),
/// `null` (`Some(None)`), or a value.
pub struct ExpiryFields {
    pub expires_in_days: Option<Option<u32>>,
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

#[derive(Deserialize, ToSchema)]
#[schema(as = NewToken)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "CI upload", "permissions": ["runs:write"], "projects": ["web"], "expires_in_days": 90}))]
struct CreateBody {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// Permission names, e.g. `runs:write`; no more than the caller has.
    #[schema(value_type = Vec<crate::domain::permission::Permission>)]
    permissions: Vec<String>,
    /// Project slugs it may reach; absent or null: every project the owner can see.
    #[serde(default)]
    projects: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    expires_in_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<String>>,
}

/// Create a personal access token
///
/// Owned by the caller's account. Needs `tokens:create`; the new token can
/// have no more permissions or projects than the caller. The secret is in
/// this response only.
#[utoipa::path(
    tag = "tokens",
    operation_id = "create_token",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The token, with its secret in `token`.", body = TokenView,
            links(
            ("update" = (operation_id = "update_token", parameters(("id" = "$response.body#/id")))),
            ("rotate" = (operation_id = "rotate_token", parameters(("id" = "$response.body#/id")))),
            ("revoke" = (operation_id = "revoke_token", parameters(("id" = "$response.body#/id"))))
            )
        ),
        (status = 404, description = "A project in `projects` that does not exist or the caller cannot see (`project_not_found`).", body = ErrorBody),
        (status = 422, description = "An unknown permission name (`invalid_permission`), or a lifetime the policy refuses.", body = ErrorBody),
    )
)]
#[post("/tokens")]
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

/// Revoke a token
///
/// A personal access token of the caller's (`tokens:create`), or any token (`tokens:admin`).
#[utoipa::path(
    tag = "tokens",
    operation_id = "revoke_token",
    params(IdPath),
    responses((status = 204, description = "Revoked."), (status = 404, description = "No such token (`not_found`).", body = ErrorBody))
)]
#[delete("/tokens/{id}")]
async fn revoke(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner().id;
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
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = Rotation)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Seconds the old secret keeps working (0–86400).
    #[serde(default)]
    #[schema(maximum = 86400)]
    pub grace_seconds: u32,
}

/// Rotate a token
///
/// A new secret for the same token; the old one works for `grace_seconds`
/// more (default 0). The body may be empty.
#[utoipa::path(
    tag = "tokens",
    operation_id = "rotate_token",
    params(IdPath),
    request_body(content = Option<RotateBody>, description = "Optional."),
    responses(
        (status = 201, description = "The token, with its new secret in `token`.", body = TokenView),
        (status = 404, description = "No such token (`not_found`).", body = ErrorBody),
        (status = 409, description = "It was rotated already and its successor is in its grace period (`token_rotated`).", body = ErrorBody),
    )
)]
#[post("/tokens/{id}/rotate")]
async fn rotate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
    body: JsonBytes,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner().id;
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

#[derive(Deserialize, ToSchema)]
#[schema(as = TokenChanges)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// Requests per minute (`tokens:admin` only); null: back to the server's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    rate_limit_per_minute: Option<Option<u32>>,
}

/// Update a token
///
/// Rename a token, or (`tokens:admin`) set its rate limit.
#[utoipa::path(
    tag = "tokens",
    operation_id = "update_token",
    params(IdPath),
    request_body = UpdateBody,
    responses((status = 200, description = "The token as it is now.", body = TokenView), (status = 404, description = "No such token (`not_found`).", body = ErrorBody))
)]
#[patch("/tokens/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
    body: ApiJson<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner().id;
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
    Ok(HttpResponse::Ok().json(TokenView::new(&token, now, &policy, None)))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = LeakedToken)]
struct ReportBody {
    /// The leaked secret.
    token: String,
}

/// Report a leaked token
///
/// No authentication: whoever finds a leaked token can kill it. Always 204,
/// so the endpoint says nothing about which tokens exist.
#[utoipa::path(
    tag = "tokens",
    operation_id = "report_leaked_token",
    security(()),
    request_body = ReportBody,
    responses((status = 204, description = "Revoked, if it was a token."))
)]
#[post("/tokens/revoke")]
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
