//! The global token expiration policy: what it may contain, and which expiry a new token gets under it.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, UtcOffset};

/// Lifetimes the token form offers, in days; 90 is preselected.
pub const PRESET_DAYS: [u32; 6] = [7, 30, 60, 90, 180, 365];
/// The lifetime a user-choice token gets when the request names none.
pub const DEFAULT_DAYS: u32 = 90;
/// Upper bound for every day count in a policy (about ten years).
pub const MAX_POLICY_DAYS: u32 = 3650;

/// How far a stored lifetime may run past the policy before a token is
/// flagged. `created_at` is stamped a moment before the expiry is resolved,
/// and only the expiry is cut to whole seconds, so a compliant token can look
/// a little longer than the limit.
const EXCEEDS_TOLERANCE: Duration = Duration::minutes(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyMode {
    /// Each user picks a lifetime up to `max_days` (or none, if allowed).
    #[default]
    UserChoice,
    /// Every new token expires after `fixed_days`; the form offers no choice.
    Fixed,
}

/// The policy as `GET`/`PUT /api/v1/settings/token-policy` carry it.
///
/// A `PUT` replaces the whole policy, and a missing field takes its default,
/// hence `#[serde(default)]`. Unknown fields are refused: with replace
/// semantics a misspelt `max_day` would otherwise silently reset `max_days`.
/// `null` is accepted only for `revoke_unused_after_days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenPolicy {
    pub mode: PolicyMode,
    /// The lifetime of every new token under `fixed`, in days (1–3650).
    #[schema(minimum = 1, maximum = 3650)]
    pub fixed_days: u32,
    /// The longest lifetime a user may choose under `user_choice` (1–3650).
    #[schema(minimum = 1, maximum = 3650)]
    pub max_days: u32,
    /// Whether a user may choose no expiry under `user_choice`.
    pub allow_no_expiry: bool,
    /// Revoke tokens unused for this many days (1–3650); null: never.
    #[schema(minimum = 1, maximum = 3650)]
    pub revoke_unused_after_days: Option<u32>,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy {
            mode: PolicyMode::UserChoice,
            fixed_days: DEFAULT_DAYS,
            max_days: 365,
            allow_no_expiry: false,
            revoke_unused_after_days: None,
        }
    }
}

/// A policy field out of range; the API answers 422 naming `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidPolicy {
    pub field: &'static str,
    pub message: String,
}

/// What a token-creation request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryRequest {
    /// Nothing said: the policy's default lifetime.
    Default,
    /// `expires_in_days`, e.g. one of [`PRESET_DAYS`].
    InDays(u32),
    /// `expires_at`, an explicit instant.
    At(OffsetDateTime),
    /// Explicitly no expiry.
    Never,
}

/// Names of the rules a [`PolicyViolation`] can cite, as the API reports them.
pub mod rules {
    pub const MAX_DAYS: &str = "max_days";
    pub const ALLOW_NO_EXPIRY: &str = "allow_no_expiry";
    pub const FIXED: &str = "fixed";
    pub const EXPIRES_AT_PAST: &str = "expires_at_past";
    pub const INVALID_DAYS: &str = "invalid_days";
}

/// A creation request the policy does not allow: 422 `policy_violation`,
/// with `message` as the human sentence and `rule` naming what was broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyViolation {
    pub rule: &'static str,
    pub message: String,
}

impl PolicyViolation {
    fn max_days(max_days: u32) -> Self {
        PolicyViolation {
            rule: rules::MAX_DAYS,
            message: format!(
                "Tokens may expire at most {max_days} {} from now (policy max_days).",
                plural_days(max_days)
            ),
        }
    }

    fn fixed(fixed_days: u32) -> Self {
        PolicyViolation {
            rule: rules::FIXED,
            message: format!(
                "The policy sets every token to expire after {fixed_days} {}; \
                 leave the expiration unset (policy fixed).",
                plural_days(fixed_days)
            ),
        }
    }
}

fn plural_days(n: u32) -> &'static str {
    if n == 1 {
        "day"
    } else {
        "days"
    }
}

impl TokenPolicy {
    /// Checks ranges only. Fields the mode does not use (`fixed_days` under
    /// `user_choice`, `max_days` and `allow_no_expiry` under `fixed`) are still
    /// range-checked, so switching modes later never revives a nonsense value,
    /// but they are not checked against each other.
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        check_days("fixed_days", self.fixed_days)?;
        check_days("max_days", self.max_days)?;
        if let Some(days) = self.revoke_unused_after_days {
            check_days("revoke_unused_after_days", days)?;
        }
        Ok(())
    }

    /// The lifetime a request that names none gets. Under `user_choice` that is
    /// 90 days, lowered to `max_days` when the policy allows less, so the
    /// default request always succeeds.
    pub fn default_days(&self) -> u32 {
        match self.mode {
            PolicyMode::Fixed => self.fixed_days,
            PolicyMode::UserChoice => DEFAULT_DAYS.min(self.max_days),
        }
    }

    /// The presets the form may offer under this policy (none under `fixed`).
    pub fn allowed_presets(&self) -> Vec<u32> {
        match self.mode {
            PolicyMode::Fixed => Vec::new(),
            PolicyMode::UserChoice => PRESET_DAYS.into_iter().filter(|&d| d <= self.max_days).collect(),
        }
    }

    /// The expiry (`None`: never) a token created at `now` gets, in UTC and
    /// whole seconds (`now` is cut down to its second first).
    ///
    /// Malformed requests (`InDays(0)`, an instant not after the current
    /// second) are reported as such before any policy rule, in either mode.
    /// Under `fixed`, an explicit `InDays(fixed_days)` is accepted because it
    /// asks for exactly what the policy gives (scripts that always pass
    /// `--expires-in-days 90` keep working); any other choice is refused with
    /// rule `fixed` rather than silently overridden. `At` is refused under
    /// `fixed` even when it happens to match, since nobody can aim it exactly.
    /// The upper bound is strict on the server clock: `now + max_days` is
    /// allowed, one second more is not.
    pub fn resolve(&self, req: ExpiryRequest, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, PolicyViolation> {
        let now = whole_seconds_utc(now);
        match req {
            ExpiryRequest::InDays(0) => {
                return Err(PolicyViolation {
                    rule: rules::INVALID_DAYS,
                    message: "expires_in_days must be at least 1.".to_owned(),
                })
            }
            ExpiryRequest::At(at) if whole_seconds_utc(at) <= now => {
                return Err(PolicyViolation {
                    rule: rules::EXPIRES_AT_PAST,
                    message: "expires_at must be in the future.".to_owned(),
                })
            }
            _ => {}
        }

        match (self.mode, req) {
            (PolicyMode::Fixed, ExpiryRequest::Default) => add_days(now, self.fixed_days).map(Some),
            (PolicyMode::Fixed, ExpiryRequest::InDays(days)) if days == self.fixed_days => {
                add_days(now, days).map(Some)
            }
            (PolicyMode::Fixed, _) => Err(PolicyViolation::fixed(self.fixed_days)),

            (PolicyMode::UserChoice, ExpiryRequest::Default) => add_days(now, self.default_days()).map(Some),
            (PolicyMode::UserChoice, ExpiryRequest::InDays(days)) => {
                if days > self.max_days {
                    return Err(PolicyViolation::max_days(self.max_days));
                }
                add_days(now, days).map(Some)
            }
            (PolicyMode::UserChoice, ExpiryRequest::At(at)) => {
                let at = whole_seconds_utc(at);
                if at > add_days(now, self.max_days)? {
                    return Err(PolicyViolation::max_days(self.max_days));
                }
                Ok(Some(at))
            }
            (PolicyMode::UserChoice, ExpiryRequest::Never) if self.allow_no_expiry => Ok(None),
            (PolicyMode::UserChoice, ExpiryRequest::Never) => Err(PolicyViolation {
                rule: rules::ALLOW_NO_EXPIRY,
                message: "Tokens must have an expiration date (policy allow_no_expiry).".to_owned(),
            }),
        }
    }

    /// Whether an existing token would not be allowed if created now: no expiry
    /// where the policy demands one, or a lifetime longer than `max_days`
    /// (`fixed_days` under `fixed`), beyond a one-minute tolerance. A shorter
    /// lifetime than `fixed_days` is not an excess.
    pub fn exceeds(&self, created_at: OffsetDateTime, expires_at: Option<OffsetDateTime>) -> bool {
        let limit_days = match self.mode {
            PolicyMode::Fixed => self.fixed_days,
            PolicyMode::UserChoice => self.max_days,
        };
        match expires_at {
            None => self.mode == PolicyMode::Fixed || !self.allow_no_expiry,
            Some(expires_at) => expires_at - created_at > Duration::days(i64::from(limit_days)) + EXCEEDS_TOLERANCE,
        }
    }

    /// Tokens last used (or, if never used, created) before this instant are to
    /// be revoked as unused; `None` when the policy does not revoke them.
    pub fn unused_cutoff(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let days = self.revoke_unused_after_days?;
        now.checked_sub(Duration::days(i64::from(days)))
    }
}

fn check_days(field: &'static str, days: u32) -> Result<(), InvalidPolicy> {
    if (1..=MAX_POLICY_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(InvalidPolicy { field, message: format!("{field} must be between 1 and {MAX_POLICY_DAYS} days.") })
    }
}

fn whole_seconds_utc(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    t - Duration::nanoseconds(i64::from(t.nanosecond()))
}

/// `now + days`, refusing rather than panicking if a stored policy that was
/// never validated pushes the date past what `time` can represent.
fn add_days(now: OffsetDateTime, days: u32) -> Result<OffsetDateTime, PolicyViolation> {
    now.checked_add(Duration::days(i64::from(days))).ok_or_else(|| PolicyViolation::max_days(days))
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
