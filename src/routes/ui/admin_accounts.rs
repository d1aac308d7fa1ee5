//! Settings → Users and Service accounts (`users:admin`): create, change
//! role, deactivate/reactivate, reset a password.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::Submitted;
use super::{html, see_other, Notice};
use crate::auth::session::SessionUser;
use crate::db::{self, accounts::AccountKind};
use crate::domain::names::DisplayName;
use crate::domain::new_user::NewUser;
use crate::domain::password;
use crate::domain::permission::Permission;
use crate::error::{AppError, PageResult};
use crate::ops::accounts::{AccountChanges, Granter};
use crate::state::AppState;
use crate::views::{AccountRow, FormError, Layout, NewAccountFields, ServiceAccountsPage, UsersPage, When};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/admin/users", web::get().to(users))
        .route("/settings/admin/users", web::post().to(create_user))
        .route("/settings/admin/users/{id}", web::post().to(update_user))
        .route("/settings/admin/users/{id}/password", web::post().to(reset_password))
        .route("/settings/admin/service-accounts", web::get().to(service_accounts))
        .route("/settings/admin/service-accounts", web::post().to(create_service_account))
        .route("/settings/admin/service-accounts/{id}", web::post().to(update_service_account));
}

fn rows(accounts: Vec<db::accounts::Account>, me: &str) -> Vec<AccountRow> {
    accounts
        .into_iter()
        .map(|a| AccountRow { created: When::at(a.created_at), is_self: a.id == me, account: a })
        .collect()
}

async fn load(state: &AppState, kind: AccountKind) -> Result<(Vec<db::accounts::Account>, Vec<String>), AppError> {
    state
        .db
        .read(move |c| {
            let accounts = db::accounts::list(c, kind)?;
            let roles = db::roles::list(c)?.into_iter().map(|r| r.name).collect();
            Ok((accounts, roles))
        })
        .await
}

async fn users_page(
    state: &AppState,
    user: &SessionUser,
    notice: Option<&'static str>,
    error: Option<FormError>,
    new: NewAccountFields,
) -> Result<UsersPage, AppError> {
    let (accounts, roles) = load(state, AccountKind::User).await?;
    Ok(UsersPage {
        layout: Layout::new(user, "Users", "users").with_notice(notice).with_error(error),
        users: rows(accounts, &user.account.id),
        roles,
        new,
    })
}

async fn service_accounts_page(
    state: &AppState,
    user: &SessionUser,
    notice: Option<&'static str>,
    error: Option<FormError>,
    new: NewAccountFields,
) -> Result<ServiceAccountsPage, AppError> {
    let (accounts, roles) = load(state, AccountKind::ServiceAccount).await?;
    Ok(ServiceAccountsPage {
        layout: Layout::new(user, "Service accounts", "service-accounts").with_notice(notice).with_error(error),
        accounts: rows(accounts, &user.account.id),
        roles,
        new,
    })
}

async fn users(state: web::Data<AppState>, user: SessionUser, notice: web::Query<Notice>) -> PageResult<UsersPage> {
    user.principal.require(Permission::UsersAdmin)?;
    Ok(users_page(&state, &user, notice.text(), None, NewAccountFields::default()).await?)
}

async fn service_accounts(
    state: web::Data<AppState>,
    user: SessionUser,
    notice: web::Query<Notice>,
) -> PageResult<ServiceAccountsPage> {
    user.principal.require(Permission::UsersAdmin)?;
    Ok(service_accounts_page(&state, &user, notice.text(), None, NewAccountFields::default()).await?)
}

/// Client errors re-render the page with the message; others propagate.
/// `typed` is the add form's fields when it was that form: it comes back
/// filled in, its field at fault marked. A row's form (one action on one
/// account) is not marked: the add form's fields share its names.
async fn or_rerender(
    state: &AppState,
    user: &SessionUser,
    kind: AccountKind,
    result: Result<&'static str, AppError>,
    typed: Option<NewAccountFields>,
) -> PageResult<HttpResponse> {
    let base = match kind {
        AccountKind::User => "/settings/admin/users",
        AccountKind::ServiceAccount => "/settings/admin/service-accounts",
    };
    match result {
        Ok(notice) => Ok(see_other(&format!("{base}?notice={notice}"))),
        Err(e) => {
            let e = e.on_form_or_missing()?;
            let error = Some(if typed.is_some() { FormError::of(&e) } else { FormError::of_row(&e) });
            let (response, new) = (HttpResponse::build(e.status()), typed.unwrap_or_default());
            match kind {
                AccountKind::User => html(response, &users_page(state, user, None, error, new).await?),
                AccountKind::ServiceAccount => {
                    html(response, &service_accounts_page(state, user, None, error, new).await?)
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CreateUserForm {
    email: String,
    name: String,
    role: String,
    password: String,
}

async fn create_user(
    state: web::Data<AppState>,
    Submitted { user, client, form }: Submitted<CreateUserForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::UsersAdmin)?;
    let result = async {
        let NewUser { email, name, password } = NewUser::parse(&form.email, &form.name, form.password.clone())?;
        let hash = state.passwords.hash(password).await?;
        let ctx = client.audit(user.principal.actor.clone());
        let held = user.principal.permissions;
        let role = form.role.clone();
        state
            .db
            .write(move |tx| {
                let by = Granter { ctx: &ctx, permissions: Some(held) };
                crate::ops::accounts::create_user(tx, &by, &email, &name, &role, &hash)
            })
            .await?;
        Ok("user_created")
    }
    .await;
    let typed = NewAccountFields { email: form.email.clone(), name: form.name.clone(), role: form.role.clone() };
    or_rerender(&state, &user, AccountKind::User, result, Some(typed)).await
}

#[derive(Deserialize)]
pub(super) struct CreateServiceAccountForm {
    name: String,
    role: String,
}

async fn create_service_account(
    state: web::Data<AppState>,
    Submitted { user, client, form }: Submitted<CreateServiceAccountForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::UsersAdmin)?;
    let typed = NewAccountFields { email: String::new(), name: form.name.clone(), role: form.role.clone() };
    let result = async {
        let name = DisplayName::parse(&form.name).map_err(|e| AppError::invalid("name", e.to_string()))?;
        let ctx = client.audit(user.principal.actor.clone());
        let held = user.principal.permissions;
        state
            .db
            .write(move |tx| {
                let by = Granter { ctx: &ctx, permissions: Some(held) };
                crate::ops::accounts::create_service_account(tx, &by, &name, &form.role)
            })
            .await?;
        Ok("sa_created")
    }
    .await;
    or_rerender(&state, &user, AccountKind::ServiceAccount, result, Some(typed)).await
}

/// One form per row action: `role` to change the role, `active` to (de)activate.
#[derive(Deserialize)]
pub(super) struct UpdateForm {
    role: Option<String>,
    active: Option<bool>,
}

async fn apply_update(
    state: web::Data<AppState>,
    Submitted { user, client, form }: Submitted<UpdateForm>,
    id: String,
    kind: AccountKind,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::UsersAdmin)?;
    let ctx = client.audit(user.principal.actor.clone());
    let held = user.principal.permissions;
    let me = user.account.id.clone();
    let changes = AccountChanges { name: None, role: form.role, active: form.active };
    let result = state
        .db
        .write(move |tx| {
            let by = Granter { ctx: &ctx, permissions: Some(held) };
            crate::ops::accounts::update(tx, &by, Some(&me), &id, kind, changes)
        })
        .await
        .map_err(AppError::from)
        .map(|_| if kind == AccountKind::User { "user_updated" } else { "sa_updated" });
    or_rerender(&state, &user, kind, result, None).await
}

async fn update_user(
    state: web::Data<AppState>,
    id: web::Path<String>,
    submitted: Submitted<UpdateForm>,
) -> PageResult<HttpResponse> {
    apply_update(state, submitted, id.into_inner(), AccountKind::User).await
}

async fn update_service_account(
    state: web::Data<AppState>,
    id: web::Path<String>,
    submitted: Submitted<UpdateForm>,
) -> PageResult<HttpResponse> {
    apply_update(state, submitted, id.into_inner(), AccountKind::ServiceAccount).await
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    password: String,
}

async fn reset_password(
    state: web::Data<AppState>,
    id: web::Path<String>,
    Submitted { user, client, form }: Submitted<PasswordForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::UsersAdmin)?;
    let id = id.into_inner();
    let result = async {
        password::check_rules(&form.password).map_err(|e| AppError::validation(e.to_string()))?;
        let hash = state.passwords.hash(form.password).await?;
        let ctx = client.audit(user.principal.actor.clone());
        let held = user.principal.permissions;
        state
            .db
            .write(move |tx| {
                let by = Granter { ctx: &ctx, permissions: Some(held) };
                crate::ops::accounts::reset_password(tx, &by, &id, &hash)
            })
            .await?;
        Ok("password_reset")
    }
    .await;
    or_rerender(&state, &user, AccountKind::User, result, None).await
}
