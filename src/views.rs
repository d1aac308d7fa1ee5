//! Page templates: one `#[derive(Template, WebTemplate)]` struct per page,
//! each with the shared [`Layout`]. Rows carry display-ready strings so the
//! templates stay free of logic.

use askama::Template;
use askama_web::WebTemplate;

use crate::auth::session::SessionUser;
use crate::db::accounts::Account;
use crate::db::projects::Project;
use crate::domain::permission::{Permission, PermissionSet};
use crate::domain::time::{relative, rfc3339_unix, unix_now};

mod all_tokens;
mod analytics;
mod audit_log;
pub mod charts;
mod form_error;
mod publishers_page;
mod quarantine_page;
mod run_pages;
mod run_results;
mod runs;
mod test_history;
mod token_pages;
mod tokens;
mod webhook_pages;
pub use all_tokens::*;
pub use analytics::*;
pub use audit_log::*;
pub use form_error::*;
pub use publishers_page::*;
pub use quarantine_page::*;
pub use run_pages::*;
pub use run_results::*;
pub use runs::*;
pub use test_history::*;
pub use token_pages::*;
pub use tokens::*;
pub use webhook_pages::*;

/// `?notice=...` after a redirect: a short confirmation shown once.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
}

impl Notice {
    /// Only known codes are shown, so a crafted link cannot put words on the page.
    pub fn text(&self) -> Option<&'static str> {
        Some(match self.notice.as_deref()? {
            "project_created" => "Project created.",
            "project_updated" => "Project saved.",
            "project_deleted" => "Project deleted.",
            "user_created" => "User created.",
            "user_updated" => "User updated.",
            "password_reset" => "Password reset; their sessions have ended.",
            "sa_created" => "Service account created.",
            "sa_updated" => "Service account updated.",
            "role_created" => "Role created.",
            "role_updated" => "Role saved; it applies from the next request.",
            "role_deleted" => "Role deleted.",
            "token_revoked" => "Token revoked; it stops working immediately.",
            "key_updated" => "API key saved.",
            "key_disabled" => "API key disabled; requests with it now fail until it is enabled again.",
            "key_enabled" => "API key enabled.",
            "key_deleted" => "API key deleted; it stops working immediately.",
            "policy_saved" => "Token policy saved; it applies to tokens created from now on.",
            "rule_created" => "Test quarantined; its failures no longer fail runs while the rule lasts.",
            "rule_released" => "Quarantine rule released; the test's failures fail runs again.",
            "marked_fixed" => "Marked fixed: only results from now on count for the test.",
            "publisher_created" => "Trusted publisher added; its CI jobs can upload without a stored secret.",
            "publisher_deleted" => {
                "Trusted publisher removed; tokens it let in live on until they expire or are revoked."
            }
            "ci_token_revoked" => "CI token revoked; it stops working immediately.",
            "webhook_updated" => "Webhook saved.",
            "webhook_deleted" => "Webhook deleted with its deliveries; nothing more is sent to it.",
            "webhook_pinged" => "Test event queued; its delivery shows below in a moment.",
            "delivery_queued" => "Delivery queued again, with the same message id; it shows below in a moment.",
            _ => return None,
        })
    }
}

/// What the navigation shows: only what the session may use.
#[derive(Debug, Clone)]
pub struct Nav {
    pub projects: bool,
    pub tokens: bool,
    pub users: bool,
    pub admin_tokens: bool,
    pub audit: bool,
}

impl Nav {
    pub fn admin_any(&self) -> bool {
        self.users || self.admin_tokens || self.audit
    }
}

/// The frame of every signed-in page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub section: &'static str,
    pub user_name: String,
    pub user_email: String,
    pub role: String,
    pub csrf: String,
    pub nav: Nav,
    pub notice: Option<&'static str>,
    pub error: Option<FormError>,
    /// Seconds after which `app.js` reloads the page (while something on it
    /// is still changing); pages without JavaScript are refreshed by hand.
    pub refresh: Option<u32>,
}

/// How often a page showing a running run reloads itself.
pub const LIVE_REFRESH_SECONDS: u32 = 10;

impl Layout {
    pub fn new(user: &SessionUser, title: impl Into<String>, section: &'static str) -> Layout {
        let p = &user.principal;
        Layout {
            title: title.into(),
            section,
            user_name: user.account.name.clone(),
            user_email: user.account.email.clone().unwrap_or_default(),
            role: user.account.role.clone(),
            csrf: user.csrf.clone(),
            nav: Nav {
                projects: p.may(Permission::ProjectsRead),
                tokens: p.may(Permission::TokensCreate),
                users: p.may(Permission::UsersAdmin),
                admin_tokens: p.may(Permission::TokensAdmin),
                audit: p.may(Permission::AuditRead),
            },
            notice: None,
            error: None,
            refresh: None,
        }
    }

    /// Reloads the page every [`LIVE_REFRESH_SECONDS`] while `live`.
    pub fn live(mut self, live: bool) -> Layout {
        self.refresh = live.then_some(LIVE_REFRESH_SECONDS);
        self
    }

    pub fn with_notice(mut self, notice: Option<&'static str>) -> Layout {
        self.notice = notice;
        self
    }

    pub fn with_error(mut self, error: Option<FormError>) -> Layout {
        self.error = error;
        self
    }

    /// The attributes tying form field `name` to the page's error (see
    /// [`field_attrs`]); `field_help` also names the field's help text.
    pub fn field(&self, name: &str) -> String {
        field_attrs(&self.error, name, "")
    }

    /// A field with help text (the element with id `help`, after the
    /// `<label>`, not inside it): the help is its description, not part of
    /// its name.
    pub fn field_help(&self, name: &str, help: &'static str) -> String {
        field_attrs(&self.error, name, help)
    }

    /// The attributes of a fieldset of checkboxes (see [`group_attrs`]).
    pub fn group(&self, name: &str) -> String {
        group_attrs(&self.error, name)
    }
}

/// A time shown relative ("3 minutes ago") with the exact instant on hover.
#[derive(Debug, Clone)]
pub struct When {
    pub relative: String,
    pub exact: String,
}

impl When {
    pub fn at(secs: i64) -> When {
        When { relative: relative(secs, unix_now()), exact: rfc3339_unix(secs) }
    }
}

/// One checkbox of a permission picker.
#[derive(Debug, Clone)]
pub struct PermissionChoice {
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
    pub allowed: bool,
}

pub fn permission_choices(checked: PermissionSet, allowed: PermissionSet) -> Vec<PermissionChoice> {
    Permission::ALL
        .iter()
        .map(|p| PermissionChoice {
            name: p.as_str(),
            description: p.description(),
            checked: checked.contains(*p),
            allowed: allowed.contains(*p),
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/setup.html")]
pub struct SetupPage {
    pub csrf: String,
    pub error: Option<FormError>,
    pub email: String,
    pub name: String,
}

impl SetupPage {
    /// The attributes tying form field `name` to the page's error (see [`field_attrs`]).
    pub fn field(&self, name: &str) -> String {
        field_attrs(&self.error, name, "")
    }

    pub fn field_help(&self, name: &str, help: &'static str) -> String {
        field_attrs(&self.error, name, help)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub error: Option<FormError>,
    pub email: String,
}

pub struct ProjectRow {
    pub project: Project,
    pub created: When,
    /// Its newest run (running or finished): one index seek per project.
    pub last_run: Option<RunRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "projects/list.html")]
pub struct ProjectsPage {
    pub layout: Layout,
    pub projects: Vec<ProjectRow>,
    pub can_manage: bool,
    pub form_slug: String,
    pub form_name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "projects/settings.html")]
pub struct ProjectSettingsPage {
    pub layout: Layout,
    pub project: Project,
    /// `projects:manage`: the General and Delete forms and every key action.
    pub can_manage: bool,
    pub keys: Vec<TokenRow>,
    pub key_form: KeyForm,
    /// Live tokens CI jobs exchanged through the trusted publishers.
    pub ci_tokens: Vec<TokenRow>,
    pub publisher_count: usize,
    pub webhook_count: usize,
}

pub struct AccountRow {
    pub account: Account,
    pub created: When,
    pub is_self: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    pub layout: Layout,
    pub users: Vec<AccountRow>,
    pub roles: Vec<String>,
    pub new: NewAccountFields,
}

/// The fields of a form adding an account, as typed (shown again above its
/// refusal); a service account has no email.
#[derive(Debug, Clone)]
pub struct NewAccountFields {
    pub email: String,
    pub name: String,
    pub role: String,
}

impl Default for NewAccountFields {
    fn default() -> Self {
        NewAccountFields { email: String::new(), name: String::new(), role: "member".into() }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/service_accounts.html")]
pub struct ServiceAccountsPage {
    pub layout: Layout,
    pub accounts: Vec<AccountRow>,
    pub roles: Vec<String>,
    pub new: NewAccountFields,
}

pub struct RoleRow {
    pub name: String,
    pub builtin: bool,
    pub permissions: Vec<&'static str>,
    pub holders: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/roles.html")]
pub struct RolesPage {
    pub layout: Layout,
    pub roles: Vec<RoleRow>,
    pub choices: Vec<PermissionChoice>,
    pub form_name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/role_edit.html")]
pub struct RoleEditPage {
    pub layout: Layout,
    pub name: String,
    pub choices: Vec<PermissionChoice>,
    pub holders: i64,
}

pub struct AuditRow {
    pub id: i64,
    pub when: When,
    pub actor: String,
    pub actor_detail: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub user_agent: String,
    pub details: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub rows: Vec<AuditRow>,
    pub actions: Vec<String>,
    pub filter_action: String,
    pub filter_actor: String,
    pub next_page: Option<String>,
    pub first_page: Option<String>,
}
