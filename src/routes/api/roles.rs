//! Roles over the API (`users:admin`): the built-in ones, and custom ones
//! that grant no more than their maker has.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::tokens::parse_permissions;
use super::{invalid, page_of, ApiJson, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db::{self, roles::Role};
use crate::domain::names::RoleName;
use crate::domain::permission::Permission;
use crate::error::{AppError, ErrorBody};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_roles).service(create_role).service(update_role).service(delete_role);
}

page_of!(
    /// A page of roles: the built-in ones, then custom ones by name.
    RolePage, roles: Role
);

/// `{name}` of a role.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct RolePath {
    /// The role's name.
    name: String,
}

/// List roles
///
/// The built-in roles first, then custom ones by name; the cursor is the
/// last name. Needs `users:admin`.
#[utoipa::path(tag = "people", operation_id = "list_roles", params(PageQuery), responses((status = 200, description = "A page of roles.", body = RolePage)))]
#[get("/roles")]
async fn list_roles(
    state: web::Data<AppState>,
    caller: ApiCaller,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let limit = page.limit()?;
    let after = page.after()?;
    let roles = state.db.read(db::roles::list).await?;
    let start = match after {
        Some(name) => roles.iter().position(|r| r.name == name).map_or(roles.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<_> = roles.into_iter().skip(start).take(limit as usize + 1).collect();
    Ok(HttpResponse::Ok().json(RolePage::of(page, limit, |r| r.name.clone())))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewRole)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci-admin", "permissions": ["runs:read", "runs:write", "projects:manage"]}))]
struct RoleBody {
    /// 1–40 lowercase letters, digits, `-` or `_`; not a built-in role's name.
    #[schema(pattern = "^[a-z0-9_-]{1,40}$")]
    name: String,
    #[schema(value_type = Vec<crate::domain::permission::Permission>)]
    permissions: Vec<String>,
}

/// Create a role
///
/// A custom role, granting no more than the caller has. Needs `users:admin`. Audited.
#[utoipa::path(
    tag = "people",
    operation_id = "create_role",
    request_body = RoleBody,
    responses(
        (status = 201, description = "The role.", body = Role,
            links(
            ("update" = (operation_id = "update_role", parameters(("name" = "$response.body#/name")))),
            ("delete" = (operation_id = "delete_role", parameters(("name" = "$response.body#/name"))))
            )
        ),
        (status = 409, description = "The name is taken (`role_exists`).", body = ErrorBody),
        (status = 422, description = "An unknown permission name (`invalid_permission`).", body = ErrorBody),
    )
)]
#[post("/roles")]
async fn create_role(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: ApiJson<RoleBody>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let body = body.into_inner();
    let name = RoleName::parse(&body.name).map_err(invalid)?;
    let permissions = parse_permissions(&body.permissions)?;
    let role = state
        .db
        .write(move |tx| {
            crate::ops::roles::create(tx, &caller.audit(), caller.principal.permissions, &name, permissions)
        })
        .await?;
    Ok(HttpResponse::Created().json(role))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = RoleChanges)]
#[serde(deny_unknown_fields)]
struct RolePatch {
    #[schema(value_type = Vec<crate::domain::permission::Permission>)]
    permissions: Vec<String>,
}

/// Update a role
///
/// Only the permissions of a custom role change; it keeps its name, and its
/// holders have the new permissions at once. Needs `users:admin`. Audited.
#[utoipa::path(
    tag = "people",
    operation_id = "update_role",
    params(RolePath),
    request_body = RolePatch,
    responses(
        (status = 200, description = "The role as it is now.", body = Role),
        (status = 404, description = "No such role (`not_found`).", body = ErrorBody),
        (status = 409, description = "A built-in role, which cannot change (`builtin_role`).", body = ErrorBody),
        (status = 422, description = "An unknown permission name (`invalid_permission`).", body = ErrorBody),
    )
)]
#[patch("/roles/{name}")]
async fn update_role(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RolePath>,
    body: ApiJson<RolePatch>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let permissions = parse_permissions(&body.permissions)?;
    let name = path.into_inner().name;
    let role = state
        .db
        .write(move |tx| {
            crate::ops::roles::update(tx, &caller.audit(), caller.principal.permissions, &name, permissions)
        })
        .await?;
    Ok(HttpResponse::Ok().json(role))
}

/// Delete a role
///
/// A custom role no account holds. Needs `users:admin`. Audited.
#[utoipa::path(
    tag = "people",
    operation_id = "delete_role",
    params(RolePath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such role (`not_found`).", body = ErrorBody),
        (status = 409, description = "A built-in role (`builtin_role`), or one accounts still hold (`role_in_use`).", body = ErrorBody),
    )
)]
#[delete("/roles/{name}")]
async fn delete_role(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<RolePath>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let name = path.into_inner().name;
    state.db.write(move |tx| crate::ops::roles::delete(tx, &caller.audit(), &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}
