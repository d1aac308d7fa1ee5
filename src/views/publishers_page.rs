//! Project Settings → Trusted publishers: the CI jobs whose ID tokens this
//! project accepts, each with its last exchanges (when, repository, ref,
//! commit, run link), and the form to add one, prefilled from a preset.

use askama::Template;
use askama_web::WebTemplate;

use super::FormError;
use super::{Layout, PermissionChoice, When};
use crate::auth::session::SessionUser;
use crate::db::projects::Project;
use crate::db::publishers::{self, Exchange, Publisher};
use crate::db::{self, Db};
use crate::domain::permission::{Permission, PermissionSet};
use crate::domain::publisher::{Preset, ALLOWED_PERMISSIONS, DEFAULT_MINUTES, MAX_MINUTES, MIN_MINUTES, PRESETS};
use crate::error::AppError;

/// Publishers on the page (the API pages through any number).
const SHOWN: u32 = 100;
/// Exchanges shown under each publisher.
const EXCHANGES_SHOWN: u32 = 5;
/// Claim rows of the form; a publisher takes at most ten rules.
pub const CLAIM_ROWS: usize = 5;

#[derive(Template, WebTemplate)]
#[template(path = "projects/publishers.html")]
pub struct PublishersPage {
    pub layout: Layout,
    pub project: Project,
    pub publishers: Vec<PublisherRow>,
    pub presets: Vec<PresetLink>,
    pub form: PublisherForm,
}

/// A link that refills the form from a preset.
pub struct PresetLink {
    pub name: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// One publisher, display-ready.
pub struct PublisherRow {
    pub id: String,
    pub issuer: String,
    /// "GitHub Actions" for a preset's issuer, else the issuer's host and path.
    pub issuer_label: String,
    pub audience: String,
    pub claims: Vec<(String, String)>,
    pub permissions: Vec<&'static str>,
    pub token_minutes: u32,
    pub created: When,
    pub created_by: String,
    pub exchanges: Vec<ExchangeRow>,
}

/// One exchange a publisher let in.
pub struct ExchangeRow {
    pub at: When,
    pub repository: String,
    pub git_ref: String,
    /// The first 12 digits, and all of them for the title.
    pub commit_short: String,
    pub commit: String,
    /// Only ever `https://` links built from checked claims (`domain::provenance`).
    pub run_url: Option<String>,
}

impl ExchangeRow {
    fn new(e: Exchange) -> ExchangeRow {
        let p = e.provenance;
        let commit = p.sha.unwrap_or_default();
        ExchangeRow {
            at: When::at(e.at),
            repository: p.repository.or(p.subject).unwrap_or_default(),
            git_ref: p.git_ref.unwrap_or_default(),
            commit_short: commit.chars().take(12).collect(),
            commit,
            run_url: p.run_url.filter(|u| u.starts_with("https://")),
        }
    }
}

impl PublisherRow {
    fn new(p: Publisher, exchanges: &mut Vec<Exchange>) -> PublisherRow {
        let preset = PRESETS.iter().find(|pr| pr.issuer == Some(p.issuer.as_str()));
        let issuer_label = match preset {
            Some(pr) => pr.label.split(" (").next().unwrap_or(pr.label).to_string(),
            None => p.issuer.trim_start_matches("https://").to_string(),
        };
        let (mine, rest): (Vec<Exchange>, Vec<Exchange>) =
            std::mem::take(exchanges).into_iter().partition(|e| e.publisher_id == p.id);
        *exchanges = rest;
        let mine = mine.into_iter().map(ExchangeRow::new).collect();
        PublisherRow {
            issuer_label,
            audience: p.audience,
            claims: p.claims.into_iter().collect(),
            permissions: p.permissions.names(),
            token_minutes: p.token_minutes,
            created: When::at(p.created_at),
            created_by: p.created_by.name.clone().unwrap_or_else(|| p.created_by.kind.as_str().into()),
            exchanges: mine,
            id: p.id,
            issuer: p.issuer,
        }
    }
}

/// One claim rule of the form.
#[derive(Debug, Clone, Default)]
pub struct ClaimInput {
    pub name: String,
    pub glob: String,
    /// The example shown in the empty glob field.
    pub placeholder: &'static str,
}

/// The add form, as a preset fills it or as it was submitted.
pub struct PublisherForm {
    pub preset: &'static str,
    pub issuer: String,
    pub audience: String,
    pub claims: Vec<ClaimInput>,
    pub choices: Vec<PermissionChoice>,
    /// As typed (kept as sent when the form comes back with an error).
    pub token_minutes: String,
    pub min_minutes: u32,
    pub max_minutes: u32,
    /// What the preset's issuer needs constrained, for the help text.
    pub identity: Option<&'static str>,
}

/// An example glob for a preset's claim.
fn example(claim: &str) -> &'static str {
    match claim {
        "repository" => "acme/web",
        "project_path" => "acme/web",
        "ref" => "refs/heads/main",
        "workflow_ref" => "acme/web/.github/workflows/ci.yml@refs/heads/main",
        "ref_type" => "branch",
        "environment" => "production",
        _ => "",
    }
}

/// Checkboxes for what an exchanged token may do.
pub fn publisher_permission_choices(checked: PermissionSet) -> Vec<PermissionChoice> {
    ALLOWED_PERMISSIONS
        .iter()
        .map(|p| PermissionChoice {
            name: p.as_str(),
            description: p.description(),
            checked: checked.contains(*p),
            allowed: true,
        })
        .collect()
}

impl PublisherForm {
    /// The form filled from preset `name` (GitHub Actions when unknown or
    /// absent; `other` leaves the issuer and claim names empty).
    /// `server_url` is this server's address, every preset's audience. A self-hosted issuer (Forgejo) is left empty.
    pub fn preset(name: Option<&str>, server_url: &str) -> PublisherForm {
        let preset: Option<&Preset> = match name {
            Some("other") => None,
            Some(n) => PRESETS.iter().find(|p| p.name == n).or(PRESETS.first()),
            None => PRESETS.first(),
        };
        let mut claims: Vec<ClaimInput> = preset
            .map(|p| {
                p.claims
                    .iter()
                    .map(|c| ClaimInput { name: (*c).into(), placeholder: example(c), ..Default::default() })
                    .collect()
            })
            .unwrap_or_default();
        claims.resize(CLAIM_ROWS, ClaimInput::default());
        PublisherForm {
            preset: preset.map_or("other", |p| p.name),
            issuer: preset.and_then(|p| p.issuer).unwrap_or_default().to_string(),
            audience: server_url.to_string(),
            claims,
            choices: publisher_permission_choices(PermissionSet::from_iter([
                Permission::RunsRead,
                Permission::RunsWrite,
            ])),
            token_minutes: DEFAULT_MINUTES.to_string(),
            min_minutes: MIN_MINUTES,
            max_minutes: MAX_MINUTES,
            identity: preset.map(|p| p.identity),
        }
    }
}

/// The page for `user` (who manages project `slug`), with `form` below.
pub async fn publishers_page(
    db: &Db,
    user: &SessionUser,
    slug: String,
    notice: Option<&'static str>,
    error: Option<FormError>,
    form: PublisherForm,
) -> Result<PublishersPage, AppError> {
    let by = user.principal.clone();
    let (project, found, mut exchanges) = db
        .read(move |c| -> Result<_, AppError> {
            let project = db::projects::require(c, &slug)?;
            by.require_project(project.id)?;
            by.require(Permission::ProjectsManage)?;
            let found = publishers::list(c, project.id, None, SHOWN)?;
            let exchanges = publishers::recent_exchanges(c, project.id, EXCHANGES_SHOWN)?;
            Ok((project, found, exchanges))
        })
        .await?;
    let current = form.preset;
    let mut presets: Vec<PresetLink> =
        PRESETS.iter().map(|p| PresetLink { name: p.name, label: p.label, current: p.name == current }).collect();
    presets.push(PresetLink { name: "other", label: "Another issuer", current: current == "other" });
    Ok(PublishersPage {
        layout: Layout::new(user, format!("{} trusted publishers", project.name), "projects")
            .with_notice(notice)
            .with_error(error),
        project,
        publishers: found.into_iter().map(|p| PublisherRow::new(p, &mut exchanges)).collect(),
        presets,
        form,
    })
}
