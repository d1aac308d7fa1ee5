//! The builders of the token pages: one's own tokens, the show-once page
//! of a new secret, a project's settings with its API keys, and the
//! expiration policy. The rows and template structs are `views::tokens`'.

use super::FormError;
use super::{
    ExpiringToken, KeyForm, Layout, PolicyPage, ProjectSettingsPage, SecretPage, TokenRow, TokensPage, When, DAY_SECS,
    WEEK_SECS,
};
use crate::auth::session::SessionUser;
use crate::db::tokens::{Token, TokenFilter, TokenStatus};
use crate::db::{self, Db, DbError};
use crate::domain::permission::Permission;
use crate::domain::policy::{PolicyMode, TokenPolicy};
use crate::domain::time::{from_unix, unix_now};
use crate::domain::token::TokenKind;
use crate::error::AppError;

/// A project's settings page: the project, and its API keys for those who
/// manage it (others are not shown them at all); `key_form` fills the
/// new-key form under the expiration policy.
pub async fn project_settings_page(
    db: &Db,
    user: &SessionUser,
    slug: String,
    notice: Option<&'static str>,
    error: Option<FormError>,
    key_form: impl FnOnce(&TokenPolicy) -> KeyForm,
) -> Result<ProjectSettingsPage, AppError> {
    let now = unix_now();
    let by = user.principal.clone();
    let can_manage = user.principal.may(Permission::ProjectsManage);
    let (project, policy, managed) = db
        .read(move |c| -> Result<_, AppError> {
            // A missing and an invisible project are the same 404.
            let project = db::projects::require(c, &slug)?;
            by.require_project(project.id)?;
            let managed = if can_manage { managed_tokens(c, project.id, now)? } else { Default::default() };
            Ok((project, db::settings::token_policy(c)?, managed))
        })
        .await?;
    let held = user.principal.permissions;
    Ok(ProjectSettingsPage {
        layout: Layout::new(user, format!("{} settings", project.name), "projects")
            .with_notice(notice)
            .with_error(error),
        project,
        can_manage,
        keys: managed.keys.iter().map(|k| TokenRow::key(k, &policy, now, held)).collect(),
        key_form: key_form(&policy),
        ci_tokens: managed.ci_tokens.iter().map(|t| TokenRow::new(t, &policy, now)).collect(),
        publisher_count: managed.publishers,
        webhook_count: managed.webhooks,
    })
}

/// Live CI tokens shown on a project's settings page; expired ones are
/// deleted a day on (`ops::oidc::prune`), so few are ever read.
const SHOWN_CI_TOKENS: u32 = 100;

/// What only managers see on a project's settings page: its API keys, the
/// live tokens its trusted publishers let in, and how many publishers and
/// webhooks it has.
#[derive(Default)]
struct Managed {
    keys: Vec<Token>,
    ci_tokens: Vec<Token>,
    publishers: usize,
    webhooks: usize,
}

fn managed_tokens(c: &db::Conn, project_id: i64, now: i64) -> Result<Managed, DbError> {
    let keys = TokenFilter { kind: Some(TokenKind::Key), project_id: Some(project_id), ..Default::default() };
    let ci = TokenFilter {
        kind: Some(TokenKind::Oidc),
        project_id: Some(project_id),
        status: Some(TokenStatus::Active),
        ..Default::default()
    };
    Ok(Managed {
        keys: db::tokens::list(c, &keys, None, u32::MAX, now)?,
        ci_tokens: db::tokens::list(c, &ci, None, SHOWN_CI_TOKENS, now)?,
        publishers: db::publishers::count(c, project_id)?,
        webhooks: db::webhooks::count(c, Some(project_id))?,
    })
}

/// How many of one's own tokens the table shows.
const MAX_OWN_TOKENS: u32 = 500;

/// Settings → Access Tokens: `user`'s own tokens, with banners for those
/// expiring within a day or a week.
pub async fn own_tokens_page(
    db: &Db,
    user: &SessionUser,
    notice: Option<&'static str>,
) -> Result<TokensPage, AppError> {
    let now = unix_now();
    let filter =
        TokenFilter { owner_id: Some(user.account.id.clone()), kind: Some(TokenKind::Pat), ..Default::default() };
    let (policy, tokens) = db
        .read(move |c| {
            Ok::<_, DbError>((db::settings::token_policy(c)?, db::tokens::list(c, &filter, None, MAX_OWN_TOKENS, now)?))
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
        layout: Layout::new(user, "Access tokens", "tokens").with_notice(notice),
        rows: tokens.iter().map(|t| TokenRow::new(t, &policy, now)).collect(),
        expiring_day,
        expiring_week,
    })
}

/// What the show-once page needs besides the new token.
pub struct SecretContext {
    pub heading: &'static str,
    pub server_url: String,
    pub back_href: String,
    pub back_label: &'static str,
    /// After a rotation: the old token and how long it keeps working.
    pub rotated: Option<(Token, u32)>,
}

impl SecretContext {
    /// For a token just made (`heading`), with a way back to `back_href`.
    pub fn created(heading: &'static str, server_url: String, back_href: String, back_label: &'static str) -> Self {
        SecretContext { heading, server_url, back_href, back_label, rotated: None }
    }

    /// For the successor of `old`, which keeps working `grace` seconds.
    pub fn rotated(self, old: Token, grace: u32) -> Self {
        SecretContext { rotated: Some((old, grace)), ..self }
    }
}

/// The show-once page of a new token and its `secret`.
pub fn secret_page(user: &SessionUser, token: &Token, secret: String, ctx: SecretContext) -> SecretPage {
    let example_project = match token.project_slugs() {
        Some(slugs) if !slugs.is_empty() => slugs[0].clone(),
        _ => "my-project".to_string(),
    };
    let row = TokenRow::new(token, &TokenPolicy::default(), unix_now());
    let (old_ends, old_preview) = match &ctx.rotated {
        Some((old, grace)) => ((*grace > 0).then(|| When::at(unix_now() + i64::from(*grace))), old.preview.clone()),
        None => (None, String::new()),
    };
    SecretPage {
        layout: Layout::new(user, ctx.heading, if row.is_key { "projects" } else { "tokens" }),
        heading: ctx.heading.to_string(),
        secret,
        name: row.name,
        preview: row.preview,
        is_key: row.is_key,
        permissions: row.permissions,
        projects: row.projects,
        expires: row.expires,
        old_ends,
        old_preview,
        server_url: ctx.server_url,
        example_project,
        back_href: ctx.back_href,
        back_label: ctx.back_label.to_string(),
    }
}

/// The policy form's values: as saved, or as typed when a refused form comes back.
pub struct PolicyFields {
    pub fixed_mode: bool,
    pub fixed_days: String,
    pub max_days: String,
    pub allow_no_expiry: bool,
    pub revoke_unused_after_days: String,
}

impl PolicyFields {
    fn saved(policy: &TokenPolicy) -> PolicyFields {
        PolicyFields {
            fixed_mode: policy.mode == PolicyMode::Fixed,
            fixed_days: policy.fixed_days.to_string(),
            max_days: policy.max_days.to_string(),
            allow_no_expiry: policy.allow_no_expiry,
            revoke_unused_after_days: policy.revoke_unused_after_days.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

/// The Global Token Expiration Policy page: the form (`typed` when a refused
/// one comes back, else the saved policy) and how many live tokens the saved
/// policy would not allow today.
pub async fn policy_page(
    db: &Db,
    user: &SessionUser,
    notice: Option<&'static str>,
    error: Option<FormError>,
    typed: Option<PolicyFields>,
) -> Result<PolicyPage, AppError> {
    let now = unix_now();
    let (saved, tokens) = db
        .read(move |c| -> Result<_, DbError> {
            let policy = db::settings::token_policy(c)?;
            Ok((policy, db::tokens::list(c, &TokenFilter::default(), None, u32::MAX, now)?))
        })
        .await?;
    let live: Vec<_> =
        tokens.iter().filter(|t| matches!(t.status(now), TokenStatus::Active | TokenStatus::Disabled)).collect();
    let exceeding = live.iter().filter(|t| saved.exceeds(from_unix(t.created_at), t.expires_at.map(from_unix))).count();
    let layout = Layout::new(user, "Token policy", "token-policy").with_notice(notice).with_error(error);
    let fields = typed.unwrap_or_else(|| PolicyFields::saved(&saved));
    Ok(PolicyPage {
        layout,
        fixed_mode: fields.fixed_mode,
        fixed_days: fields.fixed_days,
        max_days: fields.max_days,
        allow_no_expiry: fields.allow_no_expiry,
        revoke_unused_after_days: fields.revoke_unused_after_days,
        exceeding,
        live: live.len(),
    })
}
