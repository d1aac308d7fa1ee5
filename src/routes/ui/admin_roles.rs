//! Settings → Roles (`users:admin`): the built-in roles, and custom roles
//! with permission checkboxes.

use actix_web::{web, HttpResponse};

use super::token_forms::PermissionChecks;
use super::Submitted;
use super::{html, see_other, CsrfOnly, Notice, RawForm};
use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::db;
use crate::domain::names::RoleName;
use crate::domain::permission::{Permission, PermissionSet};
use crate::error::{AppError, AppResult, PageResult};
use crate::state::AppState;
use crate::views::{permission_choices, FormError, Layout, RoleEditPage, RoleRow, RolesPage};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/admin/roles", web::get().to(list))
        .route("/settings/admin/roles", web::post().to(create))
        .route("/settings/admin/roles/{name}", web::get().to(edit))
        .route("/settings/admin/roles/{name}", web::post().to(update))
        .route("/settings/admin/roles/{name}/delete", web::post().to(delete));
}

/// Form fields `permission=runs:read&permission=...`, parsed by hand because
/// serde_urlencoded cannot collect repeated keys.
pub(super) fn parse_form(body: &[u8]) -> (String, Option<String>, PermissionChecks) {
    let mut csrf = String::new();
    let mut name = None;
    let mut permissions = PermissionChecks::default();
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "csrf_token" => csrf = value.into_owned(),
            "name" => name = Some(value.into_owned()),
            "permission" => permissions.add(&value),
            _ => {}
        }
    }
    (csrf, name, permissions)
}

async fn roles_page(
    state: &AppState,
    user: &SessionUser,
    notice: Option<&'static str>,
    error: Option<FormError>,
    form: (String, PermissionSet),
) -> Result<RolesPage, AppError> {
    let roles = state
        .db
        .read(|c| {
            db::roles::list(c)?
                .into_iter()
                .map(|r| {
                    let holders = db::roles::holders(c, &r.name)?;
                    Ok(RoleRow { permissions: r.permissions.names(), name: r.name, builtin: r.builtin, holders })
                })
                .collect::<Result<Vec<_>, AppError>>()
        })
        .await?;
    Ok(RolesPage {
        layout: Layout::new(user, "Roles", "roles").with_notice(notice).with_error(error),
        roles,
        choices: permission_choices(form.1, user.principal.permissions),
        form_name: form.0,
    })
}

async fn list(state: web::Data<AppState>, user: SessionUser, notice: web::Query<Notice>) -> PageResult<RolesPage> {
    user.principal.require(Permission::UsersAdmin)?;
    Ok(roles_page(&state, &user, notice.text(), None, Default::default()).await?)
}

async fn create(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    RawForm(body): RawForm,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::UsersAdmin)?;
    let (csrf, name, permissions) = parse_form(&body);
    user.verify_csrf(&state, &csrf)?;
    let permissions = permissions.checked()?;
    let raw_name = name.unwrap_or_default();
    let ctx = client.audit(user.principal.actor.clone());
    let held = user.principal.permissions;
    let result = match RoleName::parse(&raw_name) {
        Ok(name) => state
            .db
            .write(move |tx| crate::ops::roles::create(tx, &ctx, held, &name, permissions))
            .await
            .map_err(AppError::from),
        Err(e) => Err(AppError::invalid("name", e.to_string())),
    };
    match result {
        Ok(_) => Ok(see_other("/settings/admin/roles?notice=role_created")),
        Err(e) => {
            let e = e.on_form()?;
            let page = roles_page(&state, &user, None, Some(FormError::of(&e)), (raw_name, permissions)).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

async fn edit_page(
    state: &AppState,
    user: &SessionUser,
    name: String,
    error: Option<FormError>,
) -> Result<RoleEditPage, AppError> {
    let lookup = name.clone();
    let (role, holders) = state
        .db
        .read(move |c| -> AppResult<_> {
            let role =
                db::roles::get(c, &lookup)?.ok_or_else(|| AppError::not_found(format!("No role named {lookup:?}.")))?;
            let holders = db::roles::holders(c, &lookup)?;
            Ok((role, holders))
        })
        .await?;
    if role.builtin {
        return Err(AppError::conflict("builtin_role", "Built-in roles cannot be changed."));
    }
    Ok(RoleEditPage {
        layout: Layout::new(user, format!("Role {name}"), "roles").with_error(error),
        choices: permission_choices(role.permissions, user.principal.permissions),
        name,
        holders,
    })
}

async fn edit(state: web::Data<AppState>, user: SessionUser, name: web::Path<String>) -> PageResult<RoleEditPage> {
    user.principal.require(Permission::UsersAdmin)?;
    Ok(edit_page(&state, &user, name.into_inner(), None).await?)
}

async fn update(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    name: web::Path<String>,
    RawForm(body): RawForm,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::UsersAdmin)?;
    let (csrf, _, permissions) = parse_form(&body);
    user.verify_csrf(&state, &csrf)?;
    let permissions = permissions.checked()?;
    let name = name.into_inner();
    let ctx = client.audit(user.principal.actor.clone());
    let held = user.principal.permissions;
    let target = name.clone();
    match state.db.write(move |tx| crate::ops::roles::update(tx, &ctx, held, &target, permissions)).await {
        Ok(_) => Ok(see_other("/settings/admin/roles?notice=role_updated")),
        Err(e) => {
            let e = AppError::from(e).on_form()?;
            let page = edit_page(&state, &user, name, Some(FormError::of(&e))).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

async fn delete(
    state: web::Data<AppState>,
    name: web::Path<String>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::UsersAdmin)?;
    let ctx = client.audit(user.principal.actor.clone());
    let name = name.into_inner();
    match state.db.write(move |tx| crate::ops::roles::delete(tx, &ctx, &name)).await {
        Ok(()) => Ok(see_other("/settings/admin/roles?notice=role_deleted")),
        Err(e) => {
            let e = AppError::from(e).on_form()?;
            let page = roles_page(&state, &user, None, Some(FormError::of_row(&e)), Default::default()).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}
