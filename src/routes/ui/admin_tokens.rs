//! Settings → Access Tokens for `tokens:admin`: every token (personal access
//! tokens and project API keys) with filters and a revoke button, and the
//! Global Token Expiration Policy form.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::Submitted;
use super::{html, see_other, CsrfOnly, Notice};
use crate::auth::session::SessionUser;
use crate::domain::permission::Permission;
use crate::domain::policy::{PolicyMode, TokenPolicy};
use crate::error::{AppError, PageResult};
use crate::ops::tokens as ops;
use crate::state::AppState;
use crate::views::{
    all_tokens_page, policy_page, AdminTokensPage, AllTokensQuery, FormError, PolicyFields, PolicyPage,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/admin/tokens", web::get().to(list))
        .route("/settings/admin/tokens/{id}/revoke", web::post().to(revoke))
        .route("/settings/admin/policy", web::get().to(policy))
        .route("/settings/admin/policy", web::post().to(save_policy));
}

async fn list(
    state: web::Data<AppState>,
    user: SessionUser,
    query: web::Query<AllTokensQuery>,
    notice: web::Query<Notice>,
) -> PageResult<AdminTokensPage> {
    user.principal.require(Permission::TokensAdmin)?;
    Ok(all_tokens_page(&state.db, &user, query.into_inner(), notice.text()).await?)
}

async fn revoke(
    state: web::Data<AppState>,
    id: web::Path<String>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensAdmin)?;
    let ctx = client.audit(user.principal.actor.clone());
    let by = user.principal.clone();
    let id = id.into_inner();
    state
        .db
        .write(move |tx| {
            let token = ops::load(tx, &id)?;
            ops::may_manage(&by, &token)?;
            ops::revoke(tx, &ctx, &token, "revoked_by_admin")
        })
        .await?;
    Ok(see_other("/settings/admin/tokens?notice=token_revoked"))
}

/// The policy form's fields as typed (kept on re-render).
#[derive(Debug, Deserialize)]
pub(super) struct PolicyForm {
    mode: Option<String>,
    fixed_days: Option<String>,
    max_days: Option<String>,
    allow_no_expiry: Option<String>,
    revoke_unused_after_days: Option<String>,
}

/// A field of days: `label` in the sentence, `field` the form's name.
fn days(label: &str, field: &'static str, raw: &Option<String>) -> Result<Option<u32>, AppError> {
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<u32>()
            .map(Some)
            .map_err(|_| AppError::invalid(field, format!("{label} must be a whole number of days."))),
    }
}

impl PolicyForm {
    /// The fields as typed, to show again above a refusal.
    pub(super) fn typed(&self) -> PolicyFields {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        PolicyFields {
            fixed_mode: self.mode.as_deref() == Some("fixed"),
            fixed_days: text(&self.fixed_days),
            max_days: text(&self.max_days),
            allow_no_expiry: self.allow_no_expiry.is_some(),
            revoke_unused_after_days: text(&self.revoke_unused_after_days),
        }
    }

    pub(super) fn policy(&self) -> Result<TokenPolicy, AppError> {
        let defaults = TokenPolicy::default();
        let mode = match self.mode.as_deref() {
            Some("fixed") => PolicyMode::Fixed,
            Some("user_choice") | None => PolicyMode::UserChoice,
            Some(_) => return Err(AppError::validation("Choose a mode.")),
        };
        Ok(TokenPolicy {
            mode,
            fixed_days: days("Fixed lifetime", "fixed_days", &self.fixed_days)?.unwrap_or(defaults.fixed_days),
            max_days: days("Maximum lifetime", "max_days", &self.max_days)?.unwrap_or(defaults.max_days),
            allow_no_expiry: self.allow_no_expiry.as_deref().is_some_and(|v| v == "on" || v == "true"),
            revoke_unused_after_days: days(
                "Revoke unused tokens after",
                "revoke_unused_after_days",
                &self.revoke_unused_after_days,
            )?,
        })
    }
}

async fn policy(state: web::Data<AppState>, user: SessionUser, notice: web::Query<Notice>) -> PageResult<PolicyPage> {
    user.principal.require(Permission::TokensAdmin)?;
    Ok(policy_page(&state.db, &user, notice.text(), None, None).await?)
}

async fn save_policy(
    state: web::Data<AppState>,
    Submitted { user, client, form }: Submitted<PolicyForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensAdmin)?;
    let result = match form.policy() {
        Ok(policy) => {
            let ctx = client.audit(user.principal.actor.clone());
            state
                .db
                .write(move |tx| crate::ops::token_policy::set_policy(tx, &ctx, &policy))
                .await
                .map_err(AppError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other("/settings/admin/policy?notice=policy_saved")),
        Err(e) => {
            let e = e.on_form()?;
            let page = policy_page(&state.db, &user, None, Some(FormError::of(&e)), Some(form.typed())).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}
