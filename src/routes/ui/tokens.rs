//! Settings → Access Tokens (`tokens:create`): one's own personal access
//! tokens, the generate form, the show-once page, revoke and rotate. The
//! pieces shared with project API keys (expiry input, the secret page) are
//! in [`super::token_forms`].

use actix_web::{web, HttpRequest, HttpResponse};

use super::token_forms::{
    parse_grace, secret_response, server_url, token_policy, ExpiryInput, PermissionChecks, RotateForm,
};
use super::Submitted;
use super::{html, see_other, CsrfOnly, Notice, RawForm};
use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::db::{self};
use crate::domain::names::DisplayName;
use crate::domain::permission::Permission;
use crate::domain::policy::TokenPolicy;
use crate::error::{AppError, AppResult, PageResult};
use crate::ops::tokens::{self as ops, Issued, PatRequest};
use crate::state::AppState;
use crate::views::{
    own_tokens_page, permission_choices, FormError, Layout, NewTokenPage, ProjectChoice, SecretContext, TokensPage,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/tokens", web::get().to(list))
        .route("/settings/tokens", web::post().to(create))
        .route("/settings/tokens/new", web::get().to(new))
        .route("/settings/tokens/{id}/revoke", web::post().to(revoke))
        .route("/settings/tokens/{id}/rotate", web::post().to(rotate));
}

async fn list(state: web::Data<AppState>, user: SessionUser, notice: web::Query<Notice>) -> PageResult<TokensPage> {
    user.principal.require(Permission::TokensCreate)?;
    Ok(own_tokens_page(&state.db, &user, notice.text()).await?)
}

/// The generate form as submitted (repeated `permission` and `project` fields).
#[derive(Debug, Default)]
pub(super) struct TokenForm {
    csrf: String,
    name: String,
    permissions: PermissionChecks,
    only_selected: bool,
    projects: Vec<String>,
    expiry: ExpiryInput,
}

impl TokenForm {
    pub(super) fn parse(body: &[u8]) -> TokenForm {
        let mut form = TokenForm::default();
        for (key, value) in form_urlencoded::parse(body) {
            match key.as_ref() {
                "csrf_token" => form.csrf = value.into_owned(),
                "name" => form.name = value.into_owned(),
                "permission" => form.permissions.add(&value),
                "project_scope" => form.only_selected = value == "selected",
                "project" => form.projects.push(value.into_owned()),
                other => {
                    form.expiry.take(other, &value);
                }
            }
        }
        form
    }

    pub(super) fn request(&self, policy: &TokenPolicy) -> Result<PatRequest, AppError> {
        let permissions = self.permissions.checked()?;
        let name = DisplayName::parse(&self.name).map_err(|e| AppError::invalid("name", e.to_string()))?;
        ops::require_some(permissions)?;
        let projects = if self.only_selected {
            if self.projects.is_empty() {
                return Err(AppError::invalid("project", "Choose at least one project, or All projects."));
            }
            Some(self.projects.clone())
        } else {
            None
        };
        Ok(PatRequest { name, permissions, projects, expiry: self.expiry.request(policy)? })
    }
}

async fn new_page(
    state: &AppState,
    user: &SessionUser,
    form: &TokenForm,
    error: Option<FormError>,
) -> Result<NewTokenPage, AppError> {
    let (policy, projects) = state
        .db
        .read(|c| Ok::<_, AppError>((db::settings::token_policy(c)?, db::projects::list(c, None, u32::MAX)?)))
        .await?;
    Ok(NewTokenPage {
        layout: Layout::new(user, "New access token", "tokens").with_error(error),
        name: form.name.clone(),
        expiry: form.expiry.field(&policy),
        choices: permission_choices(form.permissions.set, user.principal.permissions),
        all_projects: !form.only_selected,
        projects: projects
            .into_iter()
            .map(|p| ProjectChoice { checked: form.projects.contains(&p.slug), slug: p.slug, name: p.name })
            .collect(),
    })
}

async fn new(state: web::Data<AppState>, user: SessionUser) -> PageResult<NewTokenPage> {
    user.principal.require(Permission::TokensCreate)?;
    Ok(new_page(&state, &user, &TokenForm::default(), None).await?)
}

/// A new personal access token of `user`'s.
async fn issue(state: &AppState, user: &SessionUser, client: &ClientInfo, request: PatRequest) -> AppResult<Issued> {
    let ctx = client.audit(user.principal.actor.clone());
    let (by, owner, key) = (user.principal.clone(), user.account.id.clone(), state.key.clone());
    Ok(state.db.write(move |tx| ops::create_pat(tx, &key, &ctx, &by, &owner, request)).await?)
}

async fn create(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    req: HttpRequest,
    RawForm(body): RawForm,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensCreate)?;
    let form = TokenForm::parse(&body);
    user.verify_csrf(&state, &form.csrf)?;
    let policy = token_policy(&state).await?;
    let result = match form.request(&policy) {
        Ok(request) => issue(&state, &user, &client, request).await.map_err(|e| form.expiry.blame(e)),
        Err(e) => Err(e),
    };
    match result {
        Ok(issued) => secret_response(&user, issued, back_to_tokens("Token created", &state, &req)),
        Err(e) => {
            let e = e.on_form_or_missing()?;
            let page = new_page(&state, &user, &form, Some(FormError::of(&e))).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

async fn revoke(
    state: web::Data<AppState>,
    id: web::Path<String>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensCreate)?;
    let ctx = client.audit(user.principal.actor.clone());
    let by = user.principal.clone();
    let id = id.into_inner();
    state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::own_pat(tx, &by, &id)?;
            Ok(ops::revoke(tx, &ctx, &token, "revoked")?)
        })
        .await?;
    Ok(see_other("/settings/tokens?notice=token_revoked"))
}

async fn rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    Submitted { user, client, form }: Submitted<RotateForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensCreate)?;
    let grace = parse_grace(form.grace_seconds.as_deref())?;
    let ctx = client.audit(user.principal.actor.clone());
    let by = user.principal.clone();
    let key = state.key.clone();
    let id = id.into_inner();
    let (old, issued) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let old = ops::own_pat(tx, &by, &id)?;
            let issued = ops::rotate(tx, &key, &ctx, &by, &old, grace)?;
            Ok((old, issued))
        })
        .await?;
    secret_response(&user, issued, back_to_tokens("Token rotated", &state, &req).rotated(old, grace))
}

fn back_to_tokens(heading: &'static str, state: &AppState, req: &HttpRequest) -> SecretContext {
    SecretContext::created(heading, server_url(state, req), "/settings/tokens".into(), "Back to your tokens")
}
