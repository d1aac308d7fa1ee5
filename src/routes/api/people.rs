//! Users and service accounts over the API (`users:admin`).

use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiJson;
use super::{invalid, page_of, IdPath, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db::{self, accounts::Account, accounts::AccountKind};
use crate::domain::names::DisplayName;
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
        .service(update_service_account);
}

page_of!(
    /// A page of users, by id.
    UserPage, users: Account
);

page_of!(
    /// A page of service accounts, by id.
    ServiceAccountPage, service_accounts: Account
);

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
