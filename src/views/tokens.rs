//! Pages about access tokens (their rows and template structs; the builders
//! are `views::token_pages`): the own-token table, the generate form, the
//! show-once page, the admin list, the expiration policy, and the pieces the
//! project settings page uses for its API keys. Rows carry display-ready
//! values computed against one clock reading and the current policy.

use askama::Template;
use askama_web::WebTemplate;
use time::{Duration, OffsetDateTime};

use super::{Layout, PermissionChoice, When};
use crate::db::tokens::{Token, TokenStatus};
use crate::domain::audit::ActorKind;
use crate::domain::permission::{key_permissions, Permission, PermissionSet};
use crate::domain::policy::{PolicyMode, TokenPolicy};
use crate::domain::time::from_unix;
use crate::domain::token::TokenKind;

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
    /// A project's token (a key, or one exchanged for an OIDC ID token).
    pub is_key: bool,
    /// "PAT", "key" or "OIDC", as the Kind column shows it.
    pub kind_label: &'static str,
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
            is_key: t.kind.is_project_token(),
            kind_label: match t.kind {
                TokenKind::Pat => "PAT",
                TokenKind::Key => "key",
                TokenKind::Oidc => "OIDC",
            },
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
