//! Project API keys: `/api/v1/projects/{project}/keys` (`projects:manage`).

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::token_view::{issued_response, KeyPage, TokenView};
use super::tokens::{parse_permissions, present, ExpiryFields, RotateBody};
use super::{invalid, PageQuery, ProjectItemPath, ProjectPath};
use super::{ApiJson, JsonBytes};
use crate::auth::api::ApiCaller;
use crate::db::{self, tokens::TokenFilter};
use crate::domain::names::DisplayName;
use crate::domain::permission::Permission;
use crate::domain::time::unix_now;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::ops::tokens::{self as ops, KeyRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(update).service(delete).service(rotate);
}

/// List a project's API keys
///
/// Needs `projects:manage`.
#[utoipa::path(tag = "projects", operation_id = "list_keys", params(ProjectPath, PageQuery), responses((status = 200, description = "A page of the project's keys.", body = KeyPage)))]
#[get("/keys")]
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let limit = query.limit()?;
    let after = query.after()?;
    let now = unix_now();
    let (keys, policy) = state
        .db
        .read(move |c| -> AppResult<_> {
            let project = crate::ops::visible_project(c, &caller.principal, &slug)?;
            caller.principal.require(Permission::ProjectsManage)?;
            let filter = TokenFilter { kind: Some(TokenKind::Key), project_id: Some(project.id), ..Default::default() };
            Ok((db::tokens::list(c, &filter, after.as_deref(), limit + 1, now)?, db::settings::token_policy(c)?))
        })
        .await?;
    let items: Vec<_> = keys.iter().map(|k| TokenView::new(k, now, &policy, None)).collect();
    Ok(HttpResponse::Ok().json(KeyPage::of(items, limit, |k| k.id.clone())))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewKey)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "CI", "permissions": ["runs:write", "runs:read"], "expires_in_days": 90}))]
struct CreateBody {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// Permission names a key may hold: `projects:read`, `runs:read`, `runs:write`, `artifacts:write`.
    #[schema(value_type = Vec<crate::domain::permission::Permission>)]
    permissions: Vec<String>,
    /// Days until it expires; null: never (if the policy allows); absent: the policy's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    expires_in_days: Option<Option<u32>>,
    /// The instant it expires, instead of `expires_in_days`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<Option<String>>,
}

/// Create a project API key
///
/// Needs `projects:manage`. The secret is in this response only.
#[utoipa::path(
    tag = "projects",
    operation_id = "create_key",
    params(ProjectPath),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The key, with its secret in `token`.", body = TokenView,
            links(
            ("update" = (operation_id = "update_key", parameters(("project" = "$request.path.project"), ("id" = "$response.body#/id")))),
            ("rotate" = (operation_id = "rotate_key", parameters(("project" = "$request.path.project"), ("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_key", parameters(("project" = "$request.path.project"), ("id" = "$response.body#/id"))))
            )
        ),
        (status = 422, description = "A permission a key cannot hold (`invalid_permission`), or a lifetime the policy refuses.", body = ErrorBody),
    )
)]
#[post("/keys")]
async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let body = body.into_inner();
    let expiry = ExpiryFields { expires_in_days: body.expires_in_days, expires_at: body.expires_at };
    let req = KeyRequest {
        name: DisplayName::parse(&body.name).map_err(invalid)?,
        permissions: parse_permissions(&body.permissions)?,
        expiry: expiry.request()?,
    };
    let st = state.clone();
    let (issued, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let issued = ops::create_key(tx, &st.key, &caller.audit(), &caller.principal, &slug, req)?;
            Ok((issued, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(issued_response(&issued, &policy))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = KeyChanges)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(value_type = Option<Vec<crate::domain::permission::Permission>>)]
    permissions: Option<Vec<String>>,
    /// A disabled key is refused (401 `token_disabled`) until enabled again.
    disabled: Option<bool>,
}

/// Update a project API key
///
/// Rename it, change its permissions, disable or enable it. Needs `projects:manage`.
#[utoipa::path(
    tag = "projects",
    operation_id = "update_key",
    params(ProjectItemPath),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The token as it is now.", body = TokenView),
        (status = 422, description = "A permission a key cannot hold (`invalid_permission`).", body = ErrorBody),
    )
)]
#[patch("/keys/{id}")]
async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
    body: ApiJson<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project: slug, id } = path.into_inner();
    let body = body.into_inner();
    let name = body.name.as_deref().map(DisplayName::parse).transpose().map_err(invalid)?;
    let permissions = body.permissions.as_deref().map(parse_permissions).transpose()?;
    let now = unix_now();
    let (token, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::project_key(tx, &caller.principal, &slug, &id)?;
            let token =
                ops::update_key(tx, &caller.audit(), &caller.principal, &token, name, permissions, body.disabled)?;
            Ok((token, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(TokenView::new(&token, now, &policy, None)))
}

/// Delete a project API key
///
/// Needs `projects:manage`.
#[utoipa::path(tag = "projects", operation_id = "delete_key", params(ProjectItemPath), responses((status = 204, description = "Deleted.")))]
#[delete("/keys/{id}")]
async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project: slug, id } = path.into_inner();
    state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::project_key(tx, &caller.principal, &slug, &id)?;
            Ok(ops::delete_key(tx, &caller.audit(), &token)?)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a project API key
///
/// A new secret for the same key; the old one works for `grace_seconds`
/// more (default 0). The body may be empty. Needs `projects:manage`.
#[utoipa::path(
    tag = "projects",
    operation_id = "rotate_key",
    params(ProjectItemPath),
    request_body(content = Option<RotateBody>, description = "Optional."),
    responses(
        (status = 201, description = "The key, with its new secret in `token`.", body = TokenView),
        (status = 409, description = "It was rotated already and its successor is in its grace period (`token_rotated`).", body = ErrorBody),
    )
)]
#[post("/keys/{id}/rotate")]
async fn rotate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
    body: JsonBytes,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project: slug, id } = path.into_inner();
    let grace = body.parse_or_default::<RotateBody>()?.grace_seconds;
    let st = state.clone();
    let (issued, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::project_key(tx, &caller.principal, &slug, &id)?;
            let issued = ops::rotate(tx, &st.key, &caller.audit(), &caller.principal, &token, grace)?;
            Ok((issued, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(issued_response(&issued, &policy))
}
