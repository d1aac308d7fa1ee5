//! Marking a flaky test fixed (API.md section 9): from then on only results
//! after the mark count for it, and it is listed as `fixed` until a signal
//! fires again. Needs `tests:manage`; audited as `test.marked_fixed`.

use serde_json::json;

use crate::db::analysis::test_info;
use crate::db::flaky::{self, FlakyTest};
use crate::db::{audit, signals, DbError, Missing, Tx};
use crate::domain::audit::{AuditContext, Target};
use crate::domain::permission::Permission;
use crate::domain::principal::Principal;
use crate::domain::time::{unix_now, window_start};
use crate::ops::{visible_project, OpsError};

/// The window a test must be listed in to be marked (the longest the flaky
/// list is read over: a row of any list may be marked), and the answer's.
pub const MARK_WINDOW_DAYS: u32 = 365;

/// Marks test `test_id` of project `slug` fixed now; returns its flaky item.
/// A test with no signal and no mark in the last [`MARK_WINDOW_DAYS`] is
/// not found.
pub fn mark_fixed(
    tx: &Tx,
    ctx: &AuditContext,
    by: &Principal,
    slug: &str,
    test_id: &str,
) -> Result<FlakyTest, OpsError> {
    let project = visible_project(tx, by, slug)?;
    by.require(Permission::TestsManage)?;
    let (test, info) = test_info(tx, project.id, test_id)?.ok_or(DbError::NotFound(Missing::Test))?;
    let now = unix_now();
    let since = window_start(now, MARK_WINDOW_DAYS);
    let before = flaky::one(tx, &project, test, since, now)?.ok_or(DbError::NotFound(Missing::Test))?;
    signals::mark_fixed(tx, project.id, test, now, &ctx.actor)?;
    let details = json!({
        "project": project.slug,
        "state_before": before.state.as_str(),
        "signals_before": before.signals,
    });
    let name = format!("{} › {}", info.classname, info.name);
    audit::record(tx, ctx, "test.marked_fixed", Some(&Target::new("test", test_id, name)), details)?;
    Ok(flaky::one(tx, &project, test, since, now)?.ok_or(DbError::NotFound(Missing::Test))?)
}
