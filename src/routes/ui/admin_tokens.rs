//! Settings → Access Tokens for `tokens:admin`: every token (personal access
//! tokens and project API keys) with filters and a revoke button, and the
//! Global Token Expiration Policy form.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::Submitted;
use super::{html, see_other, CsrfOnly, Notice};
use crate::auth::session::SessionUser;
use crate::db::accounts::AccountKind;
use crate::db::tokens::{TokenFilter, TokenStatus};
use crate::db::{self};
use crate::domain::permission::Permission;
use crate::domain::policy::{PolicyMode, TokenPolicy};
use crate::domain::time::{from_unix, unix_now};
use crate::domain::token::TokenKind;
use crate::error::{AppError, PageResult};
use crate::ops::tokens as ops;
use crate::state::AppState;
use crate::views::{AdminTokensPage, Layout, OwnerChoice, PolicyPage, TokenRow};

const PAGE_SIZE: u32 = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/admin/tokens", web::get().to(list))
        .route("/settings/admin/tokens/{id}/revoke", web::post().to(revoke))
        .route("/settings/admin/policy", web::get().to(policy))
        .route("/settings/admin/policy", web::post().to(save_policy));
}

#[derive(Debug, Default, Deserialize)]
struct Filters {
    /// An account id, or a user's email.
    owner: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    /// A project slug.
    project: Option<String>,
    before: Option<String>,
}

fn trimmed(s: &Option<String>) -> String {
    s.as_deref().map(str::trim).unwrap_or_default().to_string()
}

fn link(owner: &str, kind: &str, status: &str, project: &str, before: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [("owner", owner), ("kind", kind), ("status", status), ("project", project)] {
        if !value.is_empty() {
            query.append_pair(key, value);
        }
    }
    if let Some(before) = before {
        query.append_pair("before", before);
    }
    let query = query.finish();
    if query.is_empty() {
        "/settings/admin/tokens".to_string()
    } else {
        format!("/settings/admin/tokens?{query}")
    }
}

async fn list(
    state: web::Data<AppState>,
    user: SessionUser,
    query: web::Query<Filters>,
    notice: web::Query<Notice>,
) -> PageResult<AdminTokensPage> {
    user.principal.require(Permission::TokensAdmin)?;
    let (owner, kind, status, project) =
        (trimmed(&query.owner), trimmed(&query.kind), trimmed(&query.status), trimmed(&query.project));
    let before = query.before.clone().filter(|b| !b.is_empty());
    let now = unix_now();
    let (owner_q, project_q, before_q) = (owner.clone(), project.clone(), before.clone());
    let token_kind = match kind.as_str() {
        "pat" => Some(TokenKind::Pat),
        "key" => Some(TokenKind::Key),
        _ => None,
    };
    let token_status = TokenStatus::parse(&status);
    let (policy, tokens, accounts, projects, owner_id) = state
        .db
        .read(move |c| {
            let policy = db::settings::token_policy(c)?;
            let mut accounts = db::accounts::list(c, AccountKind::User)?;
            accounts.extend(db::accounts::list(c, AccountKind::ServiceAccount)?);
            let projects = db::projects::list(c, None, u32::MAX)?;
            // An owner or project that does not exist matches nothing.
            let mut matches_nothing = false;
            let owner_id = if owner_q.is_empty() {
                None
            } else if owner_q.contains('@') {
                let found = db::accounts::find_user_by_email(c, &owner_q.to_lowercase())?;
                matches_nothing |= found.is_none();
                found.map(|a| a.id)
            } else {
                Some(owner_q)
            };
            let project_id = if project_q.is_empty() {
                None
            } else {
                let found = db::projects::by_slug(c, &project_q)?;
                matches_nothing |= found.is_none();
                found.map(|p| p.id)
            };
            let filter = TokenFilter {
                owner_id: owner_id.clone(),
                kind: token_kind,
                project_id,
                status: token_status,
                within_projects: None,
            };
            let tokens = if matches_nothing {
                Vec::new()
            } else {
                db::tokens::list(c, &filter, before_q.as_deref(), PAGE_SIZE + 1, now)?
            };
            Ok((policy, tokens, accounts, projects, owner_id))
        })
        .await?;
    let has_more = tokens.len() > PAGE_SIZE as usize;
    let rows: Vec<TokenRow> = tokens.iter().take(PAGE_SIZE as usize).map(|t| TokenRow::new(t, &policy, now)).collect();
    let next_page = has_more.then(|| link(&owner, &kind, &status, &project, rows.last().map(|r| r.id.as_str())));
    let owners = accounts
        .into_iter()
        .map(|a| {
            let label = match (&a.email, a.kind) {
                (Some(email), _) => format!("{} <{email}>", a.name),
                (None, _) => format!("{} (service account)", a.name),
            };
            OwnerChoice { selected: owner_id.as_deref() == Some(a.id.as_str()), id: a.id, label }
        })
        .collect();
    Ok(AdminTokensPage {
        layout: Layout::new(&user, "All tokens", "admin-tokens").with_notice(notice.text()),
        rows,
        owners,
        project_slugs: projects.into_iter().map(|p| p.slug).collect(),
        filtered: !(owner.is_empty() && kind.is_empty() && status.is_empty() && project.is_empty()),
        first_page: before.is_some().then(|| link(&owner, &kind, &status, &project, None)),
        filter_owner: owner,
        filter_kind: kind,
        filter_status: status,
        filter_project: project,
        next_page,
    })
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
struct PolicyForm {
    mode: Option<String>,
    fixed_days: Option<String>,
    max_days: Option<String>,
    allow_no_expiry: Option<String>,
    revoke_unused_after_days: Option<String>,
}

fn days(field: &str, raw: &Option<String>) -> Result<Option<u32>, AppError> {
    match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<u32>()
            .map(Some)
            .map_err(|_| AppError::validation(format!("{field} must be a whole number of days."))),
    }
}

impl PolicyForm {
    fn policy(&self) -> Result<TokenPolicy, AppError> {
        let defaults = TokenPolicy::default();
        let mode = match self.mode.as_deref() {
            Some("fixed") => PolicyMode::Fixed,
            Some("user_choice") | None => PolicyMode::UserChoice,
            Some(_) => return Err(AppError::validation("Choose a mode.")),
        };
        Ok(TokenPolicy {
            mode,
            fixed_days: days("Fixed lifetime", &self.fixed_days)?.unwrap_or(defaults.fixed_days),
            max_days: days("Maximum lifetime", &self.max_days)?.unwrap_or(defaults.max_days),
            allow_no_expiry: self.allow_no_expiry.as_deref().is_some_and(|v| v == "on" || v == "true"),
            revoke_unused_after_days: days("Revoke unused tokens after", &self.revoke_unused_after_days)?,
        })
    }
}

async fn policy_page(
    state: &AppState,
    user: &SessionUser,
    notice: Option<&'static str>,
    error: Option<String>,
    form: Option<&PolicyForm>,
) -> Result<PolicyPage, AppError> {
    let now = unix_now();
    let (saved, tokens) = state
        .db
        .read(move |c| {
            let policy = db::settings::token_policy(c)?;
            Ok((policy, db::tokens::list(c, &TokenFilter::default(), None, u32::MAX, now)?))
        })
        .await?;
    let live: Vec<_> =
        tokens.iter().filter(|t| matches!(t.status(now), TokenStatus::Active | TokenStatus::Disabled)).collect();
    let exceeding = live.iter().filter(|t| saved.exceeds(from_unix(t.created_at), t.expires_at.map(from_unix))).count();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let page = match form {
        Some(f) => PolicyPage {
            layout: Layout::new(user, "Token policy", "token-policy").with_error(error),
            fixed_mode: f.mode.as_deref() == Some("fixed"),
            fixed_days: text(&f.fixed_days),
            max_days: text(&f.max_days),
            allow_no_expiry: f.allow_no_expiry.is_some(),
            revoke_unused_after_days: text(&f.revoke_unused_after_days),
            exceeding,
            live: live.len(),
        },
        None => PolicyPage {
            layout: Layout::new(user, "Token policy", "token-policy").with_notice(notice),
            fixed_mode: saved.mode == PolicyMode::Fixed,
            fixed_days: saved.fixed_days.to_string(),
            max_days: saved.max_days.to_string(),
            allow_no_expiry: saved.allow_no_expiry,
            revoke_unused_after_days: saved.revoke_unused_after_days.map(|d| d.to_string()).unwrap_or_default(),
            exceeding,
            live: live.len(),
        },
    };
    Ok(page)
}

async fn policy(state: web::Data<AppState>, user: SessionUser, notice: web::Query<Notice>) -> PageResult<PolicyPage> {
    user.principal.require(Permission::TokensAdmin)?;
    Ok(policy_page(&state, &user, notice.text(), None, None).await?)
}

async fn save_policy(
    state: web::Data<AppState>,
    Submitted { user, client, form }: Submitted<PolicyForm>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TokensAdmin)?;
    let result = match form.policy() {
        Ok(policy) => {
            let ctx = client.audit(user.principal.actor.clone());
            state.db.write(move |tx| crate::ops::token_policy::set_policy(tx, &ctx, &policy)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other("/settings/admin/policy?notice=policy_saved")),
        Err(e @ AppError::Client { .. }) => {
            let page = policy_page(&state, &user, None, Some(e.to_string()), Some(&form)).await?;
            html(HttpResponse::build(e.status()), &page)
        }
        Err(e) => Err(e.into()),
    }
}
