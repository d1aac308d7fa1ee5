//! Quarantine: rules that keep a known-flaky test's failures from failing
//! its runs (API.md section 9). Made and released by people with
//! `tests:manage`, audited as `test.quarantined` and `test.released`.

use serde_json::json;
use time::OffsetDateTime;

use crate::db::analysis::test_info;
use crate::db::quarantine::{self, NewRule, ReleaseReason, Rule};
use crate::db::{audit, DbError, Missing, Tx};
use crate::domain::audit::{Actor, AuditContext, Target};
use crate::domain::permission::Permission;
use crate::domain::principal::Principal;
use crate::domain::quarantine::{self as rules, Pattern, RuleError};
use crate::domain::time::{now, rfc3339_unix, unix_now};
use crate::ops::{visible_project, OpsError};

/// What a rule covers.
#[derive(Debug, Clone)]
pub enum Covers {
    /// One test, by its hex id.
    Test(String),
    Pattern(Pattern),
}

/// A rule as requested, its fields already valid (`domain::quarantine`).
#[derive(Debug, Clone)]
pub struct Quarantine {
    pub covers: Covers,
    pub reason: String,
    pub issue_url: Option<String>,
    pub expires_at: i64,
    pub release_after_passes: Option<u32>,
}

impl Quarantine {
    /// A rule made now from its fields as asked for, each checked by
    /// `domain::quarantine` (the API's body and the page's form alike).
    pub fn new(
        covers: Covers,
        reason: &str,
        issue_url: Option<&str>,
        expires_in_days: Option<i64>,
        expires_at: Option<OffsetDateTime>,
        release_after_passes: Option<i64>,
    ) -> Result<Quarantine, RuleError> {
        Ok(Quarantine {
            covers,
            reason: rules::reason(reason)?,
            issue_url: rules::issue_url(issue_url)?,
            expires_at: rules::expires_at(now(), expires_in_days, expires_at)?.unix_timestamp(),
            release_after_passes: rules::release_after_passes(release_after_passes)?,
        })
    }
}

/// The audit target of a rule: its id, and the test or pattern it covers.
pub(super) fn target(rule: &Rule) -> Target {
    let what = match (&rule.test_id, &rule.pattern) {
        (Some(test), _) => format!("test {test}"),
        (None, Some(p)) => format!("pattern {}", p.describe()),
        (None, None) => "rule".into(),
    };
    Target::new("quarantine_rule", rule.id.clone(), what)
}

/// Queues `test.quarantined` or `test.released` (`kind`) about `rule` of
/// project `slug` for the webhooks that hear it; `why` is the rule's reason
/// or the release's.
pub fn announce(
    tx: &Tx,
    kind: &'static str,
    (project_id, slug): (i64, &str),
    rule: &Rule,
    why: &str,
) -> Result<(), OpsError> {
    crate::ops::webhooks::emit(
        tx,
        kind,
        Some(project_id),
        || Ok(true),
        || {
            Ok(json!({
                "project": slug,
                "test": {"id": rule.test_id, "name": target(rule).name},
                "rule": rule,
                "reason": why,
                "path": format!("/projects/{slug}/quarantine"),
            }))
        },
    )?;
    Ok(())
}

/// Quarantines what `request` covers in project `slug`; returns the rule.
pub fn create(tx: &Tx, ctx: &AuditContext, by: &Principal, slug: &str, request: Quarantine) -> Result<Rule, OpsError> {
    let project = visible_project(tx, by, slug)?;
    by.require(Permission::TestsManage)?;
    let test = match &request.covers {
        Covers::Test(id) => Some(test_info(tx, project.id, id)?.ok_or(DbError::NotFound(Missing::Test))?.0),
        Covers::Pattern(_) => None,
    };
    let pattern = match &request.covers {
        Covers::Pattern(p) => Some(p),
        Covers::Test(_) => None,
    };
    let id = uuid::Uuid::now_v7().to_string();
    let now = unix_now();
    quarantine::insert(
        tx,
        &NewRule {
            id: &id,
            project_id: project.id,
            test,
            pattern,
            reason: &request.reason,
            issue_url: request.issue_url.as_deref(),
            created_by: &ctx.actor,
            created_at: now,
            expires_at: request.expires_at,
            release_after_passes: request.release_after_passes,
        },
    )?;
    let rule = quarantine::get(tx, project.id, &id, now)?;
    let details = json!({
        "project": project.slug,
        "reason": rule.reason,
        "issue_url": rule.issue_url,
        "expires_at": rfc3339_unix(rule.expires_at),
        "release_after_passes": rule.release_after_passes,
    });
    audit::record(tx, ctx, "test.quarantined", Some(&target(&rule)), details)?;
    announce(tx, "test.quarantined", (project.id, &project.slug), &rule, &rule.reason)?;
    Ok(rule)
}

/// Releases rule `id` of project `slug` now. Releasing a rule that no
/// longer applies (released, or expired) changes nothing and succeeds.
pub fn release(tx: &Tx, ctx: &AuditContext, by: &Principal, slug: &str, id: &str) -> Result<(), OpsError> {
    let project = visible_project(tx, by, slug)?;
    by.require(Permission::TestsManage)?;
    let now = unix_now();
    let rule = quarantine::get(tx, project.id, id, now)?;
    if rule.active && quarantine::release(tx, id, now, &ctx.actor, ReleaseReason::Manual)? {
        let details = json!({"project": project.slug, "release_reason": ReleaseReason::Manual.as_str()});
        audit::record(tx, ctx, "test.released", Some(&target(&rule)), details)?;
        announce(tx, "test.released", (project.id, &project.slug), &rule, "released by hand")?;
    }
    Ok(())
}

/// Expired rules recorded per pass; more wait for the next pass.
const EXPIRY_BATCH: u32 = 500;

/// Records the expiry of rules past `expires_at` (by the system, as of
/// `expires_at`, when they stopped applying), each audited as
/// `test.released` with reason `expired`. Returns how many.
pub fn record_expired(tx: &Tx) -> Result<usize, OpsError> {
    let now = unix_now();
    let system = AuditContext { actor: Actor::system(), ip: None, user_agent: None };
    let expired = quarantine::expired_unreleased(tx, now, EXPIRY_BATCH)?;
    for (id, project_id, slug) in &expired {
        let rule = quarantine::get(tx, *project_id, id, now)?;
        if quarantine::release(tx, id, rule.expires_at, &system.actor, ReleaseReason::Expired)? {
            let details = json!({"project": slug, "release_reason": ReleaseReason::Expired.as_str()});
            audit::record(tx, &system, "test.released", Some(&target(&rule)), details)?;
            announce(tx, "test.released", (*project_id, slug), &rule, "the rule expired")?;
        }
    }
    Ok(expired.len())
}
