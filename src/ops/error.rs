//! Why an `ops` function did not make its change: a rule said no (a
//! [`Refusal`], with what the rule saw), the caller may not ([`Denied`]), or
//! storage failed ([`DbError`]). None of them is a response: `error.rs` maps
//! each to a status, a code and a sentence.

use crate::db::DbError;
use crate::domain::permission::Permission;
use crate::domain::policy::{InvalidPolicy, PolicyViolation};
use crate::domain::principal::Denied;
use crate::domain::webhook::WebhookError;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error("denied: {0:?}")]
    Denied(Denied),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The rule that refused a change, with the data it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A new or rotated token breaks the global expiration policy.
    Policy(PolicyViolation),
    /// The expiration policy itself is not valid.
    InvalidPolicy(InvalidPolicy),
    /// A token with no permission at all.
    NoPermissions,
    /// A token restricted to some projects asked for a token for all of them.
    AllProjectsFromRestricted,
    /// A token restricted to some projects asked to create a project.
    ProjectFromRestricted,
    /// A project key asked for a permission keys cannot hold.
    NotAKeyPermission(Permission),
    /// A rotation's grace period outside 0..=max seconds.
    GraceOutOfRange { max: u32 },
    /// A per-token rate limit outside 1..=1,000,000 requests a minute.
    RateLimitOutOfRange,
    /// Rotating a revoked token.
    TokenRevoked,
    /// Rotating a token that was already rotated (it is in its grace period).
    TokenRotated,
    /// Rotating an exchanged OIDC token: the CI job exchanges a new one.
    NotRotatable,
    /// Giving an account a role that does not exist.
    UnknownRole(String),
    /// Acting on an account whose role holds a permission the actor's does not.
    AccountHoldsMore { account: String, permission: Permission },
    /// A user deactivating their own account.
    DeactivateSelf,
    /// A report for a run that is closed (`status` is what it is now).
    RunTakesNoReports { run: String, status: &'static str },
    /// Finalizing a run that was marked as errored.
    RunErrored,
    /// Marking a run as errored that already passed or failed.
    RunAlreadyClosed { run: String, status: &'static str },
    /// A report with no bytes.
    EmptyReport,
    /// A report that does not parse; the parser's sentence, with line and column.
    InvalidReport(String),
    /// A report larger than `max` bytes once decompressed.
    ReportTooLarge { max: u64 },
    /// A webhook field that is not valid.
    InvalidWebhook(WebhookError),
    /// A ping or redelivery to a webhook that is turned off.
    WebhookInactive,
}

impl OpsError {
    /// A failure of ours, not the caller's (the cause goes to the log).
    pub fn internal(cause: impl std::fmt::Display) -> OpsError {
        OpsError::Db(DbError::internal(cause))
    }
}

impl From<Refusal> for OpsError {
    fn from(refusal: Refusal) -> Self {
        OpsError::Refused(refusal)
    }
}

impl From<Denied> for OpsError {
    fn from(denied: Denied) -> Self {
        OpsError::Denied(denied)
    }
}

impl From<std::io::Error> for OpsError {
    fn from(err: std::io::Error) -> Self {
        OpsError::Db(DbError::from(err))
    }
}
