//! Validated names, parsed once at the edge and trusted afterwards:
//! emails, display names, project slugs, role names and branch names.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

fn no_controls(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A secret typed into a name field would be stored, audited and listed:
/// refuse it (without quoting it back).
fn not_a_token(s: &str, what: &str) -> Result<(), NameError> {
    if crate::domain::secrets::contains_token(s) {
        return Err(NameError(format!(
            "{what} must not contain an access token; if that token was meant as a secret, revoke it."
        )));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// An email address, lower-cased so that uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, NameError> {
        not_a_token(raw, "An email address")?;
        let s = raw.trim().to_lowercase();
        // Lower-casing can make a token shape (the Kelvin sign becomes `k`).
        not_a_token(&s, "An email address")?;
        let bad = || NameError(format!("{:?} is not an email address.", raw.trim()));
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
            return Err(bad());
        }
        Ok(Email(s))
    }
}

/// A person's, project's, token's or service account's display name: 1–100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);
string_newtype!(DisplayName);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<DisplayName, NameError> {
        let s = raw.trim();
        let n = s.chars().count();
        if n == 0 {
            return Err(NameError("Name must not be empty.".into()));
        }
        if n > 100 {
            return Err(NameError("Name must be at most 100 characters.".into()));
        }
        if !no_controls(s) {
            return Err(NameError("Name must not contain control characters.".into()));
        }
        not_a_token(s, "A name")?;
        Ok(DisplayName(s.to_string()))
    }
}

/// A project's slug, as used in URLs: `a-z`, `0-9`, `-`, `_`, `.`; 1–64
/// characters, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectSlug(String);
string_newtype!(ProjectSlug);

impl ProjectSlug {
    pub fn parse(raw: &str) -> Result<ProjectSlug, NameError> {
        let s = raw.trim();
        not_a_token(s, "A slug")?;
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
        let starts_ok = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if s.is_empty() || s.len() > 64 || !starts_ok || !s.chars().all(ok_char) {
            return Err(NameError(format!(
                "{s:?} is not a valid slug: use 1-64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit."
            )));
        }
        Ok(ProjectSlug(s.to_string()))
    }
}

/// A custom role's name: `a-z`, `0-9`, `-`, `_`; 1–40 characters; not a built-in role's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);
string_newtype!(RoleName);

impl RoleName {
    pub fn parse(raw: &str) -> Result<RoleName, NameError> {
        let s = raw.trim();
        not_a_token(s, "A role name")?;
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_');
        if s.is_empty() || s.len() > 40 || !s.chars().all(ok_char) {
            return Err(NameError(format!(
                "{s:?} is not a valid role name: use 1-40 lowercase letters, digits, '-' or '_'."
            )));
        }
        Ok(RoleName(s.to_string()))
    }
}

/// A git branch name as CI reports it: 1–255 characters, no control characters.
pub fn parse_branch(raw: &str) -> Result<String, NameError> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 255 || !no_controls(s) {
        return Err(NameError("Branch must be 1-255 characters without control characters.".into()));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_checked_for_tokens_after_lower_casing_too() {
        // Token-shaped once the Kelvin sign (U+212A) lower-cases to `k`.
        let body = "k".repeat(38);
        let raw = format!("prc_pat_\u{212A}{}@example.com", &body[1..]);
        assert!(!crate::domain::secrets::contains_token(&raw), "not token-shaped as typed");
        assert!(crate::domain::secrets::contains_token(&raw.to_lowercase()), "token-shaped lower-cased");
        assert!(Email::parse(&raw).unwrap_err().0.contains("must not contain an access token"));
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in ["", "ada", "@x.org", "ada@", "a da@x.org", "ada@.org", "ada@x."] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn no_name_holds_a_token() {
        let pat = "prc_pat_X6HjZofxIOAcX4Je8vJeANPue9UqrwRZ0NF9IO";
        let err = DisplayName::parse(&format!("CI {pat}")).unwrap_err().0;
        assert!(err.contains("must not contain an access token") && !err.contains("X6Hj"), "{err}");
        assert!(Email::parse(&format!("{}@example.com", pat.to_lowercase())).is_err());
        assert!(ProjectSlug::parse("prc_key_abcdefgh1").is_err());
        assert!(RoleName::parse("prc_pat_abcdefgh1").is_err());
        assert!(DisplayName::parse("prc_pat_ is our prefix").is_ok());
    }

    #[test]
    fn slugs() {
        for good in ["web", "web-app", "a", "api_v2", "proctor.io", "9lives"] {
            assert!(ProjectSlug::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Web", "-web", "web app", "wéb", "../etc", &"a".repeat(65)] {
            assert!(ProjectSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_names_and_branches() {
        assert!(RoleName::parse("release-managers").is_ok());
        assert!(RoleName::parse("Release").is_err());
        assert_eq!(parse_branch(" feature/x ").unwrap(), "feature/x");
        assert!(parse_branch("").is_err());
    }
}
