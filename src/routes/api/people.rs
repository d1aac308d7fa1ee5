//! Users, service accounts and roles over the API (`users:admin`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::tokens::parse_permissions;
use super::ApiJson;
use super::{collection, invalid, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db::{self, accounts::AccountKind};
use crate::domain::names::{DisplayName, RoleName};
use crate::domain::new_user::NewUser;
use crate::domain::permission::Permission;
use crate::error::{AppError, AppResult};
use crate::ops::accounts::{AccountChanges, Granter};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(list_users))
        .route("/users", web::post().to(create_user))
        .route("/users/{id}", web::patch().to(update_user))
        .route("/service-accounts", web::get().to(list_service_accounts))
        .route("/service-accounts", web::post().to(create_service_account))
        .route("/service-accounts/{id}", web::patch().to(update_service_account))
        .route("/roles", web::get().to(list_roles))
        .route("/roles", web::post().to(create_role))
        .route("/roles/{name}", web::patch().to(update_role))
        .route("/roles/{name}", web::delete().to(delete_role));
}

async fn list_accounts(
    state: &AppState,
    caller: &ApiCaller,
    kind: AccountKind,
    page: &PageQuery,
    name: &str,
) -> Result<HttpResponse, AppError> {
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
    Ok(collection(name, accounts, limit, |a| a.id.clone()))
}

async fn list_users(
    state: web::Data<AppState>,
    caller: ApiCaller,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    list_accounts(&state, &caller, AccountKind::User, &page, "users").await
}

async fn list_service_accounts(
    state: web::Data<AppState>,
    caller: ApiCaller,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    list_accounts(&state, &caller, AccountKind::ServiceAccount, &page, "service_accounts").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    name: String,
    #[serde(default = "member")]
    role: String,
    password: String,
}

fn member() -> String {
    "member".into()
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateServiceAccount {
    name: String,
    #[serde(default = "member")]
    role: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateAccount {
    name: Option<String>,
    role: Option<String>,
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

async fn update_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: ApiJson<UpdateAccount>,
) -> Result<HttpResponse, AppError> {
    update_account(&state, caller, id.into_inner(), AccountKind::User, body.into_inner()).await
}

async fn update_service_account(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: ApiJson<UpdateAccount>,
) -> Result<HttpResponse, AppError> {
    update_account(&state, caller, id.into_inner(), AccountKind::ServiceAccount, body.into_inner()).await
}

/// Built-in roles first, then custom ones by name; the cursor is the last name.
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
    Ok(collection("roles", page, limit, |r| r.name.clone()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    name: String,
    permissions: Vec<String>,
}

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

/// Only the permissions of a role change; it keeps its name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolePatch {
    permissions: Vec<String>,
}

async fn update_role(
    state: web::Data<AppState>,
    caller: ApiCaller,
    name: web::Path<String>,
    body: ApiJson<RolePatch>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let permissions = parse_permissions(&body.permissions)?;
    let name = name.into_inner();
    let role = state
        .db
        .write(move |tx| {
            crate::ops::roles::update(tx, &caller.audit(), caller.principal.permissions, &name, permissions)
        })
        .await?;
    Ok(HttpResponse::Ok().json(role))
}

async fn delete_role(
    state: web::Data<AppState>,
    caller: ApiCaller,
    name: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::UsersAdmin)?;
    let name = name.into_inner();
    state.db.write(move |tx| crate::ops::roles::delete(tx, &caller.audit(), &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}
