//! Projects: create, edit, delete.

use serde_json::json;

use crate::db::Tx;
use crate::db::{audit, projects, projects::Project, signals};
use crate::domain::audit::{AuditContext, Target};
use crate::domain::names::{DisplayName, ProjectSlug};
use crate::domain::permission::Permission;
use crate::domain::principal::{Principal, ProjectScope};
use crate::ops::{OpsError, Refusal};

fn target(p: &Project) -> Target {
    Target::new("project", p.slug.clone(), p.name.clone())
}

/// Creates a project for `by`, who must hold `projects:manage` and see
/// every project (a new project is outside any restricted token's list).
pub fn create_as(
    tx: &Tx,
    ctx: &AuditContext,
    by: &Principal,
    slug: &ProjectSlug,
    name: &DisplayName,
    default_branch: &str,
) -> Result<Project, OpsError> {
    by.require(Permission::ProjectsManage)?;
    if by.projects != ProjectScope::All {
        return Err(Refusal::ProjectFromRestricted.into());
    }
    create(tx, ctx, slug, name, default_branch)
}

pub fn create(
    tx: &Tx,
    ctx: &AuditContext,
    slug: &ProjectSlug,
    name: &DisplayName,
    default_branch: &str,
) -> Result<Project, OpsError> {
    let project = projects::insert(tx, slug.as_str(), name.as_str(), default_branch)?;
    audit::record(tx, ctx, "project.created", Some(&target(&project)), json!({"default_branch": default_branch}))?;
    Ok(project)
}

pub fn update(
    tx: &Tx,
    ctx: &AuditContext,
    slug: &str,
    name: Option<&DisplayName>,
    default_branch: Option<&str>,
    flip_threshold: Option<u32>,
) -> Result<Project, OpsError> {
    let before = projects::require(tx, slug)?;
    let name = name.map_or(before.name.as_str(), DisplayName::as_str);
    let branch = default_branch.unwrap_or(&before.default_branch);
    let threshold = flip_threshold.unwrap_or(before.flaky_flip_threshold);
    if name == before.name && branch == before.default_branch && threshold == before.flaky_flip_threshold {
        return Ok(before);
    }
    projects::update(tx, before.id, name, branch, threshold)?;
    if branch != before.default_branch {
        // Flips count on the default branch: the new one starts afresh.
        signals::forget_standings(tx, before.id)?;
    }
    let details = json!({"name": name, "default_branch": branch, "flaky_flip_threshold": threshold});
    audit::record(tx, ctx, "project.updated", Some(&target(&before)), details)?;
    Ok(projects::require(tx, slug)?)
}

/// Deletes a project with its runs; returns the run ids, whose attachment
/// files the caller removes once the transaction committed.
pub fn delete(tx: &Tx, ctx: &AuditContext, slug: &str) -> Result<Vec<String>, OpsError> {
    let project = projects::require(tx, slug)?;
    let run_ids = crate::db::attachments::run_ids_of_project(tx, project.id)?;
    projects::delete(tx, project.id)?;
    audit::record(tx, ctx, "project.deleted", Some(&target(&project)), json!({}))?;
    Ok(run_ids)
}
