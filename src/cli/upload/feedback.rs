//! The feedback inside the CI job (API.md section 12), the I/O side of
//! `summary.rs`: after an upload, reads what the summary needs from the
//! server, appends the Markdown to `--summary FILE` or
//! `$GITHUB_STEP_SUMMARY`, and prints the workflow commands on GitHub
//! Actions. Nothing here fails an upload: a problem is a warning, and a
//! summary that could not read the details says why.

use std::io::Write;
use std::path::{Path, PathBuf};

use reqwest::header::HeaderMap;

use super::failures;
use super::http::Api;
use super::progress::Progress;
use super::summary::{self, Comparison, Findings, Run, SummaryInput, TestResult, TokenInfo, WhoAmI};
use super::Uploaded;

/// Retries per request: the run is stored and judged, so a server that
/// stops answering now costs a shorter summary, not another full back-off.
const RETRIES: u32 = 1;
/// Failed and errored results read, at most, to find the quarantined ones.
const MAX_FAILURES_READ: usize = 1000;
/// Flaky results read, at most (the summary lists 20).
const MAX_FLAKY_READ: usize = 20;

/// Where the feedback goes: `--summary` and the CI's environment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `--summary FILE`, else `$GITHUB_STEP_SUMMARY`; appended to.
    pub summary: Option<PathBuf>,
    /// `GITHUB_ACTIONS=true` (GitHub, Forgejo and Gitea Actions): print
    /// workflow commands.
    pub github: bool,
    /// `GITHUB_WORKSPACE`, which report paths are made relative to.
    pub workspace: Option<String>,
}

impl Settings {
    /// The flag wins over `$GITHUB_STEP_SUMMARY`, as flags win over the CI
    /// everywhere else; empty variables count as unset.
    pub fn new(flag: Option<PathBuf>, env: &dyn Fn(&str) -> Option<String>) -> Settings {
        let var = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Settings {
            summary: flag.or_else(|| var("GITHUB_STEP_SUMMARY").map(PathBuf::from)),
            github: var("GITHUB_ACTIONS").as_deref() == Some("true"),
            workspace: var("GITHUB_WORKSPACE"),
        }
    }

    /// Whether there is anything to write: only then is the server asked
    /// for more than the upload needs.
    pub fn wanted(&self) -> bool {
        self.summary.is_some() || self.github
    }
}

/// The token as checked when the upload started.
#[derive(Debug, Default, Clone)]
pub struct Token {
    pub info: TokenInfo,
    /// From [`super::workflow::expiry_warning`].
    pub warning: Option<String>,
}

/// The token as whoami describes it; the kind its prefix names and the
/// `Proctor-Token-Expiration` header fill in what an answer leaves out.
pub fn token_info(body: serde_json::Value, headers: &HeaderMap, secret_kind: Option<&str>) -> TokenInfo {
    let mut info = serde_json::from_value::<WhoAmI>(body).unwrap_or_default().token;
    info.kind = info.kind.or_else(|| secret_kind.map(str::to_string));
    if info.expires_at.is_none() {
        let header = headers.get("proctor-token-expiration").and_then(|v| v.to_str().ok());
        info.expires_at = header.and_then(crate::domain::time::parse_rfc3339);
    }
    info
}

/// `pat`, `key` or `oidc`: the kind a token's prefix names (`prc_pat_…`).
pub fn secret_kind(secret: &str) -> Option<&str> {
    secret.strip_prefix("prc_")?.split('_').next().filter(|kind| matches!(*kind, "pat" | "key" | "oidc"))
}

/// What the summary shows of `uploaded`. `finalized`: this invocation
/// finalized the run (a shard's open run is summed up by the job that
/// finalizes it).
pub fn gather(
    api: &Api,
    project: &str,
    uploaded: &Uploaded,
    finalized: bool,
    token: &Token,
    settings: &Settings,
    progress: &Progress,
) -> SummaryInput {
    let findings = if finalized {
        findings(api, project, &uploaded.run, &token.info, progress)
    } else {
        Err("the run is left open for the other shards; the job that finalizes it (--finalize-only) sums it up".into())
    };
    SummaryInput {
        run: uploaded.run.clone(),
        url: uploaded.url.to_string(),
        findings,
        token_warning: token.warning.clone(),
        workspace: settings.workspace.clone(),
    }
}

/// The comparison with the base run and the flaky and quarantined
/// results, or why the summary goes without them.
fn findings(api: &Api, project: &str, run: &Run, token: &TokenInfo, progress: &Progress) -> Result<Findings, String> {
    if token.can_read_runs() == Some(false) {
        return Err("the token may upload runs but not read them; with runs:read it would show them here".into());
    }
    let path = ["projects", project, "runs", &run.id, "compare"];
    let comparison: Comparison =
        api.get(&path, &[], RETRIES).map_err(|e| format!("the comparison could not be read: {e}"))?.body;
    let read = |statuses: &[&str], max: usize, count: Option<u64>| {
        results(api, project, &run.id, statuses, max, count, progress)
    };
    let flaky = read(&["flaky"], MAX_FLAKY_READ, run.flaky);
    let failures = read(&["failed", "error"], MAX_FAILURES_READ, run.quarantined);
    let quarantined = failures.into_iter().filter(|r| r.quarantined).collect();
    Ok(Findings { comparison, flaky, quarantined })
}

/// The run's results of these statuses, none when the run's `count` says
/// there are none; a page that cannot be read is a warning.
fn results(
    api: &Api,
    project: &str,
    run: &str,
    statuses: &[&str],
    max: usize,
    count: Option<u64>,
    progress: &Progress,
) -> Vec<TestResult> {
    if count.unwrap_or(0) == 0 {
        return Vec::new();
    }
    match failures::results::<TestResult>(api, project, run, statuses, max) {
        Ok((found, _complete)) => found,
        Err(e) => {
            progress.line(&format!("warning: the summary goes without the {} tests: {e}", statuses.join(" and ")));
            Vec::new()
        }
    }
}

/// Appends the summary and prints the workflow commands, on stderr: stdout
/// holds only the run's URL, and GitHub's runner reads commands from both.
/// A summary file that cannot be written is a warning.
pub fn deliver(settings: &Settings, input: &SummaryInput, progress: &Progress) {
    if let Some(path) = &settings.summary {
        if let Err(e) = append(path, &summary::markdown(input)) {
            progress.line(&format!("warning: cannot write the summary to {}: {e}", path.display()));
        }
    }
    if settings.github {
        for line in super::workflow::annotations(input) {
            progress.line(&line);
        }
    }
}

/// Appends in one write, after a blank line that keeps it apart from what
/// the file holds (a step's summary gathers every writer of the step).
fn append(path: &Path, markdown: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(format!("\n{markdown}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_flag_wins_over_the_step_summary_and_github_is_detected() {
        let github = [("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", "/gh/step"), ("GITHUB_WORKSPACE", "/w")];
        let from_env = Settings::new(None, &env_of(&github));
        assert_eq!(from_env.summary.as_deref(), Some(Path::new("/gh/step")));
        assert!(from_env.github && from_env.wanted());
        assert_eq!(from_env.workspace.as_deref(), Some("/w"));
        let flag = Settings::new(Some(PathBuf::from("out.md")), &env_of(&github));
        assert_eq!(flag.summary.as_deref(), Some(Path::new("out.md")));
        let elsewhere = Settings::new(None, &env_of(&[("GITHUB_ACTIONS", "false"), ("GITHUB_STEP_SUMMARY", " ")]));
        assert_eq!(elsewhere, Settings::default());
        assert!(!elsewhere.wanted(), "nothing to write: no extra request");
    }

    #[test]
    fn the_kind_comes_from_whoami_else_from_the_prefix_and_the_expiry_from_the_header() {
        assert_eq!(secret_kind("prc_pat_abc"), Some("pat"));
        assert_eq!(secret_kind("prc_oidc_abc"), Some("oidc"));
        assert_eq!(secret_kind("prc_other_abc"), None);
        assert_eq!(secret_kind("ghp_abc"), None);
        let mut headers = HeaderMap::new();
        headers.insert("proctor-token-expiration", "2001-01-01T00:00:00Z".parse().unwrap());
        let bare = token_info(serde_json::json!({"token": {}}), &headers, Some("pat"));
        assert_eq!(bare.kind.as_deref(), Some("pat"));
        assert_eq!(bare.expires_at, crate::domain::time::parse_rfc3339("2001-01-01T00:00:00Z"));
        let said = token_info(serde_json::json!({"token": {"kind": "oidc"}}), &HeaderMap::new(), Some("pat"));
        assert_eq!((said.kind.as_deref(), said.expires_at), (Some("oidc"), None));
        let garbage = token_info(serde_json::json!({"token": {"expires_at": "soon"}}), &HeaderMap::new(), None);
        assert_eq!((garbage.kind, garbage.expires_at), (None, None), "an odd answer is no reason to stop");
    }

    #[test]
    fn the_summary_is_appended_after_a_blank_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "# Build").unwrap();
        append(&path, "### run\n").unwrap();
        append(&path, "### another\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# Build\n### run\n\n### another\n");
    }
}
