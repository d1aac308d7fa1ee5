//! Users, service accounts and roles over the API (`users:admin`).

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::tokens::parse_permissions;
use super::ApiJson;
use super::{invalid, page_of, IdPath, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db::roles::Role;
use crate::db::{self, accounts::Account, accounts::AccountKind};
use crate::domain::names::{DisplayName, RoleName};
use crate::domain::new_user::NewUser;
use crate::domain::permission::Permission;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::ops::accounts::{AccountChanges, Granter};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(update_user)
        .service(list_service_accounts)
        .service(create_service_account)
        .service(update_service_account)
        .service(list_roles)
        .service(create_role)
        .service(update_role)
        .service(delete_role);
}

page_of!(
    /// A page of users, by id.
    UserPage, users: Account
);

page_of!(
    /// A page of service accounts, by id.
    ServiceAccountPage, service_accounts: Account
);

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

/// Up to `limit + 1` accounts of `kind` after the page's cursor, and the limit.
async fn list_accounts(
    state: &AppState,
    caller: &ApiCaller,
    kind: AccountKind,
    page: &PageQuery,
) -> Result<(Vec<Account>, u32), AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let limit = page.limit()?;
    let after = page.after()?;
    let accounts = state
        .db
        .read(move |c| -> AppResult<_> {
            let all = db::accounts::list(c, kind)?;
            Ok(all
                .into_iter()
                .filter(|a| after.as_deref().is_none_or(|id| a.id.as_str() > id))
                .take(limit as usize + 1)
                .collect::<Vec<_>>())
        })
        .await?;
    Ok((accounts, limit))
}

/// List users
///
/// Needs `users:admin`.
#[utoipa::path(tag = "people", operation_id = "list_users", params(PageQuery), responses((status = 200, description = "A page of users.", body = UserPage)))]
#[get("/users")]
async fn list_users(
    state: web::Data<AppState>,
    caller: ApiCaller,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let (accounts, limit) = list_accounts(&state, &caller, AccountKind::User, &page).await?;
    Ok(HttpResponse::Ok().json(UserPage::of(accounts, limit, |a| a.id.clone())))
}

/// List service accounts
///
/// Needs `users:admin`.
#[utoipa::path(tag = "people", operation_id = "list_service_accounts", params(PageQuery), responses((status = 200, description = "A page of service accounts.", body = ServiceAccountPage)))]
#[get("/service-accounts")]
async fn list_service_accounts(
    state: web::Data<AppState>,
    caller: ApiCaller,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let (accounts, limit) = list_accounts(&state, &caller, AccountKind::ServiceAccount, &page).await?;
    Ok(HttpResponse::Ok().json(ServiceAccountPage::of(accounts, limit, |a| a.id.clone())))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewUser)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "name": "Ada", "role": "member", "password": "correct horse battery staple"}))]
struct CreateUser {
    #[schema(max_length = 254)]
    email: String,
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// A built-in or custom role; default `member`.
    #[serde(default = "member")]
    role: String,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    password: String,
}

fn member() -> String {
    "member".into()
}

/// Create a user
///
/// Needs `users:admin`; the role can grant no more than the caller has. Audited.
#[utoipa::path(
    tag = "people",
    operation_id = "create_user",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The user.", body = Account,
            links(
            ("update" = (operation_id = "update_user", parameters(("id" = "$response.body#/id"))))
            )
        ),
        (status = 409, description = "The email is taken (`email_taken`).", body = ErrorBody),
        (status = 422, description = "No such role (`unknown_role`).", body = ErrorBody),
    )
)]
#[post("/users")]
async fn create_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: ApiJson<CreateUser>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let body = body.into_inner();
    let NewUser { email, name, password } = NewUser::parse(&body.email, &body.name, body.password).map_err(invalid)?;
    let hash = state.passwords.hash(password).await?;
    let account = state
        .db
        .write(move |tx| {
            let ctx = caller.audit();
            let by = Granter { ctx: &ctx, permissions: Some(caller.principal.permissions) };
            crate::ops::accounts::create_user(tx, &by, &email, &name, &body.role, &hash)
        })
        .await?;
    Ok(HttpResponse::Created().json(account))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewServiceAccount)]
#[serde(deny_unknown_fields)]
struct CreateServiceAccount {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// A built-in or custom role; default `member`.
    #[serde(default = "member")]
    role: String,
}

/// Create a service account
///
/// An account for automation, which owns personal access tokens but cannot
/// sign in. Needs `users:admin`. Audited.
#[utoipa::path(
    tag = "people",
    operation_id = "create_service_account",
    request_body = CreateServiceAccount,
    responses(
        (status = 201, description = "The service account.", body = Account,
            links(
            ("update" = (operation_id = "update_service_account", parameters(("id" = "$response.body#/id"))))
            )
        ),
        (status = 422, description = "No such role (`unknown_role`).", body = ErrorBody),
    )
)]
#[post("/service-accounts")]
async fn create_service_account(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: ApiJson<CreateServiceAccount>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let body = body.into_inner();
    let name = DisplayName::parse(&body.name).map_err(invalid)?;
    let account = state
        .db
        .write(move |tx| {
            let ctx = caller.audit();
            let by = Granter { ctx: &ctx, permissions: Some(caller.principal.permissions) };
            crate::ops::accounts::create_service_account(tx, &by, &name, &body.role)
        })
        .await?;
    Ok(HttpResponse::Created().json(account))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AccountChanges)]
#[serde(deny_unknown_fields)]
struct UpdateAccount {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    role: Option<String>,
    /// False deactivates the account: its sessions end and its tokens stop working.
    active: Option<bool>,
}

async fn update_account(
    state: &AppState,
    caller: ApiCaller,
    id: String,
    kind: AccountKind,
    body: UpdateAccount,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let changes = AccountChanges {
        name: body.name.as_deref().map(DisplayName::parse).transpose().map_err(invalid)?,
        role: body.role,
        active: body.active,
    };
    let account = state
        .db
        .write(move |tx| {
            let ctx = caller.audit();
            let by = Granter { ctx: &ctx, permissions: Some(caller.principal.permissions) };
            crate::ops::accounts::update(tx, &by, caller.principal.account_id.as_deref(), &id, kind, changes)
        })
        .await?;
    Ok(HttpResponse::Ok().json(account))
}

/// Update a user
///
/// Rename, change the role, deactivate or reactivate. Needs `users:admin`. Audited.
#[utoipa::path(
    tag = "people",
    operation_id = "update_user",
    params(IdPath),
    request_body = UpdateAccount,
    responses(
        (status = 200, description = "The user as it is now.", body = Account),
        (status = 404, description = "No such user (`not_found`).", body = ErrorBody),
        (status = 409, description = "The change would leave no active administrator (`last_admin`), or deactivate the caller (`cannot_deactivate_self`).", body = ErrorBody),
        (status = 422, description = "No such role (`unknown_role`).", body = ErrorBody),
    )
)]
#[patch("/users/{id}")]
async fn update_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
    body: ApiJson<UpdateAccount>,
) -> Result<HttpResponse, AppError> {
    update_account(&state, caller, path.into_inner().id, AccountKind::User, body.into_inner()).await
}

/// Update a service account
///
/// Rename, change the role, deactivate or reactivate. Needs `users:admin`. Audited.
#[utoipa::path(
    tag = "people",
    operation_id = "update_service_account",
    params(IdPath),
    request_body = UpdateAccount,
    responses(
        (status = 200, description = "The service account as it is now.", body = Account),
        (status = 404, description = "No such service account (`not_found`).", body = ErrorBody),
        (status = 422, description = "No such role (`unknown_role`).", body = ErrorBody),
    )
)]
#[patch("/service-accounts/{id}")]
async fn update_service_account(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
    body: ApiJson<UpdateAccount>,
) -> Result<HttpResponse, AppError> {
    update_account(&state, caller, path.into_inner().id, AccountKind::ServiceAccount, body.into_inner()).await
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
