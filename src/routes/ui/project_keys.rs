//! Project Settings → API keys. Like the API (`GET …/keys`), only
//! `projects:manage` sees the keys (previews, last use with its address and
//! user agent, status), and creates, disables and enables, re-scopes,
//! rotates and deletes them. New secrets are shown once,
//! like personal tokens (see [`super::tokens`]).

use actix_web::{web, HttpRequest, HttpResponse};

use super::token_forms::{parse_grace, secret_response, server_url, ExpiryInput, PermissionChecks, RotateForm};
use super::Submitted;
use super::{html, see_other, CsrfOnly, RawForm};
use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::auth::Principal;
use crate::db::tokens::Token;
use crate::db::Tx;
use crate::domain::audit::AuditContext;
use crate::domain::names::DisplayName;
use crate::domain::permission::Permission;
use crate::domain::policy::TokenPolicy;
use crate::error::{AppError, AppResult, PageResult};
use crate::ops::tokens::{self as ops, Issued, KeyRequest};
use crate::ops::OpsError;
use crate::state::AppState;
use crate::views::{
    key_permission_choices, project_settings_page, FormError, KeyForm, ProjectSettingsPage, SecretContext,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects/{slug}/keys", web::post().to(create))
        .route("/projects/{slug}/keys/{id}", web::post().to(update))
        .route("/projects/{slug}/keys/{id}/disable", web::post().to(disable))
        .route("/projects/{slug}/keys/{id}/enable", web::post().to(enable))
        .route("/projects/{slug}/keys/{id}/rotate", web::post().to(rotate))
        .route("/projects/{slug}/keys/{id}/delete", web::post().to(delete));
}

/// The key form (create, or edit name and permissions) as submitted.
#[derive(Debug, Default)]
pub(super) struct KeyInput {
    csrf: String,
    name: String,
    permissions: PermissionChecks,
    expiry: ExpiryInput,
}

impl KeyInput {
    pub(super) fn parse(body: &[u8]) -> KeyInput {
        let mut form = KeyInput::default();
        for (key, value) in form_urlencoded::parse(body) {
            match key.as_ref() {
                "csrf_token" => form.csrf = value.into_owned(),
                "name" => form.name = value.into_owned(),
                "permission" => form.permissions.add(&value),
                other => {
                    form.expiry.take(other, &value);
                }
            }
        }
        form
    }

    /// The name, once the permissions named exist.
    pub(super) fn name(&self) -> Result<DisplayName, AppError> {
        self.permissions.checked()?;
        DisplayName::parse(&self.name).map_err(|e| AppError::invalid(KEY_NAME_FIELD, e.to_string()))
    }

    pub(super) fn request(&self, policy: &TokenPolicy) -> Result<KeyRequest, AppError> {
        let name = self.name()?;
        Ok(KeyRequest { name, permissions: self.permissions.checked()?, expiry: self.expiry.request(policy)? })
    }
}

/// The project settings page, with its keys; `input` refills the new-key form.
pub(super) async fn settings_page(
    state: &AppState,
    user: &SessionUser,
    slug: String,
    notice: Option<&'static str>,
    error: Option<FormError>,
    input: &KeyInput,
) -> Result<ProjectSettingsPage, AppError> {
    let held = user.principal.permissions;
    let key_form = |policy: &TokenPolicy| KeyForm {
        name: input.name.clone(),
        choices: key_permission_choices(input.permissions.set, held),
        expiry: input.expiry.field(policy),
    };
    project_settings_page(&state.db, user, slug, notice, error, key_form).await
}

/// The new-key form's name field, as errors name it (the project's own
/// form on the same page has a `name` too).
pub(super) const KEY_NAME_FIELD: &str = "key_name";

/// Re-renders the settings page with `e` above it, at `e`'s status.
/// `input` is the new-key form as sent, which comes back filled in with its
/// field at fault marked; `None` for a key's own row form, whose fields the
/// page does not mark.
async fn rerender(
    state: &AppState,
    user: &SessionUser,
    slug: String,
    e: AppError,
    input: Option<&KeyInput>,
) -> PageResult<HttpResponse> {
    let error = if input.is_some() { FormError::of(&e) } else { FormError::of_row(&e) };
    let page = settings_page(state, user, slug, None, Some(error), input.unwrap_or(&KeyInput::default())).await?;
    html(HttpResponse::build(e.status()), &page)
}

fn settings_url(slug: &str, notice: &str) -> String {
    let slug: String = form_urlencoded::byte_serialize(slug.as_bytes()).collect();
    format!("/projects/{slug}/settings?notice={notice}")
}

/// A new API key of project `slug`.
async fn issue(
    state: &AppState,
    user: &SessionUser,
    client: &ClientInfo,
    slug: &str,
    request: KeyRequest,
) -> AppResult<Issued> {
    let ctx = client.audit(user.principal.actor.clone());
    let (by, key, target) = (user.principal.clone(), state.key.clone(), slug.to_string());
    Ok(state.db.write(move |tx| ops::create_key(tx, &key, &ctx, &by, &target, request)).await?)
}

async fn create(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    req: HttpRequest,
    slug: web::Path<String>,
    RawForm(body): RawForm,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let input = KeyInput::parse(&body);
    user.verify_csrf(&state, &input.csrf)?;
    let slug = slug.into_inner();
    let policy = super::token_forms::token_policy(&state).await?;
    let result = match input.request(&policy) {
        Ok(request) => issue(&state, &user, &client, &slug, request).await.map_err(|e| input.expiry.blame(e)),
        Err(e) => Err(e),
    };
    match result {
        Ok(issued) => secret_response(&user, issued, back_to_settings("API key created", &state, &req, &slug)),
        Err(e) => rerender(&state, &user, slug, e.on_form()?, Some(&input)).await,
    }
}

/// Renames a key and sets its permissions.
async fn update(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    path: web::Path<(String, String)>,
    RawForm(body): RawForm,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let input = KeyInput::parse(&body);
    user.verify_csrf(&state, &input.csrf)?;
    let (slug, id) = path.into_inner();
    let permissions = input.permissions.set;
    let result = match input.name() {
        Ok(name) => {
            on_key(&state, &user, &client, &slug, id, move |tx, ctx, by, key| {
                ops::update_key(tx, ctx, by, key, Some(name), Some(permissions), None)
            })
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&settings_url(&slug, "key_updated"))),
        Err(e) => rerender(&state, &user, slug, e.on_form()?, None).await,
    }
}

/// Makes `change` to key `id` of project `slug` (which `user` must manage)
/// in one write, audited as `user` from `client`.
async fn on_key<T: Send + 'static>(
    state: &AppState,
    user: &SessionUser,
    client: &ClientInfo,
    slug: &str,
    id: String,
    change: impl FnOnce(&Tx, &AuditContext, &Principal, &Token) -> Result<T, OpsError> + Send + 'static,
) -> AppResult<T> {
    let ctx = client.audit(user.principal.actor.clone());
    let (by, slug) = (user.principal.clone(), slug.to_string());
    let done = state.db.write(move |tx| -> AppResult<T> {
        let key = ops::project_key(tx, &by, &slug, &id)?;
        Ok(change(tx, &ctx, &by, &key)?)
    });
    done.await
}

async fn set_disabled(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
    disabled: bool,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let (slug, id) = path.into_inner();
    on_key(&state, &user, &client, &slug, id, move |tx, ctx, by, key| {
        ops::update_key(tx, ctx, by, key, None, None, Some(disabled))
    })
    .await?;
    Ok(see_other(&settings_url(&slug, if disabled { "key_disabled" } else { "key_enabled" })))
}

async fn disable(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    submitted: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    set_disabled(state, path, submitted, true).await
}

async fn enable(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    submitted: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    set_disabled(state, path, submitted, false).await
}

async fn rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    Submitted { user, client, form }: Submitted<RotateForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let grace = parse_grace(form.grace_seconds.as_deref())?;
    let (slug, id) = path.into_inner();
    let secrets = state.key.clone();
    let (old, issued) = on_key(&state, &user, &client, &slug, id, move |tx, ctx, by, old| {
        Ok((old.clone(), ops::rotate(tx, &secrets, ctx, by, old, grace)?))
    })
    .await?;
    secret_response(&user, issued, back_to_settings("API key rotated", &state, &req, &slug).rotated(old, grace))
}

fn back_to_settings(heading: &'static str, state: &AppState, req: &HttpRequest, slug: &str) -> SecretContext {
    let back = format!("/projects/{slug}/settings");
    SecretContext::created(heading, server_url(state, req), back, "Back to project settings")
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let (slug, id) = path.into_inner();
    on_key(&state, &user, &client, &slug, id, move |tx, ctx, _, key| ops::delete_key(tx, ctx, key)).await?;
    Ok(see_other(&settings_url(&slug, "key_deleted")))
}
