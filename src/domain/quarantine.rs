//! Quarantine rules as the API states them (API.md section 9): which tests a
//! rule covers (one test, or globs on suite, classname, name and file), and
//! what a valid new rule is. Pure: storage and the clock come from callers.

use time::OffsetDateTime;

/// Rules last 30 days unless told otherwise, and never more than 180.
pub const DEFAULT_DAYS: i64 = 30;
pub const MAX_DAYS: i64 = 180;
pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_RELEASE_AFTER_PASSES: u32 = 100;
/// A glob longer than this is not a test name anyone types.
pub const MAX_GLOB_CHARS: usize = 500;

pub use crate::domain::glob::glob_matches;

/// Globs on a test's fields; `None` matches anything. At least one is set.
/// Serialized as the API shows it: every field, `null` for "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Pattern {
    pub suite: Option<String>,
    pub classname: Option<String>,
    pub name: Option<String>,
    pub file: Option<String>,
}

impl Pattern {
    /// A pattern from the request's fields: absent or `null` is "any"; a
    /// present field must be a non-empty glob; at least one must be present.
    pub fn new(
        suite: Option<String>,
        classname: Option<String>,
        name: Option<String>,
        file: Option<String>,
    ) -> Result<Pattern, RuleError> {
        let pattern = Pattern { suite, classname, name, file };
        let fields = [
            ("pattern.suite", &pattern.suite),
            ("pattern.classname", &pattern.classname),
            ("pattern.name", &pattern.name),
            ("pattern.file", &pattern.file),
        ];
        if fields.iter().all(|(_, v)| v.is_none()) {
            return Err(RuleError::new("pattern", "pattern needs at least one of suite, classname, name, file."));
        }
        for (field, value) in fields {
            match value.as_deref() {
                Some("") => {
                    return Err(RuleError::new(field, format!("{field} must not be empty; leave it out to match any.")))
                }
                Some(v) if v.chars().count() > MAX_GLOB_CHARS => {
                    return Err(RuleError::new(field, format!("{field} is longer than {MAX_GLOB_CHARS} characters.")))
                }
                _ => {}
            }
        }
        Ok(pattern)
    }

    /// The globs that are set, as `field=glob` separated by spaces.
    pub fn describe(&self) -> String {
        [("suite", &self.suite), ("classname", &self.classname), ("name", &self.name), ("file", &self.file)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether the test with these fields matches every glob that is set.
    pub fn matches(&self, suite: &str, classname: &str, name: &str, file: Option<&str>) -> bool {
        let field = |glob: &Option<String>, value: Option<&str>| match (glob, value) {
            (None, _) => true,
            (Some(g), Some(v)) => glob_matches(g, v),
            (Some(_), None) => false,
        };
        field(&self.suite, Some(suite))
            && field(&self.classname, Some(classname))
            && field(&self.name, Some(name))
            && field(&self.file, file)
    }
}

/// A new rule that breaks the contract, and the field at fault.
pub type RuleError = crate::domain::invalid::FieldError;

/// A test id as the API shows it (32 hex characters), lower-cased.
pub fn test_id(raw: &str) -> Result<String, RuleError> {
    if raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(RuleError::new("test_id", "test_id must be 32 hexadecimal characters."))
    }
}

/// The rule's reason: 1–500 characters once trimmed.
pub fn reason(raw: &str) -> Result<String, RuleError> {
    let reason = raw.trim();
    match reason.chars().count() {
        0 => Err(RuleError::new("reason", "reason is required.")),
        n if n > MAX_REASON_CHARS => {
            Err(RuleError::new("reason", format!("reason is longer than {MAX_REASON_CHARS} characters ({n}).")))
        }
        _ => Ok(reason.to_string()),
    }
}

/// An issue link: `http://` or `https://` with a host, no spaces or control
/// characters (anything else, `javascript:` included, is refused).
pub fn issue_url(raw: Option<&str>) -> Result<Option<String>, RuleError> {
    let Some(url) = raw.map(str::trim).filter(|u| !u.is_empty()) else { return Ok(None) };
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| r.split(['/', '?', '#']).next().is_some_and(|h| !h.is_empty()));
    if !host_ok || url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>') {
        return Err(RuleError::new("issue_url", "issue_url must be an http:// or https:// address."));
    }
    if url.chars().count() > MAX_URL_CHARS {
        return Err(RuleError::new("issue_url", format!("issue_url is longer than {MAX_URL_CHARS} characters.")));
    }
    Ok(Some(url.to_string()))
}

/// When a rule made `now` expires: `expires_in_days` (1–180, default 30) or
/// `expires_at` (in the future, at most 180 days ahead), not both.
pub fn expires_at(
    now: OffsetDateTime,
    in_days: Option<i64>,
    at: Option<OffsetDateTime>,
) -> Result<OffsetDateTime, RuleError> {
    let latest = now + time::Duration::days(MAX_DAYS);
    match (in_days, at) {
        (Some(_), Some(_)) => Err(RuleError::new("expires_at", "Give expires_in_days or expires_at, not both.")),
        (Some(days), None) if !(1..=MAX_DAYS).contains(&days) => {
            Err(RuleError::new("expires_in_days", format!("expires_in_days must be between 1 and {MAX_DAYS}.")))
        }
        (Some(days), None) => Ok(now + time::Duration::days(days)),
        (None, Some(at)) if at <= now => Err(RuleError::new("expires_at", "expires_at must be in the future.")),
        (None, Some(at)) if at > latest => {
            Err(RuleError::new("expires_at", format!("expires_at must be at most {MAX_DAYS} days ahead.")))
        }
        (None, Some(at)) => Ok(at),
        (None, None) => Ok(now + time::Duration::days(DEFAULT_DAYS)),
    }
}

/// `release_after_passes`: none, or 1–100.
pub fn release_after_passes(raw: Option<i64>) -> Result<Option<u32>, RuleError> {
    match raw {
        None => Ok(None),
        Some(n) if (1..=i64::from(MAX_RELEASE_AFTER_PASSES)).contains(&n) => Ok(Some(n as u32)),
        Some(_) => Err(RuleError::new(
            "release_after_passes",
            format!("release_after_passes must be between 1 and {MAX_RELEASE_AFTER_PASSES}, or null."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_the_whole_value_with_star_and_question_mark_only() {
        assert!(glob_matches("test_*", "test_login"));
        assert!(glob_matches("*login*", "tests/test_login.py::login_ok"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(!glob_matches("test_*", "Test_login"), "case-sensitive");
        assert!(!glob_matches("login", "test_login"), "whole value");
        assert!(glob_matches("test_x[1]", "test_x[1]") && !glob_matches("test_x[1]", "test_x1"));
        assert!(glob_matches("*", "") && glob_matches("**", "x") && !glob_matches("?", ""));
        assert!(glob_matches("*a*b*c", "xxaxxbxxc") && !glob_matches("*a*b*c", "xxaxxcxxb"));
        // No catastrophic backtracking.
        assert!(!glob_matches(&"*a".repeat(50), &"a".repeat(49)));
    }

    #[test]
    fn a_pattern_matches_every_field_it_sets() {
        let p = Pattern::new(None, Some("Checkout*".into()), Some("*timeout*".into()), None).unwrap();
        assert!(p.matches("unit", "CheckoutTest", "pays_before_timeout", None));
        assert!(!p.matches("unit", "CartTest", "pays_before_timeout", None));
        let by_file = Pattern::new(None, None, None, Some("e2e/*".into())).unwrap();
        assert!(by_file.matches("s", "c", "n", Some("e2e/login.spec.ts")));
        assert!(!by_file.matches("s", "c", "n", None), "a test without a file does not match a file glob");
        assert_eq!(p.describe(), "classname=Checkout* name=*timeout*");
        assert!(Pattern::new(None, None, None, None).unwrap_err().message.contains("at least one"));
        assert!(Pattern::new(Some(String::new()), None, None, None).unwrap_err().message.contains("pattern.suite"));
    }

    #[test]
    fn reasons_links_expiries_and_release_counts_are_checked() {
        assert!(reason("  ").unwrap_err().message.contains("reason is required"));
        assert!(reason(&"x".repeat(501)).unwrap_err().message.contains("longer than 500"));
        assert_eq!(reason(&"é".repeat(500)).unwrap().chars().count(), 500);
        assert_eq!(
            issue_url(Some("https://github.com/o/r/issues/1")).unwrap().as_deref(),
            Some("https://github.com/o/r/issues/1")
        );
        assert_eq!(issue_url(None).unwrap(), None);
        for bad in ["javascript:alert(1)", "JAVASCRIPT://x", "ftp://x", "https://", "https:// x", "http://a\"b"] {
            assert!(issue_url(Some(bad)).is_err(), "{bad}");
        }
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(expires_at(now, None, None).unwrap(), now + time::Duration::days(30));
        assert_eq!(expires_at(now, Some(180), None).unwrap(), now + time::Duration::days(180));
        assert!(expires_at(now, Some(181), None).is_err() && expires_at(now, Some(0), None).is_err());
        assert!(expires_at(now, None, Some(now)).is_err());
        assert!(expires_at(now, None, Some(now + time::Duration::days(181))).is_err());
        assert!(expires_at(now, Some(3), Some(now + time::Duration::days(3)))
            .unwrap_err()
            .message
            .contains("not both"));
        assert_eq!(release_after_passes(Some(100)).unwrap(), Some(100));
        assert!(release_after_passes(Some(0)).is_err() && release_after_passes(Some(101)).is_err());
    }
}
