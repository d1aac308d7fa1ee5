//! State changes, one function each: validate against the current state,
//! write the change and its audit event in the caller's transaction. The web
//! UI, the JSON API and the offline CLI all go through these, so a rule is
//! written once. Slow work (password hashing) happens before, outside the
//! write transaction.

pub mod accounts;
pub mod attachments;
pub mod ingest;
pub mod projects;
pub mod roles;
pub mod token_policy;
pub mod tokens;

use crate::domain::permission::PermissionSet;
use crate::error::AppError;

/// Nobody hands out more than they hold: `granted` must be within `held`.
pub fn ensure_within(granted: PermissionSet, held: PermissionSet) -> Result<(), AppError> {
    match granted.first_missing(held) {
        Some(p) => Err(AppError::MissingPermission(p)),
        None => Ok(()),
    }
}
