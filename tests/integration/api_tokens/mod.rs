//! The access-token API (API.md sections 2, 5, 6 and 8): the error table,
//! the headers of authenticated responses, rate limits, immediate
//! revocation, rotation, the expiration policy, "last used", escalation,
//! offline changes, leaked-token reports, secrets and the audit trail.
//! One submodule per theme; the helpers they share are here.

mod audit;
mod errors;
mod escalation;
mod lifecycle;
mod limits;
mod offline;
mod policy;
mod secrets;

use crate::helpers::SpawnOptions;

const MEMBER_PERMISSIONS: &str = "projects:read,runs:read,runs:write,artifacts:write,tokens:create";

fn rate_limited_app(per_minute: u32) -> SpawnOptions {
    SpawnOptions { args: vec!["--rate-limit-per-minute".into(), per_minute.to_string()], ..Default::default() }
}
