//! Settings → Access Tokens for `tokens:admin` ("All tokens"): one page of
//! every token of the instance, filtered by owner, kind, status and
//! project, with the filters' choices and the paging links.

use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{Layout, TokenRow};
use crate::auth::session::SessionUser;
use crate::db::accounts::AccountKind;
use crate::db::tokens::{TokenFilter, TokenStatus};
use crate::db::{self, Db};
use crate::domain::time::unix_now;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult};

const PAGE_SIZE: u32 = 100;

/// The page's query: its filters, and where the page starts.
#[derive(Debug, Default, Deserialize)]
pub struct AllTokensQuery {
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

/// Choices of the admin token list's filters.
pub struct OwnerChoice {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/tokens.html")]
pub struct AdminTokensPage {
    pub layout: Layout,
    pub rows: Vec<TokenRow>,
    pub owners: Vec<OwnerChoice>,
    pub project_slugs: Vec<String>,
    pub filter_owner: String,
    pub filter_kind: String,
    pub filter_status: String,
    pub filter_project: String,
    pub filtered: bool,
    pub next_page: Option<String>,
    pub first_page: Option<String>,
}

/// One page of every token, newest first, under `query`'s filters (an owner
/// or project that does not exist matches nothing).
pub async fn all_tokens_page(
    db: &Db,
    user: &SessionUser,
    query: AllTokensQuery,
    notice: Option<&'static str>,
) -> Result<AdminTokensPage, AppError> {
    let (owner, kind, status, project) =
        (trimmed(&query.owner), trimmed(&query.kind), trimmed(&query.status), trimmed(&query.project));
    let before = query.before.clone().filter(|b| !b.is_empty());
    let now = unix_now();
    let (owner_q, project_q, before_q) = (owner.clone(), project.clone(), before.clone());
    let token_kind = match kind.as_str() {
        "pat" => Some(TokenKind::Pat),
        "key" => Some(TokenKind::Key),
        "oidc" => Some(TokenKind::Oidc),
        _ => None,
    };
    let token_status = TokenStatus::parse(&status);
    let (policy, tokens, accounts, projects, owner_id) = db
        .read(move |c| -> AppResult<_> {
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
        layout: Layout::new(user, "All tokens", "admin-tokens").with_notice(notice),
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
