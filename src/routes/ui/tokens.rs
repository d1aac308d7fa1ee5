//! Settings → Access Tokens (`tokens:create`): one's own personal access
//! tokens, the generate form, the show-once page, revoke and rotate. The
//! pieces shared with project API keys (expiry input, the secret page) are
//! in [`super::token_forms`].

use actix_web::{web, HttpRequest, HttpResponse};

use super::token_forms::{
    parse_grace, secret_response, server_url, token_policy, ExpiryInput, PermissionChecks, RotateForm, SecretContext,
};
use super::Submitted;
use super::{html, see_other, CsrfOnly, Notice, RawForm};
use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::db::tokens::{Token, TokenFilter, TokenStatus};
use crate::db::Tx;
use crate::db::{self, DbError, Missing};
use crate::domain::names::DisplayName;
use crate::domain::permission::Permission;
use crate::domain::policy::TokenPolicy;
use crate::domain::time::unix_now;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult, PageResult};
use crate::ops::tokens::{self as ops, PatRequest};
use crate::state::AppState;
use crate::views::{
    permission_choices, ExpiringToken, Layout, NewTokenPage, ProjectChoice, TokenRow, TokensPage, When, DAY_SECS,
    WEEK_SECS,
};

/// How many of one's own tokens the table shows.
const MAX_OWN_TOKENS: u32 = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/tokens", web::get().to(list))
        .route("/settings/tokens", web::post().to(create))
        .route("/settings/tokens/new", web::get().to(new))
        .route("/settings/tokens/{id}/revoke", web::post().to(revoke))
        .route("/settings/tokens/{id}/rotate", web::post().to(rotate));
}

async fn list(state: web::Data<AppState>, user: SessionUser, notice: web::Query<Notice>) -> PageResult<TokensPage> {
    user.principal.require(Permission::TokensCreate)?;
    let now = unix_now();
    let filter =
        TokenFilter { owner_id: Some(user.account.id.clone()), kind: Some(TokenKind::Pat), ..Default::default() };
    let (policy, tokens) = state
        .db
        .read(move |c| {
            Ok::<_, AppError>((
                db::settings::token_policy(c)?,
                db::tokens::list(c, &filter, None, MAX_OWN_TOKENS, now)?,
            ))
        })
        .await?;
    let (mut expiring_day, mut expiring_week) = (Vec::new(), Vec::new());
    for t in tokens.iter().filter(|t| t.status(now) == TokenStatus::Active) {
        let Some(at) = t.expires_at else { continue };
        let alert = || ExpiringToken { name: t.name.clone(), preview: t.preview.clone(), expires: When::at(at) };
        if at - now <= DAY_SECS {
            expiring_day.push(alert());
        } else if at - now <= WEEK_SECS {
            expiring_week.push(alert());
        }
    }
    Ok(TokensPage {
        layout: Layout::new(&user, "Access tokens", "tokens").with_notice(notice.text()),
        rows: tokens.iter().map(|t| TokenRow::new(t, &policy, now)).collect(),
        expiring_day,
        expiring_week,
    })
}

/// The generate form as submitted (repeated `permission` and `project` fields).
#[derive(Debug, Default)]
struct TokenForm {
    csrf: String,
    name: String,
    permissions: PermissionChecks,
    only_selected: bool,
    projects: Vec<String>,
    expiry: ExpiryInput,
}

impl TokenForm {
    fn parse(body: &[u8]) -> TokenForm {
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

    fn request(&self, policy: &TokenPolicy) -> Result<PatRequest, AppError> {
        let permissions = self.permissions.checked()?;
        let name = DisplayName::parse(&self.name).map_err(|e| AppError::validation(e.to_string()))?;
        ops::require_some(permissions)?;
        let projects = if self.only_selected {
            if self.projects.is_empty() {
                return Err(AppError::validation("Choose at least one project, or All projects."));
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
    error: Option<String>,
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
        Ok(request) => {
            let ctx = client.audit(user.principal.actor.clone());
            let by = user.principal.clone();
            let owner = user.account.id.clone();
            let key = state.key.clone();
            state
                .db
                .write(move |tx| ops::create_pat(tx, &key, &ctx, &by, &owner, request))
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
                heading: "Token created",
                server_url: server_url(&state, &req),
                back_href: "/settings/tokens".into(),
                back_label: "Back to your tokens",
                rotated: None,
            },
        ),
        Err(e) => {
            let e = e.on_form()?;
            let page = new_page(&state, &user, &form, Some(e.form_sentence())).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

/// One's own PAT, loaded in the transaction; anything else is "not found".
fn own_token(tx: &Tx, user: &crate::auth::Principal, id: &str) -> Result<Token, AppError> {
    let token = ops::load(tx, id)?;
    if token.kind != TokenKind::Pat || token.owner_id() != user.account_id.as_deref() {
        return Err(AppError::from(DbError::NotFound(Missing::Token)));
    }
    ops::may_manage(user, &token)?;
    Ok(token)
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
            let token = own_token(tx, &by, &id)?;
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
            let old = own_token(tx, &by, &id)?;
            let issued = ops::rotate(tx, &key, &ctx, &by, &old, grace)?;
            Ok((old, issued))
        })
        .await?;
    secret_response(
        &user,
        issued,
        SecretContext {
            heading: "Token rotated",
            server_url: server_url(&state, &req),
            back_href: "/settings/tokens".into(),
            back_label: "Back to your tokens",
            rotated: Some((old, grace)),
        },
    )
}
