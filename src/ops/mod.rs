//! State changes, one function each: validate against the current state,
//! write the change and its audit event in the caller's transaction. The web
//! UI, the JSON API and the offline CLI all go through these, so a rule is
//! written once. Slow work (password hashing) happens before, outside the
//! write transaction.

pub mod accounts;
pub mod attachments;
mod error;
pub mod expiry_warnings;
pub mod flaky;
pub mod ingest;
pub mod oidc;
pub mod projects;
pub mod publishers;
pub mod quarantine;
pub mod roles;
pub mod sessions;
pub mod token_policy;
pub mod tokens;
pub mod webhooks;

pub use error::{OpsError, Refusal};

use crate::db::Conn;
use crate::db::{self, projects::Project};
use crate::domain::permission::PermissionSet;
use crate::domain::principal::{Denied, Principal};

/// The project named `slug`, if `by` may see it; a missing and an invisible
/// project are the same 404, so that nobody can probe which projects exist.
/// Every route and page of a project starts here.
pub fn visible_project(conn: &Conn, by: &Principal, slug: &str) -> Result<Project, OpsError> {
    let project = db::projects::require(conn, slug)?;
    by.require_project(project.id)?;
    Ok(project)
}

/// Nobody hands out more than they hold: `granted` must be within `held`.
pub fn ensure_within(granted: PermissionSet, held: PermissionSet) -> Result<(), OpsError> {
    match granted.first_missing(held) {
        Some(p) => Err(Denied::MissingPermission(p).into()),
        None => Ok(()),
    }
}
