//! Token lifecycle: create PATs and project keys, revoke, rotate with grace,
//! disable/enable and re-scope keys, rename, rate limits and leaked-token
//! reports (the expiration policy is in `ops::token_policy`). Every change is
//! audited in its own transaction; the token cache notices through
//! `auth_epoch` (see `auth::token_cache`).

use serde_json::json;

use super::ensure_within;
use crate::db::{self, audit, tokens::NewToken, tokens::Token};
use crate::db::{Conn, DbError, Missing, Tx};
use crate::domain::audit::{AuditContext, Target};
use crate::domain::names::DisplayName;
use crate::domain::permission::{key_permissions, Permission, PermissionSet};
use crate::domain::policy::ExpiryRequest;
use crate::domain::principal::{Denied, Principal, ProjectScope};
use crate::domain::time::{from_unix, unix_now};
use crate::domain::token::{InstanceKey, TokenKind, TokenSecret};
use crate::ops::{OpsError, Refusal};

/// A new token: its stored record and the secret, shown once.
pub struct Issued {
    pub token: Token,
    pub secret: TokenSecret,
}

pub fn target(token: &Token) -> Target {
    Target::new("token", token.id.clone(), token.preview.clone())
}

fn resolve_expiry(tx: &Tx, req: ExpiryRequest, now: i64) -> Result<Option<i64>, OpsError> {
    let policy = db::settings::token_policy(tx)?;
    let at = policy.resolve(req, from_unix(now)).map_err(Refusal::Policy)?;
    Ok(at.map(|t| t.unix_timestamp()))
}

/// Resolves project slugs the creator can see; anything else is the uniform 404.
fn resolve_projects(tx: &Tx, by: &Principal, slugs: &[String]) -> Result<Vec<i64>, OpsError> {
    let mut ids = Vec::with_capacity(slugs.len());
    for slug in slugs {
        let project = db::projects::by_slug(tx, slug)?.ok_or(Denied::ProjectNotFound)?;
        by.require_project(project.id)?;
        ids.push(project.id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

pub(crate) fn issue(
    tx: &Tx,
    ctx: &AuditContext,
    new: NewToken,
    secret: TokenSecret,
    action: &str,
) -> Result<Issued, OpsError> {
    let id = db::tokens::insert(tx, &new)?;
    let token = db::tokens::get(tx, &id)?.ok_or_else(|| OpsError::internal("token vanished after insert"))?;
    audit::record(
        tx,
        ctx,
        action,
        Some(&target(&token)),
        json!({
            "kind": token.kind.as_str(),
            "name": token.name,
            "permissions": token.permissions.names(),
            "projects": token.project_slugs(),
            "expires_at": token.expires_at.map(crate::domain::time::rfc3339_unix),
        }),
    )?;
    Ok(Issued { token, secret })
}

pub struct PatRequest {
    pub name: DisplayName,
    pub permissions: PermissionSet,
    /// `None`: every project the owner can see.
    pub projects: Option<Vec<String>>,
    pub expiry: ExpiryRequest,
}

/// A token or key holds at least one permission.
pub fn require_some(permissions: PermissionSet) -> Result<(), OpsError> {
    if permissions.is_empty() {
        return Err(Refusal::NoPermissions.into());
    }
    Ok(())
}

/// A personal access token for `owner_id`, never beyond what `by` holds.
pub fn create_pat(
    tx: &Tx,
    key: &InstanceKey,
    ctx: &AuditContext,
    by: &Principal,
    owner_id: &str,
    req: PatRequest,
) -> Result<Issued, OpsError> {
    by.require(Permission::TokensCreate)?;
    require_some(req.permissions)?;
    ensure_within(req.permissions, by.permissions)?;
    let projects = match (&req.projects, &by.projects) {
        (None, ProjectScope::All) => None,
        (None, ProjectScope::Only(_)) => return Err(Refusal::AllProjectsFromRestricted.into()),
        (Some(slugs), _) => Some(resolve_projects(tx, by, slugs)?),
    };
    let now = unix_now();
    let expires_at = resolve_expiry(tx, req.expiry, now)?;
    let secret = TokenSecret::generate(TokenKind::Pat);
    let new = NewToken {
        kind: TokenKind::Pat,
        name: req.name.as_str(),
        hash: &secret.hash(key),
        preview: &secret.preview(),
        owner_id: Some(owner_id),
        project_id: None,
        permissions: req.permissions,
        projects: projects.as_deref(),
        created_at: now,
        created_by: &ctx.actor,
        expires_at,
        rate_limit_per_minute: None,
        publisher_id: None,
    };
    issue(tx, ctx, new, secret, "token.created")
}

pub struct KeyRequest {
    pub name: DisplayName,
    pub permissions: PermissionSet,
    pub expiry: ExpiryRequest,
}

/// A project API key; `by` needs `projects:manage` and must hold what it grants.
pub fn create_key(
    tx: &Tx,
    key: &InstanceKey,
    ctx: &AuditContext,
    by: &Principal,
    project_slug: &str,
    req: KeyRequest,
) -> Result<Issued, OpsError> {
    let project = super::visible_project(tx, by, project_slug)?;
    by.require(Permission::ProjectsManage)?;
    check_key_permissions(by, req.permissions)?;
    let now = unix_now();
    let expires_at = resolve_expiry(tx, req.expiry, now)?;
    let secret = TokenSecret::generate(TokenKind::Key);
    let new = NewToken {
        kind: TokenKind::Key,
        name: req.name.as_str(),
        hash: &secret.hash(key),
        preview: &secret.preview(),
        owner_id: None,
        project_id: Some(project.id),
        permissions: req.permissions,
        projects: None,
        created_at: now,
        created_by: &ctx.actor,
        expires_at,
        rate_limit_per_minute: None,
        publisher_id: None,
    };
    issue(tx, ctx, new, secret, "token.created")
}

fn check_key_permissions(by: &Principal, permissions: PermissionSet) -> Result<(), OpsError> {
    require_some(permissions)?;
    if let Some(p) = permissions.first_missing(key_permissions()) {
        return Err(Refusal::NotAKeyPermission(p).into());
    }
    ensure_within(permissions, by.permissions)
}

/// `by`'s own personal access token `id`; anything else is "not found".
pub fn own_pat(conn: &Conn, by: &Principal, id: &str) -> Result<Token, OpsError> {
    let token = load(conn, id)?;
    if token.kind != TokenKind::Pat || token.owner_id() != by.account_id.as_deref() {
        return Err(DbError::NotFound(Missing::Token).into());
    }
    may_manage(by, &token)?;
    Ok(token)
}

/// The key `id` of project `slug`, for someone who manages that project;
/// a key of another project, a PAT or an invisible project is "not found".
pub fn project_key(conn: &Conn, by: &Principal, slug: &str, id: &str) -> Result<Token, OpsError> {
    project_token(conn, by, slug, id, TokenKind::Key, Missing::Key)
}

/// Token `id` of kind `kind` (a key or an exchanged OIDC token) of project
/// `slug`, if `by` manages that project; any other token is `missing`.
pub fn project_token(
    conn: &Conn,
    by: &Principal,
    slug: &str,
    id: &str,
    kind: TokenKind,
    missing: Missing,
) -> Result<Token, OpsError> {
    let project = super::visible_project(conn, by, slug)?;
    by.require(Permission::ProjectsManage)?;
    let token = load(conn, id)?;
    if token.kind != kind || token.project.as_ref().map(|(pid, _)| *pid) != Some(project.id) {
        return Err(DbError::NotFound(missing).into());
    }
    Ok(token)
}

/// Whether `by` may act on `token`: its owner with `tokens:create`, anyone
/// with `tokens:admin`; a project key or an exchanged OIDC token by
/// `projects:manage` on its project.
/// Tokens `by` may not touch, or that reach a project `by` cannot see, are
/// reported as not found.
pub fn may_manage(by: &Principal, token: &Token) -> Result<(), OpsError> {
    let not_found = || OpsError::from(DbError::NotFound(Missing::Token));
    match token.kind {
        TokenKind::Pat => {
            // A caller restricted to some projects neither learns of nor
            // acts on a token reaching others, a PAT for every project
            // included: rotating that would hand it an unrestricted secret
            // (the same rule as `GET /tokens`).
            if let ProjectScope::Only(ids) = &by.projects {
                if !token.reaches_only(ids) {
                    return Err(not_found());
                }
            }
            if by.may(Permission::TokensAdmin) {
                return Ok(());
            }
            if by.account_id.as_deref() != token.owner_id() {
                return Err(not_found());
            }
            Ok(by.require(Permission::TokensCreate)?)
        }
        TokenKind::Key | TokenKind::Oidc => {
            let project = token.project.as_ref().map(|(id, _)| *id).unwrap_or_default();
            if !by.can_see_project(project) {
                return Err(not_found());
            }
            if by.may(Permission::TokensAdmin) {
                return Ok(());
            }
            Ok(by.require(Permission::ProjectsManage)?)
        }
    }
}

pub fn load(tx: &Conn, id: &str) -> Result<Token, OpsError> {
    db::tokens::get(tx, id)?.ok_or(DbError::NotFound(Missing::Token).into())
}

/// Revokes now (idempotent: revoking a revoked token changes nothing).
pub fn revoke(tx: &Tx, ctx: &AuditContext, token: &Token, reason: &str) -> Result<(), OpsError> {
    let now = unix_now();
    if token.revoked_at.is_some_and(|t| t <= now) {
        return Ok(());
    }
    db::tokens::revoke(tx, &token.id, now, reason)?;
    audit::record(tx, ctx, "token.revoked", Some(&target(token)), json!({"reason": reason}))?;
    // A project token's event reaches its project's hooks; every token event the instance's.
    let project = token.project.as_ref().map(|(id, _)| *id);
    crate::ops::webhooks::emit(tx, "token.revoked", project, || Ok(true), || Ok(token_event(token, reason)))?;
    Ok(())
}

/// What a token event says of the token: never its secret.
pub fn token_event(token: &Token, reason: &str) -> serde_json::Value {
    json!({
        "token": {
            "id": token.id, "name": token.name, "preview": token.preview, "kind": token.kind.as_str(),
            "project": token.project.as_ref().map(|(_, slug)| slug),
            "owner": token.owner.as_ref().and_then(|o| o.name.clone()),
            "expires_at": token.expires_at.map(crate::domain::time::rfc3339_unix),
        },
        "reason": reason,
    })
}

pub const MAX_GRACE_SECONDS: u32 = 86_400;

/// A new secret with the same name, kind, permissions and projects, and a
/// new expiry under the current policy; the old one works for `grace` more
/// seconds. The new secret goes to `by`, so, as when creating a token,
/// nobody receives one holding more than they hold (a narrow token of an
/// owner cannot rotate the owner's broad token into its hands).
pub fn rotate(
    tx: &Tx,
    key: &InstanceKey,
    ctx: &AuditContext,
    by: &Principal,
    old: &Token,
    grace_seconds: u32,
) -> Result<Issued, OpsError> {
    if grace_seconds > MAX_GRACE_SECONDS {
        return Err(Refusal::GraceOutOfRange { max: MAX_GRACE_SECONDS }.into());
    }
    if old.kind == TokenKind::Oidc {
        return Err(Refusal::NotRotatable.into());
    }
    ensure_within(old.permissions, by.permissions)?;
    let now = unix_now();
    let status = old.status(now);
    if matches!(status, crate::db::tokens::TokenStatus::Revoked) {
        return Err(Refusal::TokenRevoked.into());
    }
    if old.revoked_at.is_some() {
        // Rotated already and in its grace period: a second successor would
        // leave two live secrets behind one name.
        return Err(Refusal::TokenRotated.into());
    }
    let expires_at = resolve_expiry(tx, ExpiryRequest::Default, now)?;
    let secret = TokenSecret::generate(old.kind);
    let project_ids: Option<Vec<i64>> = old.projects.as_ref().map(|p| p.iter().map(|(id, _)| *id).collect());
    let new = NewToken {
        kind: old.kind,
        name: &old.name,
        hash: &secret.hash(key),
        preview: &secret.preview(),
        owner_id: old.owner_id(),
        project_id: old.project.as_ref().map(|(id, _)| *id),
        permissions: old.permissions,
        projects: project_ids.as_deref(),
        created_at: now,
        created_by: &ctx.actor,
        expires_at,
        rate_limit_per_minute: old.rate_limit_per_minute,
        publisher_id: None,
    };
    let id = db::tokens::insert(tx, &new)?;
    if old.disabled {
        db::tokens::set_disabled(tx, &id, true)?;
    }
    db::tokens::revoke(tx, &old.id, now + i64::from(grace_seconds), "rotated")?;
    let token = load(tx, &id)?;
    audit::record(
        tx,
        ctx,
        "token.rotated",
        Some(&target(old)),
        json!({"new_token": token.id, "new_preview": token.preview, "grace_seconds": grace_seconds}),
    )?;
    Ok(Issued { token, secret })
}

/// Changes a key's name, permissions or disabled flag; each change audited.
pub fn update_key(
    tx: &Tx,
    ctx: &AuditContext,
    by: &Principal,
    token: &Token,
    name: Option<DisplayName>,
    permissions: Option<PermissionSet>,
    disabled: Option<bool>,
) -> Result<Token, OpsError> {
    if let Some(name) = name.filter(|n| n.as_str() != token.name) {
        db::tokens::set_name(tx, &token.id, name.as_str())?;
        audit::record(tx, ctx, "token.updated", Some(&target(token)), json!({"name": name.as_str()}))?;
    }
    if let Some(permissions) = permissions.filter(|p| *p != token.permissions) {
        check_key_permissions(by, permissions)?;
        db::tokens::set_permissions(tx, &token.id, permissions)?;
        audit::record(
            tx,
            ctx,
            "token.updated",
            Some(&target(token)),
            json!({"permissions": {"from": token.permissions.names(), "to": permissions.names()}}),
        )?;
    }
    if let Some(disabled) = disabled.filter(|d| *d != token.disabled) {
        db::tokens::set_disabled(tx, &token.id, disabled)?;
        let action = if disabled { "token.disabled" } else { "token.enabled" };
        audit::record(tx, ctx, action, Some(&target(token)), json!({}))?;
    }
    load(tx, &token.id)
}

/// Renames a token and/or sets its rate limit (`tokens:admin` only).
pub fn update_token(
    tx: &Tx,
    ctx: &AuditContext,
    by: &Principal,
    token: &Token,
    name: Option<DisplayName>,
    rate_limit: Option<Option<u32>>,
) -> Result<Token, OpsError> {
    if let Some(limit) = rate_limit {
        by.require(Permission::TokensAdmin)?;
        if limit == Some(0) || limit.is_some_and(|l| l > 1_000_000) {
            return Err(Refusal::RateLimitOutOfRange.into());
        }
        if limit != token.rate_limit_per_minute {
            db::tokens::set_rate_limit(tx, &token.id, limit)?;
            audit::record(tx, ctx, "token.updated", Some(&target(token)), json!({"rate_limit_per_minute": limit}))?;
        }
    }
    if let Some(name) = name.filter(|n| n.as_str() != token.name) {
        db::tokens::set_name(tx, &token.id, name.as_str())?;
        audit::record(tx, ctx, "token.updated", Some(&target(token)), json!({"name": name.as_str()}))?;
    }
    load(tx, &token.id)
}

/// Deletes a project key (it stops working at once; the audit keeps its story).
pub fn delete_key(tx: &Tx, ctx: &AuditContext, token: &Token) -> Result<(), OpsError> {
    db::tokens::delete(tx, &token.id)?;
    Ok(audit::record(tx, ctx, "token.deleted", Some(&target(token)), json!({}))?)
}

/// A leaked token reported without an account: revoke it if it exists.
pub fn revoke_reported(tx: &Tx, key: &InstanceKey, ctx: &AuditContext, raw: &str) -> Result<(), OpsError> {
    let Ok(secret) = TokenSecret::parse(raw.trim()) else { return Ok(()) };
    if let Some(token) = db::tokens::by_hash(tx, &secret.hash(key))? {
        revoke(tx, ctx, &token, "reported_leaked")?;
    }
    Ok(())
}

/// Revokes every token an account owns (on deactivation).
pub fn revoke_all_of_owner(tx: &Tx, ctx: &AuditContext, owner_id: &str) -> Result<(), OpsError> {
    let now = unix_now();
    for id in db::tokens::revoke_all_of_owner(tx, owner_id, now)? {
        let token = load(tx, &id)?;
        audit::record(tx, ctx, "token.revoked", Some(&target(&token)), json!({"reason": "owner_deactivated"}))?;
    }
    Ok(())
}
