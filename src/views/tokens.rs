//! Pages about access tokens: the own-token table, the generate form, the
//! show-once page, the admin list, the expiration policy, and the pieces the
//! project settings page uses for its API keys. Rows carry display-ready
//! values computed against one clock reading and the current policy.

use askama::Template;
use askama_web::WebTemplate;
use time::{Duration, OffsetDateTime};

use super::{Layout, PermissionChoice, ProjectSettingsPage, When};
use crate::auth::session::SessionUser;
use crate::db::tokens::{Token, TokenFilter, TokenStatus};
use crate::db::{self, Db, DbError};
use crate::domain::audit::ActorKind;
use crate::domain::permission::{key_permissions, Permission, PermissionSet};
use crate::domain::policy::{PolicyMode, TokenPolicy};
use crate::domain::time::{from_unix, unix_now};
use crate::domain::token::TokenKind;
use crate::error::AppError;

/// Tokens expiring within this many seconds are flagged in tables.
pub const SOON_SECS: i64 = 30 * 86_400;
/// Owners see a warning banner for tokens expiring within a week...
pub const WEEK_SECS: i64 = 7 * 86_400;
/// ...and a stronger one within a day.
pub const DAY_SECS: i64 = 86_400;

/// One token in a table; everything already formatted.
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub preview: String,
    pub is_key: bool,
    /// "Ada Admin", "ci-bot (service account)" or "project web".
    pub owner: String,
    pub permissions: Vec<&'static str>,
    /// "All projects" or a comma-separated list of slugs.
    pub projects: String,
    pub created: When,
    pub created_by: String,
    pub last_used: Option<When>,
    /// IP and user agent of the last use, for a tooltip.
    pub last_used_detail: String,
    pub request_count: i64,
    pub expires: Option<When>,
    /// Live and expiring within 30 days.
    pub expires_soon: bool,
    pub status: &'static str,
    /// CSS badge class for the status.
    pub status_class: &'static str,
    /// Revoked in the future: a rotated token in its grace period.
    pub grace_ends: Option<When>,
    pub exceeds_policy: bool,
    /// Revoke and rotate make sense (not revoked yet).
    pub live: bool,
    pub disabled: bool,
    /// The key's permissions as checkboxes (project keys only).
    pub key_choices: Vec<PermissionChoice>,
}

impl TokenRow {
    pub fn new(t: &Token, policy: &TokenPolicy, now: i64) -> TokenRow {
        let status = t.status(now);
        let live = status != TokenStatus::Revoked;
        let owner = match (&t.project, &t.owner) {
            (Some((_, slug)), _) => format!("project {slug}"),
            (None, Some(o)) => {
                let name = o.name.clone().unwrap_or_else(|| o.id.clone().unwrap_or_default());
                if o.kind == ActorKind::ServiceAccount {
                    format!("{name} (service account)")
                } else {
                    name
                }
            }
            (None, None) => "nobody".into(),
        };
        let projects = match t.project_slugs() {
            None => "All projects".to_string(),
            Some(list) if list.is_empty() => "No projects".to_string(),
            Some(list) => list.join(", "),
        };
        let last_used_detail = [t.last_used_ip.as_deref(), t.last_used_user_agent.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
        let status_class = match status {
            TokenStatus::Active => "ok",
            TokenStatus::Disabled => "warn",
            TokenStatus::Revoked => "muted",
            TokenStatus::Expired => "err",
        };
        TokenRow {
            id: t.id.clone(),
            name: t.name.clone(),
            preview: t.preview.clone(),
            is_key: t.kind == TokenKind::Key,
            owner,
            permissions: t.permissions.names(),
            projects,
            created: When::at(t.created_at),
            created_by: t.created_by.name.clone().unwrap_or_else(|| t.created_by.kind.as_str().into()),
            last_used: t.last_used_at.map(When::at),
            last_used_detail,
            request_count: t.request_count,
            expires: t.expires_at.map(When::at),
            expires_soon: matches!(status, TokenStatus::Active | TokenStatus::Disabled)
                && t.expires_at.is_some_and(|at| at - now <= SOON_SECS),
            status: status.as_str(),
            status_class,
            grace_ends: t.revoked_at.filter(|&at| at > now).map(When::at),
            exceeds_policy: live
                && status != TokenStatus::Expired
                && policy.exceeds(from_unix(t.created_at), t.expires_at.map(from_unix)),
            live,
            disabled: t.disabled,
            key_choices: Vec::new(),
        }
    }

    /// A project key's row, with its permission checkboxes for the edit form.
    pub fn key(t: &Token, policy: &TokenPolicy, now: i64, held: PermissionSet) -> TokenRow {
        TokenRow { key_choices: key_permission_choices(t.permissions, held), ..TokenRow::new(t, policy, now) }
    }
}

/// Checkboxes for the permissions a project key may hold, enabled where `held` allows.
pub fn key_permission_choices(checked: PermissionSet, held: PermissionSet) -> Vec<PermissionChoice> {
    let allowed = key_permissions().intersection(held);
    Permission::ALL
        .iter()
        .filter(|p| key_permissions().contains(**p))
        .map(|p| PermissionChoice {
            name: p.as_str(),
            description: p.description(),
            checked: checked.contains(*p),
            allowed: allowed.contains(*p),
        })
        .collect()
}

/// A token of the viewer's that is about to expire, for the banners.
pub struct ExpiringToken {
    pub name: String,
    pub preview: String,
    pub expires: When,
}

/// One option of the expiration select.
pub struct ExpiryOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The expiration part of a token form, shaped by the policy.
pub struct ExpiryField {
    /// Under a `fixed` policy: the lifetime every token gets (no choice offered).
    pub fixed_days: Option<u32>,
    pub options: Vec<ExpiryOption>,
    pub custom_selected: bool,
    /// The date typed into the custom field (kept on re-render).
    pub custom: String,
    /// Bounds for the date picker (`YYYY-MM-DD`).
    pub min_date: String,
    pub max_date: String,
}

fn ymd(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

impl ExpiryField {
    /// `choice` is what was submitted ("" on a fresh form): a day count,
    /// `custom` or `never`.
    pub fn new(policy: &TokenPolicy, choice: &str, custom: &str, now: OffsetDateTime) -> ExpiryField {
        if policy.mode == PolicyMode::Fixed {
            return ExpiryField {
                fixed_days: Some(policy.fixed_days),
                options: Vec::new(),
                custom_selected: false,
                custom: String::new(),
                min_date: String::new(),
                max_date: String::new(),
            };
        }
        let mut days = policy.allowed_presets();
        let default_days = policy.default_days();
        if !days.contains(&default_days) {
            days.push(default_days);
            days.sort_unstable();
        }
        let default = default_days.to_string();
        let selected = if choice.is_empty() { default.as_str() } else { choice };
        let mut options: Vec<ExpiryOption> = days
            .into_iter()
            .map(|d| ExpiryOption {
                value: d.to_string(),
                label: match d {
                    1 => "1 day".to_string(),
                    365 => "365 days (1 year)".to_string(),
                    d => format!("{d} days"),
                },
                selected: d.to_string() == selected,
            })
            .collect();
        options.push(ExpiryOption {
            value: "custom".into(),
            label: "Custom date…".into(),
            selected: selected == "custom",
        });
        if policy.allow_no_expiry {
            options.push(ExpiryOption {
                value: "never".into(),
                label: "No expiration".into(),
                selected: selected == "never",
            });
        }
        // The custom date means the end of that day (UTC), which must stay within max_days.
        let last = now + Duration::days(i64::from(policy.max_days)) - Duration::days(1);
        ExpiryField {
            fixed_days: None,
            options,
            custom_selected: selected == "custom",
            custom: custom.to_string(),
            min_date: ymd(now),
            max_date: ymd(last),
        }
    }
}

/// A project in the "Only selected projects" list.
pub struct ProjectChoice {
    pub slug: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/list.html")]
pub struct TokensPage {
    pub layout: Layout,
    pub rows: Vec<TokenRow>,
    /// Live tokens expiring within a day, and within a week (but not a day).
    pub expiring_day: Vec<ExpiringToken>,
    pub expiring_week: Vec<ExpiringToken>,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens/new.html")]
pub struct NewTokenPage {
    pub layout: Layout,
    pub name: String,
    pub expiry: ExpiryField,
    pub choices: Vec<PermissionChoice>,
    pub all_projects: bool,
    pub projects: Vec<ProjectChoice>,
}

/// The page that shows a new secret, once (`Cache-Control: no-store`).
#[derive(Template, WebTemplate)]
#[template(path = "tokens/secret.html")]
pub struct SecretPage {
    pub layout: Layout,
    /// "Token created", "Token rotated", "API key created"...
    pub heading: String,
    pub secret: String,
    pub name: String,
    pub preview: String,
    pub is_key: bool,
    pub permissions: Vec<&'static str>,
    pub projects: String,
    pub expires: Option<When>,
    /// After a rotation: when the old secret stops working.
    pub old_ends: Option<When>,
    pub old_preview: String,
    pub server_url: String,
    /// A project to use in the examples.
    pub example_project: String,
    pub back_href: String,
    pub back_label: String,
}

/// A project's settings page: the project, and its API keys for those who
/// manage it (others are not shown them at all); `key_form` fills the
/// new-key form under the expiration policy.
pub async fn project_settings_page(
    db: &Db,
    user: &SessionUser,
    slug: String,
    notice: Option<&'static str>,
    error: Option<String>,
    key_form: impl FnOnce(&TokenPolicy) -> KeyForm,
) -> Result<ProjectSettingsPage, AppError> {
    let now = unix_now();
    let by = user.principal.clone();
    let can_manage = user.principal.may(Permission::ProjectsManage);
    let (project, policy, keys) = db
        .read(move |c| -> Result<_, AppError> {
            // A missing and an invisible project are the same 404.
            let project = db::projects::require(c, &slug)?;
            by.require_project(project.id)?;
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
        key_form: key_form(&policy),
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
    error: Option<String>,
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

#[derive(Template, WebTemplate)]
#[template(path = "admin/policy.html")]
pub struct PolicyPage {
    pub layout: Layout,
    pub fixed_mode: bool,
    pub fixed_days: String,
    pub max_days: String,
    pub allow_no_expiry: bool,
    pub revoke_unused_after_days: String,
    /// Live tokens that the saved policy would not allow today.
    pub exceeding: usize,
    pub live: usize,
}

/// The "new API key" form on a project's settings page.
pub struct KeyForm {
    pub name: String,
    pub choices: Vec<PermissionChoice>,
    pub expiry: ExpiryField,
}
