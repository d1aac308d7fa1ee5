//! Who is asking, and what they may do: [`Principal`], the one place that
//! answers "may this principal do X", for every page, route and operation.
//! A refusal is a [`Denied`]; `error.rs` turns it into a status and a sentence.

use crate::domain::audit::Actor;
use crate::domain::permission::{Permission, PermissionSet};

/// Why a principal may not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Its permissions lack this one.
    MissingPermission(Permission),
    /// The project does not exist or is not visible to it (the same answer,
    /// so that nobody can probe which projects exist).
    ProjectNotFound,
}

/// Which projects a principal may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    All,
    /// Project ids (a restricted token, or a project key's one project).
    Only(Vec<i64>),
}

/// An authenticated caller with its effective permissions **now**.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    /// The account behind the caller (the owner, for a token); none for a project key.
    pub account_id: Option<String>,
    pub permissions: PermissionSet,
    pub projects: ProjectScope,
}

impl Principal {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// The permission check every page and route goes through.
    pub fn require(&self, permission: Permission) -> Result<(), Denied> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(Denied::MissingPermission(permission))
        }
    }

    pub fn can_see_project(&self, project_id: i64) -> bool {
        match &self.projects {
            ProjectScope::All => true,
            ProjectScope::Only(ids) => ids.contains(&project_id),
        }
    }

    /// A project needs `projects:read` (or the permission at hand) and
    /// visibility; failing either gives the same 404 as a missing project, so
    /// that nobody can probe which projects exist.
    pub fn require_project(&self, project_id: i64) -> Result<(), Denied> {
        if self.can_see_project(project_id) {
            Ok(())
        } else {
            Err(Denied::ProjectNotFound)
        }
    }
}
