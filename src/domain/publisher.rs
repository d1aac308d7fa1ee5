//! Trusted publishers as the API states them (API.md section 11): which CI
//! jobs may trade their OpenID Connect ID token for a short-lived token of a
//! project, and what a valid publisher is. Pure: storage, the clock and the
//! network come from callers.

use std::collections::BTreeMap;

use crate::domain::glob::glob_matches;
use crate::domain::permission::{Permission, PermissionSet};

/// GitHub Actions' issuer; its ID tokens name the repository in `repository`.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// GitLab.com's issuer; its ID tokens name the project in `project_path`.
pub const GITLAB_ISSUER: &str = "https://gitlab.com";

/// What an exchanged token may do: upload runs and attachments, read runs.
pub const ALLOWED_PERMISSIONS: [Permission; 3] =
    [Permission::RunsRead, Permission::RunsWrite, Permission::ArtifactsWrite];
/// Minutes an exchanged token lives: 5–60, 15 unless told otherwise.
pub const DEFAULT_MINUTES: u32 = 15;
pub const MIN_MINUTES: u32 = 5;
pub const MAX_MINUTES: u32 = 60;
/// At most this many claim rules, each glob at most this long.
pub const MAX_CLAIMS: usize = 10;
pub const MAX_GLOB_CHARS: usize = 500;
pub const MAX_URL_CHARS: usize = 300;

/// A CI system's usual issuer and the claims its ID tokens carry: the form's
/// presets. `identity` is the claim that names the repository or project,
/// which a publisher of that issuer must constrain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub label: &'static str,
    /// `None`: the instance's own URL (self-hosted Forgejo).
    pub issuer: Option<&'static str>,
    pub identity: &'static str,
    pub claims: &'static [&'static str],
}

pub const PRESETS: [Preset; 3] = [
    Preset {
        name: "github",
        label: "GitHub Actions",
        issuer: Some(GITHUB_ISSUER),
        identity: "repository",
        claims: &["repository", "ref", "workflow_ref", "environment"],
    },
    Preset {
        name: "gitlab",
        label: "GitLab CI (GitLab.com or self-managed)",
        issuer: Some(GITLAB_ISSUER),
        identity: "project_path",
        claims: &["project_path", "ref", "ref_type", "environment"],
    },
    Preset {
        name: "forgejo",
        label: "Forgejo Actions",
        issuer: None,
        identity: "repository",
        claims: &["repository", "ref", "workflow_ref"],
    },
];

/// Why a publisher is not valid, and the field at fault; the API answers
/// 400 with the sentence.
pub type PublisherError = crate::domain::invalid::FieldError;

/// An issuer as stored and compared with `iss`: an `https://` URL with a
/// host, no credentials, query or fragment, and no trailing slash.
pub fn issuer(raw: &str) -> Result<String, PublisherError> {
    let raw = raw.trim();
    let bad = || {
        PublisherError::new(
            "issuer",
            format!("issuer must be an https:// URL of at most {MAX_URL_CHARS} characters, e.g. {GITHUB_ISSUER}."),
        )
    };
    if raw.is_empty() || raw.chars().count() > MAX_URL_CHARS {
        return Err(bad());
    }
    let url = url::Url::parse(raw).map_err(|_| bad())?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(PublisherError::new("issuer", "issuer must not carry credentials, a query or a fragment."));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The audience an ID token must carry: 1–300 characters, no control characters.
pub fn audience(raw: &str) -> Result<String, PublisherError> {
    let raw = raw.trim();
    let n = raw.chars().count();
    if n == 0 || n > MAX_URL_CHARS || raw.chars().any(char::is_control) {
        return Err(PublisherError::new(
            "audience",
            format!("audience must be 1-{MAX_URL_CHARS} characters without control characters."),
        ));
    }
    Ok(raw.to_string())
}

/// Whether a glob matches anything at all (only `*` and `?`): it constrains nothing.
fn matches_anything(glob: &str) -> bool {
    glob.chars().all(|c| c == '*' || c == '?')
}

/// The claim rules: 1–10 of them, each a claim name (letters, digits, `_`,
/// `.`, `-`, `:`) and a non-empty glob of at most 500 characters.
pub fn claims(raw: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, PublisherError> {
    if raw.is_empty() {
        return Err(PublisherError::new(
            "claims",
            "claims must name at least one claim, e.g. {\"repository\": \"acme/web\"}.",
        ));
    }
    if raw.len() > MAX_CLAIMS {
        return Err(PublisherError::new("claims", format!("claims may name at most {MAX_CLAIMS} claims.")));
    }
    let name_ok = |n: &str| {
        (1..=64).contains(&n.len())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'))
    };
    for (name, glob) in raw {
        if !name_ok(name) {
            return Err(PublisherError::new(
                "claims",
                format!("claim name {name:?} must be 1-64 letters, digits, '_', '.', '-' or ':'."),
            ));
        }
        let n = glob.chars().count();
        if n == 0 || n > MAX_GLOB_CHARS || glob.chars().any(char::is_control) {
            return Err(PublisherError::new(
                "claims",
                format!("claim {name}: the glob must be 1-{MAX_GLOB_CHARS} characters without control characters."),
            ));
        }
    }
    Ok(raw.clone())
}

/// The permissions of the exchanged token: some of `runs:read`,
/// `runs:write`, `artifacts:write`.
pub fn permissions(set: PermissionSet) -> Result<PermissionSet, PublisherError> {
    if set.is_empty() {
        return Err(PublisherError::new(
            "permissions",
            "permissions must name at least one of runs:read, runs:write, artifacts:write.",
        ));
    }
    match set.iter().find(|p| !ALLOWED_PERMISSIONS.contains(p)) {
        Some(p) => Err(PublisherError::new(
            "permissions",
            format!("An exchanged token cannot hold {p}; allowed: runs:read, runs:write, artifacts:write."),
        )),
        None => Ok(set),
    }
}

pub fn token_minutes(minutes: u32) -> Result<u32, PublisherError> {
    if (MIN_MINUTES..=MAX_MINUTES).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(PublisherError::new(
            "token_minutes",
            format!("token_minutes must be between {MIN_MINUTES} and {MAX_MINUTES}."),
        ))
    }
}

/// The claim a publisher of this issuer must constrain, if the issuer is a
/// known one (GitHub's `repository`, GitLab.com's `project_path`).
pub fn identity_claim(issuer: &str) -> Option<&'static str> {
    PRESETS.iter().find(|p| p.issuer == Some(issuer)).map(|p| p.identity)
}

/// The rules as a whole: a known issuer's identity claim must be among them
/// and must name something ("any repository on github.com" is never what
/// anyone meant); for any issuer, at least one rule must.
pub fn check_scope(issuer: &str, claims: &BTreeMap<String, String>) -> Result<(), PublisherError> {
    if let Some(identity) = identity_claim(issuer) {
        match claims.get(identity) {
            None => {
                return Err(PublisherError::new(
                    "claims",
                    format!(
                    "A publisher for {issuer} needs a rule on the claim {identity} (e.g. \"acme/web\"): without one, \
                     every {identity} on that issuer could upload."
                ),
                ))
            }
            Some(glob) if matches_anything(glob) => {
                return Err(PublisherError::new(
                    "claims",
                    format!("claim {identity}: {glob:?} would match every {identity}; name one."),
                ))
            }
            Some(_) => {}
        }
    }
    if claims.values().all(|glob| matches_anything(glob)) {
        return Err(PublisherError::new(
            "claims",
            "At least one claim rule must name something: globs of only * and ? match any token.",
        ));
    }
    Ok(())
}

/// The first claim rule an ID token's claims do not satisfy, as the refusal
/// names it: `claim ref "refs/heads/dev" does not match "refs/heads/main"`.
/// A claim that is absent, or not a string, number or boolean, matches nothing.
pub fn first_mismatch(
    rules: &BTreeMap<String, String>,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    rules.iter().find_map(|(name, glob)| {
        let value = match claims.get(name) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => v.to_string(),
            _ => return Some(format!("claim {name} is missing from the ID token (the rule is {glob:?})")),
        };
        (!glob_matches(glob, &value)).then(|| format!("claim {name} {value:?} does not match {glob:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn issuers_are_https_urls_kept_without_a_trailing_slash() {
        assert_eq!(issuer(" https://token.actions.githubusercontent.com/ ").unwrap(), GITHUB_ISSUER);
        assert_eq!(issuer("https://gitlab.example.com/gitlab").unwrap(), "https://gitlab.example.com/gitlab");
        assert_eq!(issuer("https://git.example.com:8443").unwrap(), "https://git.example.com:8443");
        for bad in [
            "",
            "http://gitlab.com",
            "gitlab.com",
            "https://",
            "ftp://x",
            "https://u:p@gitlab.com",
            "https://gitlab.com/?a=1",
            "https://gitlab.com/#x",
        ] {
            assert!(issuer(bad).is_err(), "{bad}");
        }
        assert!(issuer(&format!("https://{}.com", "a".repeat(300))).is_err());
    }

    #[test]
    fn known_issuers_need_their_identity_claim_to_name_something() {
        let github = |pairs: &[(&str, &str)]| check_scope(GITHUB_ISSUER, &rules(pairs));
        assert!(github(&[("repository", "acme/web")]).is_ok());
        assert!(github(&[("repository", "acme/*"), ("ref", "refs/heads/main")]).is_ok());
        assert!(github(&[("ref", "refs/heads/main")]).unwrap_err().message.contains("repository"));
        assert!(github(&[("repository", "*")]).unwrap_err().message.contains("every repository"));
        assert!(github(&[("repository", "**?")]).is_err());
        let gitlab = |pairs: &[(&str, &str)]| check_scope(GITLAB_ISSUER, &rules(pairs));
        assert!(gitlab(&[("project_path", "acme/web")]).is_ok());
        assert!(gitlab(&[("repository", "acme/web")]).unwrap_err().message.contains("project_path"));
        // Another issuer: any claim, as long as one names something.
        let other = |pairs: &[(&str, &str)]| check_scope("https://forgejo.example.com", &rules(pairs));
        assert!(other(&[("sub", "repo:acme/web:*")]).is_ok());
        assert!(other(&[("sub", "*"), ("ref", "*")]).is_err());
    }

    #[test]
    fn claims_permissions_and_minutes_are_bounded() {
        assert!(claims(&rules(&[])).is_err());
        assert!(claims(&rules(&[("bad name", "x")])).is_err());
        assert!(claims(&rules(&[("ref", "")])).is_err());
        assert!(claims(&rules(&[("ref", "a\nb")])).is_err());
        let many: Vec<(String, String)> = (0..11).map(|i| (format!("c{i}"), "x".into())).collect();
        assert!(claims(&many.into_iter().collect()).is_err());
        let set = |names: &[&str]| PermissionSet::parse(names.iter().copied()).unwrap();
        assert!(permissions(set(&["runs:write", "artifacts:write"])).is_ok());
        assert!(permissions(set(&["runs:write", "projects:manage"])).unwrap_err().message.contains("projects:manage"));
        assert!(permissions(set(&[])).is_err());
        assert_eq!((token_minutes(5), token_minutes(60)), (Ok(5), Ok(60)));
        assert!(token_minutes(4).is_err() && token_minutes(61).is_err());
    }

    #[test]
    fn the_first_mismatch_names_the_claim_its_value_and_the_rule() {
        let r = rules(&[("ref", "refs/heads/main"), ("repository", "acme/*")]);
        let claims = |v: serde_json::Value| v.as_object().unwrap().clone();
        assert_eq!(
            first_mismatch(&r, &claims(serde_json::json!({"repository": "acme/web", "ref": "refs/heads/main"}))),
            None
        );
        assert_eq!(
            first_mismatch(&r, &claims(serde_json::json!({"repository": "acme/web", "ref": "refs/heads/dev"})))
                .unwrap(),
            r#"claim ref "refs/heads/dev" does not match "refs/heads/main""#
        );
        assert!(first_mismatch(&r, &claims(serde_json::json!({"ref": "refs/heads/main"})))
            .unwrap()
            .contains("missing"));
        assert!(first_mismatch(&r, &claims(serde_json::json!({"ref": "refs/heads/main", "repository": ["acme/web"]})))
            .is_some());
        let numeric = rules(&[("run_attempt", "1")]);
        assert_eq!(first_mismatch(&numeric, &claims(serde_json::json!({"run_attempt": 1}))), None);
    }
}
