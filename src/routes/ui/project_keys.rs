//! Project Settings → API keys. Like the API (`GET …/keys`), only
//! `projects:manage` sees the keys (previews, last use with its address and
//! user agent, status), and creates, disables and enables, re-scopes,
//! rotates and deletes them. New secrets are shown once,
//! like personal tokens (see [`super::tokens`]).

use actix_web::{web, HttpRequest, HttpResponse};

use super::token_forms::{
    parse_grace, secret_response, server_url, ExpiryInput, PermissionChecks, RotateForm, SecretContext,
};
use super::Submitted;
use super::{html, see_other, CsrfOnly, RawForm};
use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::db::tokens::TokenFilter;
use crate::db::{self};
use crate::domain::names::DisplayName;
use crate::domain::permission::Permission;
use crate::domain::policy::TokenPolicy;
use crate::domain::time::unix_now;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult, PageResult};
use crate::ops::tokens::{self as ops, KeyRequest};
use crate::state::AppState;
use crate::views::{key_permission_choices, KeyForm, Layout, ProjectSettingsPage, TokenRow};

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
    fn parse(body: &[u8]) -> KeyInput {
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
    fn name(&self) -> Result<DisplayName, AppError> {
        self.permissions.checked()?;
        DisplayName::parse(&self.name).map_err(|e| AppError::validation(e.to_string()))
    }

    fn request(&self, policy: &TokenPolicy) -> Result<KeyRequest, AppError> {
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
    error: Option<String>,
    input: &KeyInput,
) -> Result<ProjectSettingsPage, AppError> {
    let now = unix_now();
    let by = user.principal.clone();
    let can_manage = user.principal.may(Permission::ProjectsManage);
    let (project, policy, keys) = state
        .db
        .read(move |c| -> AppResult<_> {
            let project = crate::ops::visible_project(c, &by, &slug)?;
            let keys = if can_manage {
                let filter =
                    TokenFilter { kind: Some(TokenKind::Key), project_id: Some(project.id), ..Default::default() };
                db::tokens::list(c, &filter, None, u32::MAX, now)?
            } else {
                Vec::new()
            };
            Ok((project, db::settings::token_policy(c)?, keys))
        })
        .await?;
    let held = user.principal.permissions;
    Ok(ProjectSettingsPage {
        layout: Layout::new(user, format!("{} settings", project.name), "projects")
            .with_notice(notice)
            .with_error(error),
        project,
        can_manage,
        keys: keys.iter().map(|k| TokenRow::key(k, &policy, now, held)).collect(),
        key_form: KeyForm {
            name: input.name.clone(),
            choices: key_permission_choices(input.permissions.set, held),
            expiry: input.expiry.field(&policy),
        },
    })
}

/// Re-renders the settings page with `e` above it, at `e`'s status.
async fn rerender(
    state: &AppState,
    user: &SessionUser,
    slug: String,
    e: AppError,
    input: &KeyInput,
) -> PageResult<HttpResponse> {
    let page = settings_page(state, user, slug, None, Some(e.form_sentence()), input).await?;
    html(HttpResponse::build(e.status()), &page)
}

fn settings_url(slug: &str, notice: &str) -> String {
    let slug: String = form_urlencoded::byte_serialize(slug.as_bytes()).collect();
    format!("/projects/{slug}/settings?notice={notice}")
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
        Ok(request) => {
            let ctx = client.audit(user.principal.actor.clone());
            let by = user.principal.clone();
            let key = state.key.clone();
            let target = slug.clone();
            state
                .db
                .write(move |tx| ops::create_key(tx, &key, &ctx, &by, &target, request))
                .await
                .map_err(AppError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(issued) => secret_response(
            &user,
            issued,
            SecretContext {
                heading: "API key created",
                server_url: server_url(&state, &req),
                back_href: format!("/projects/{slug}/settings"),
                back_label: "Back to project settings",
                rotated: None,
            },
        ),
        Err(e) => rerender(&state, &user, slug, e.on_form()?, &input).await,
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
    let result = match input.name() {
        Ok(name) => {
            let ctx = client.audit(user.principal.actor.clone());
            let by = user.principal.clone();
            let (target, permissions) = (slug.clone(), input.permissions.set);
            state
                .db
                .write(move |tx| -> AppResult<_> {
                    let token = ops::project_key(tx, &by, &target, &id)?;
                    Ok(ops::update_key(tx, &ctx, &by, &token, Some(name), Some(permissions), None)?)
                })
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&settings_url(&slug, "key_updated"))),
        Err(e) => rerender(&state, &user, slug, e.on_form()?, &KeyInput::default()).await,
    }
}

async fn set_disabled(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
    disabled: bool,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let (slug, id) = path.into_inner();
    let ctx = client.audit(user.principal.actor.clone());
    let by = user.principal.clone();
    let target = slug.clone();
    state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::project_key(tx, &by, &target, &id)?;
            Ok(ops::update_key(tx, &ctx, &by, &token, None, None, Some(disabled))?)
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
    let ctx = client.audit(user.principal.actor.clone());
    let by = user.principal.clone();
    let key = state.key.clone();
    let target = slug.clone();
    let (old, issued) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let old = ops::project_key(tx, &by, &target, &id)?;
            let issued = ops::rotate(tx, &key, &ctx, &by, &old, grace)?;
            Ok((old, issued))
        })
        .await?;
    secret_response(
        &user,
        issued,
        SecretContext {
            heading: "API key rotated",
            server_url: server_url(&state, &req),
            back_href: format!("/projects/{slug}/settings"),
            back_label: "Back to project settings",
            rotated: Some((old, grace)),
        },
    )
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let (slug, id) = path.into_inner();
    let ctx = client.audit(user.principal.actor.clone());
    let by = user.principal.clone();
    let target = slug.clone();
    state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::project_key(tx, &by, &target, &id)?;
            Ok(ops::delete_key(tx, &ctx, &token)?)
        })
        .await?;
    Ok(see_other(&settings_url(&slug, "key_deleted")))
}
