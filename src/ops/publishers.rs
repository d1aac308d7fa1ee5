//! Trusted publishers of a project (API.md section 11): adding and removing
//! them, audited, by whoever may manage the project.

use std::collections::BTreeMap;

use serde_json::json;

use crate::db::publishers::{self, Publisher};
use crate::db::{audit, Conn, Tx};
use crate::domain::audit::{AuditContext, Target};
use crate::domain::permission::{Permission, PermissionSet};
use crate::domain::principal::Principal;
use crate::domain::publisher::{self as rules, PublisherError};
use crate::domain::time::unix_now;
use crate::ops::{visible_project, OpsError};

/// A publisher as asked for, each field already checked by `domain::publisher`.
pub struct NewPublisher {
    pub issuer: String,
    pub audience: String,
    pub claims: BTreeMap<String, String>,
    pub permissions: PermissionSet,
    pub token_minutes: u32,
}

/// A publisher as a form or an API body states it, before any check.
pub struct Draft {
    pub issuer: String,
    /// `None`: the server's public URL.
    pub audience: Option<String>,
    pub claims: BTreeMap<String, String>,
    pub permissions: PermissionSet,
    /// `None`: 15 minutes.
    pub token_minutes: Option<u32>,
}

impl Draft {
    /// Every field checked by `domain::publisher`: the first that is wrong
    /// is named. `public_url` is the audience when none is given.
    pub fn checked(self, public_url: Option<&str>) -> Result<NewPublisher, PublisherError> {
        let issuer = rules::issuer(&self.issuer)?;
        let audience = match (self.audience, public_url) {
            (Some(a), _) => rules::audience(&a)?,
            (None, Some(url)) => url.to_string(),
            (None, None) => {
                return Err(PublisherError::new(
                    "audience",
                    "audience is required: this server has no --public-url to default to.",
                ))
            }
        };
        let claims = rules::claims(&self.claims)?;
        rules::check_scope(&issuer, &claims)?;
        let permissions = rules::permissions(self.permissions)?;
        let token_minutes = rules::token_minutes(self.token_minutes.unwrap_or(rules::DEFAULT_MINUTES))?;
        Ok(NewPublisher { issuer, audience, claims, permissions, token_minutes })
    }
}

fn target(p: &Publisher) -> Target {
    Target::new("trusted_publisher", p.id.clone(), p.issuer.clone())
}

/// The publishers of project `slug` after `after`, if `by` may manage it.
pub fn list(
    conn: &Conn,
    by: &Principal,
    slug: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Publisher>, OpsError> {
    let project = visible_project(conn, by, slug)?;
    by.require(Permission::ProjectsManage)?;
    Ok(publishers::list(conn, project.id, after, limit)?)
}

pub fn create(
    tx: &Tx,
    ctx: &AuditContext,
    by: &Principal,
    slug: &str,
    new: NewPublisher,
) -> Result<Publisher, OpsError> {
    let project = visible_project(tx, by, slug)?;
    by.require(Permission::ProjectsManage)?;
    let publisher = Publisher {
        id: uuid::Uuid::now_v7().to_string(),
        project_id: project.id,
        issuer: new.issuer,
        audience: new.audience,
        claims: new.claims,
        permissions: new.permissions,
        token_minutes: new.token_minutes,
        created_at: unix_now(),
        created_by: ctx.actor.clone(),
    };
    publishers::insert(tx, &publisher)?;
    let details = json!({
        "project": project.slug,
        "audience": publisher.audience,
        "claims": publisher.claims,
        "permissions": publisher.permissions.names(),
        "token_minutes": publisher.token_minutes,
    });
    audit::record(tx, ctx, "trusted_publisher.created", Some(&target(&publisher)), details)?;
    Ok(publisher)
}

/// Deletes publisher `id` of project `slug`. Tokens it let in live on
/// until they expire or are revoked; they just no longer name it.
pub fn delete(tx: &Tx, ctx: &AuditContext, by: &Principal, slug: &str, id: &str) -> Result<(), OpsError> {
    let project = visible_project(tx, by, slug)?;
    by.require(Permission::ProjectsManage)?;
    let publisher = publishers::get(tx, project.id, id)?;
    publishers::delete(tx, &publisher.id)?;
    let details = json!({"project": project.slug, "claims": publisher.claims});
    audit::record(tx, ctx, "trusted_publisher.deleted", Some(&target(&publisher)), details)?;
    Ok(())
}
