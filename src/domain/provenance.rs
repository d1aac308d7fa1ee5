//! Where an exchanged token came from, read from the verified claims of the
//! CI job's ID token: the repository, ref, commit and a link to the run.
//! Only what the claims state, each value checked for shape, so a page can
//! show it and a link can only ever point at the issuer's own web site.

use serde_json::{Map, Value};

use crate::domain::publisher::GITHUB_ISSUER;

/// At most this many characters of any claim are kept.
const MAX_CHARS: usize = 200;

/// What one exchange came from; every field as the ID token stated it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    pub subject: Option<String>,
    /// GitHub's `repository`, GitLab's `project_path`.
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    /// A hexadecimal commit id (`sha`), 7–64 digits.
    pub sha: Option<String>,
    /// GitHub's `run_id`, GitLab's `pipeline_id`: digits only.
    pub run_id: Option<String>,
    /// The run's page on the CI system, where the issuer is one whose
    /// address scheme is known: GitHub (and GitHub Enterprise Server) and
    /// GitLab. `None` for other issuers.
    pub run_url: Option<String>,
}

fn text(claims: &Map<String, Value>, names: &[&str]) -> Option<String> {
    let value = names.iter().find_map(|n| claims.get(*n))?;
    let s = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let s: String = s.chars().filter(|c| !c.is_control()).take(MAX_CHARS).collect();
    (!s.is_empty()).then_some(s)
}

/// `owner/name` (GitHub) or `group/sub/project` (GitLab): path segments of
/// letters, digits, `-`, `_` and `.`, never `.` or `..` alone.
fn is_repository_path(s: &str) -> bool {
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    s.contains('/') && s.split('/').all(segment_ok)
}

impl Provenance {
    /// What the verified `claims` of an ID token from `issuer` say.
    pub fn of(issuer: &str, claims: &Map<String, Value>) -> Provenance {
        let sha =
            text(claims, &["sha"]).filter(|s| (7..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit()));
        let run_id =
            text(claims, &["run_id", "pipeline_id"]).filter(|s| s.len() <= 20 && s.chars().all(|c| c.is_ascii_digit()));
        let repository = text(claims, &["repository", "project_path"]);
        let run_url = match (&repository, &run_id) {
            (Some(repo), Some(run)) if is_repository_path(repo) => run_url(issuer, claims, repo, run),
            _ => None,
        };
        Provenance {
            subject: text(claims, &["sub"]),
            repository,
            git_ref: text(claims, &["ref"]),
            sha,
            run_id,
            run_url,
        }
    }
}

/// The run's page: GitHub's `…/actions/runs/{run_id}` (github.com for its
/// issuer, the server itself for GitHub Enterprise Server's
/// `https://HOST/_services/token`), GitLab's `…/-/pipelines/{pipeline_id}`
/// under the issuer (the claims carry `project_path`).
fn run_url(issuer: &str, claims: &Map<String, Value>, repo: &str, run: &str) -> Option<String> {
    if claims.contains_key("project_path") && claims.contains_key("pipeline_id") {
        return Some(format!("{issuer}/{repo}/-/pipelines/{run}"));
    }
    if !claims.contains_key("run_id") {
        return None;
    }
    let web = if issuer == GITHUB_ISSUER { "https://github.com" } else { issuer.strip_suffix("/_services/token")? };
    Some(format!("{web}/{repo}/actions/runs/{run}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn of(issuer: &str, claims: Value) -> Provenance {
        Provenance::of(issuer, claims.as_object().unwrap())
    }

    #[test]
    fn github_claims_give_the_run_on_github_com() {
        let p = of(
            GITHUB_ISSUER,
            json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web", "ref": "refs/heads/main",
                   "sha": "0123456789abcdef0123456789abcdef01234567", "run_id": "9876543210"}),
        );
        assert_eq!(p.repository.as_deref(), Some("acme/web"));
        assert_eq!(p.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(p.sha.as_deref(), Some("0123456789abcdef0123456789abcdef01234567"));
        assert_eq!(p.run_url.as_deref(), Some("https://github.com/acme/web/actions/runs/9876543210"));
    }

    #[test]
    fn github_enterprise_and_gitlab_link_to_their_own_server() {
        let ghes = of("https://git.acme.test/_services/token", json!({"repository": "a/b", "run_id": "7"}));
        assert_eq!(ghes.run_url.as_deref(), Some("https://git.acme.test/a/b/actions/runs/7"));
        let gitlab = of(
            "https://gitlab.acme.test",
            json!({"project_path": "group/sub/app", "pipeline_id": "123", "ref": "main"}),
        );
        assert_eq!(gitlab.repository.as_deref(), Some("group/sub/app"));
        assert_eq!(gitlab.run_url.as_deref(), Some("https://gitlab.acme.test/group/sub/app/-/pipelines/123"));
    }

    #[test]
    fn unknown_issuers_and_odd_values_give_no_link() {
        let other = of("https://ci.example.com", json!({"repository": "a/b", "run_id": "7"}));
        assert_eq!(other.run_url, None);
        let traversal = of(GITHUB_ISSUER, json!({"repository": "../../evil", "run_id": "7"}));
        assert_eq!(traversal.run_url, None);
        let not_digits = of(GITHUB_ISSUER, json!({"repository": "a/b", "run_id": "7?x=1"}));
        assert_eq!((not_digits.run_id, not_digits.run_url), (None, None));
        let query = of(GITHUB_ISSUER, json!({"repository": "a/b?x=1#y", "run_id": "7"}));
        assert_eq!(query.run_url, None);
    }

    #[test]
    fn a_sha_must_look_like_one_and_numbers_read_as_text() {
        assert_eq!(of(GITHUB_ISSUER, json!({"sha": "not-a-commit"})).sha, None);
        assert_eq!(of(GITHUB_ISSUER, json!({"sha": "abc"})).sha, None);
        assert_eq!(of(GITHUB_ISSUER, json!({"run_id": 42})).run_id.as_deref(), Some("42"));
        let long = "x".repeat(1000);
        assert_eq!(of(GITHUB_ISSUER, json!({"ref": long})).git_ref.map(|r| r.len()), Some(MAX_CHARS));
    }
}
