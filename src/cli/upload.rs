//! `proctor upload`: send JUnit XML / CTRF JSON reports to a Proctor server
//! as the shards of one run (create the run, upload each file gzipped,
//! finalize), with CI metadata from the environment, retries, and a progress
//! bar on a terminal. Prints only the run's URL on stdout. `proctor run`
//! uploads through the same [`Session`].

mod ci;
mod failures;
mod feedback;
pub mod files;
mod http;
mod oidc;
mod progress;
pub mod summary;
mod workflow;

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, Url};
use serde::Deserialize;

use super::{CliError, UploadArgs, UploadTarget};
use ci::{ci_metadata, Metadata};
pub use failures::Failure;
use http::{Api, Body};
use progress::Progress;

/// The access token from `--token` / `PROCTOR_TOKEN`. Its `Debug` never
/// shows the secret, so no debug print of the arguments can leak it.
#[derive(Clone)]
pub struct UploadToken(String);

impl std::str::FromStr for UploadToken {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // A secret pasted from a file often brings its newline along.
        Ok(UploadToken(s.trim().to_string()))
    }
}

impl std::fmt::Debug for UploadToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UploadToken([redacted])")
    }
}

/// A run as the server returns it (only what the clients use).
pub use summary::Run;

/// The answer to one report upload.
#[derive(Debug, Deserialize)]
struct ReportSummary {
    #[serde(default)]
    tests: u64,
    #[serde(default)]
    failed: u64,
    #[serde(default)]
    errors: u64,
    #[serde(default)]
    flaky: u64,
    #[serde(default)]
    duplicate: bool,
    /// What the server read past in the report (no test cases, …).
    #[serde(default)]
    warnings: Vec<String>,
}

fn fail(message: impl Into<String>) -> CliError {
    CliError::Message(message.into())
}

pub fn run(args: UploadArgs) -> Result<(), CliError> {
    let target = Target::new(&args.target)?;
    if (args.no_finalize || args.finalize_only) && target.meta.build_id.is_none() {
        let flag = if args.no_finalize { "--no-finalize" } else { "--finalize-only" };
        return Err(fail(format!(
            "{flag} needs a build id shared by every shard: pass --build-id (none was found in the CI environment)"
        )));
    }
    let reports = if args.finalize_only {
        Vec::new()
    } else {
        let expanded = files::expand(&args.files).map_err(fail)?;
        for pattern in &expanded.unmatched {
            eprintln!("warning: no file matches {pattern}");
        }
        expanded.files
    };
    let uploaded = Session::new(target)?.upload(&reports, !args.no_finalize)?;
    if args.fail_on_failures {
        verdict(&uploaded.run)?;
    }
    Ok(())
}

/// Where a run goes and what it is: the server, the token, the project and
/// the run's metadata (flags over the CI's), checked before anything is
/// read or sent.
pub struct Target {
    base: Url,
    token: Credential,
    project: String,
    meta: Metadata,
    retry_base: Duration,
    feedback: feedback::Settings,
}

impl Target {
    pub fn new(args: &UploadTarget) -> Result<Target, CliError> {
        let base = server_url(args.url.as_deref())?;
        let project = args.project.trim().to_string();
        if project.is_empty() {
            return Err(fail("no project: pass --project (the project's slug)"));
        }
        let token = match args.token.as_ref().map(|t| t.0.clone()).filter(|t| !t.is_empty()) {
            Some(token) => Credential::Token(token),
            None => Credential::IdToken(oidc::source(&|name: &str| std::env::var(name).ok()).ok_or_else(no_token)?),
        };
        let flags = Metadata {
            commit: args.commit.clone(),
            branch: args.branch.clone(),
            build_id: args.build_id.clone(),
            build_url: args.build_url.clone(),
            name: args.name.clone(),
        };
        let meta = flags.non_empty().or(ci_metadata(&|name: &str| std::env::var(name).ok()).non_empty());
        let feedback = feedback::Settings::new(args.summary.clone(), &|name: &str| std::env::var(name).ok());
        Ok(Target { base, token, project, meta, retry_base: Duration::from_millis(args.retry_base_ms), feedback })
    }
}

/// What the upload authenticates with: a token, or this CI job's OpenID
/// Connect ID token, exchanged when the session starts (so that `proctor
/// run` exchanges it after a long test command, not before).
pub enum Credential {
    Token(String),
    IdToken(oidc::IdTokenSource),
}

fn no_token() -> CliError {
    fail(
        "no token: set PROCTOR_TOKEN or pass --token, or run in a CI job that can present an OpenID Connect \
         ID token (GitHub Actions with `permissions: id-token: write`, or PROCTOR_ID_TOKEN; see docs/ci.md)",
    )
}

impl Credential {
    /// The token to send: as given, or exchanged for a short-lived token of
    /// `project` (one line on stderr says so).
    fn resolve(self, base: &Url, project: &str) -> Result<String, CliError> {
        match self {
            Credential::Token(token) => Ok(token),
            Credential::IdToken(source) => {
                let what = source.describe();
                let env = |name: &str| std::env::var(name).ok();
                let exchanged = oidc::exchange(base, project, source, &oidc::audience(&env, base)).map_err(fail)?;
                eprintln!("proctor: exchanged {what} for a token of {project}, valid until {}", exchanged.expires_at);
                Ok(exchanged.token)
            }
        }
    }
}

/// A run as one upload left it.
pub struct Uploaded {
    /// As last seen: finalized, unless the upload left it open.
    pub run: Run,
    /// Its page on the server.
    pub url: Url,
    /// The run was already `running` for this build id and name: other
    /// jobs' reports may be in it too.
    pub joined: bool,
    /// Failed and errored tests in the reports this upload sent.
    pub reported_failures: u64,
}

/// One upload's connection to the server and its progress display on stderr.
pub struct Session {
    api: Api,
    progress: Progress,
    project: String,
    meta: Metadata,
    /// Where the job's summary and workflow commands go.
    feedback: feedback::Settings,
    /// `pat`, `key` or `oidc`, from the token's prefix.
    secret_kind: Option<String>,
}

impl Session {
    pub fn new(target: Target) -> Result<Session, CliError> {
        let progress = Progress::new();
        let note = progress.clone();
        let notes = Box::new(move |line: &str| note.line(&format!("warning: {line}")));
        let token = target.token.resolve(&target.base, &target.project)?;
        let secret_kind = feedback::secret_kind(&token).map(str::to_string);
        let api = Api::new(target.base, &token, target.retry_base, notes).map_err(fail)?;
        let (project, meta, feedback) = (target.project, target.meta, target.feedback);
        Ok(Session { api, progress, project, meta, feedback, secret_kind })
    }

    /// Checks the token, creates (or joins) the run, uploads every report,
    /// and finalizes it when `finalize`; prints the run's URL on stdout.
    pub fn upload(&self, reports: &[PathBuf], finalize: bool) -> Result<Uploaded, CliError> {
        let sizes: Vec<u64> = reports.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).collect();
        self.progress.start(sizes.iter().sum());
        let result =
            self.check_token().and_then(|token| self.upload_all(reports, &sizes, finalize).map(|u| (u, token)));
        self.progress.finish();
        let (uploaded, token) = result?;
        println!("{}", uploaded.url);
        if self.feedback.wanted() {
            let input =
                feedback::gather(&self.api, &self.project, &uploaded, finalize, &token, &self.feedback, &self.progress);
            feedback::deliver(&self.feedback, &input, &self.progress);
        }
        Ok(uploaded)
    }

    /// The token first: a mistyped, revoked or expired one fails here,
    /// before any file is read, and a PAT or key that expires within a week
    /// is worth a warning (an exchanged `oidc` token, minutes long by
    /// design, is not).
    fn check_token(&self) -> Result<feedback::Token, CliError> {
        self.progress.message("checking the token");
        let whoami = self.api.call::<serde_json::Value>(Method::GET, &["whoami"], Body::None).map_err(fail)?;
        let info = feedback::token_info(whoami.body, &whoami.headers, self.secret_kind.as_deref());
        let kind = info.kind.as_deref().unwrap_or("");
        let warning = workflow::expiry_warning(kind, info.expires_at, crate::domain::time::now());
        if let Some(warning) = &warning {
            self.progress.line(&format!("warning: {warning}"));
        }
        Ok(feedback::Token { info, warning })
    }

    /// The run's failed and errored results, at most `max`, and whether
    /// that is all of them (the token needs `runs:read`).
    pub fn failures(&self, run: &str, max: usize) -> Result<(Vec<Failure>, bool), String> {
        failures::list(&self.api, &self.project, run, max)
    }

    fn upload_all(&self, reports: &[PathBuf], sizes: &[u64], finalize: bool) -> Result<Uploaded, CliError> {
        let (run, joined) = self.create_run()?;
        let reported_failures = match self.upload_reports(&run, reports, sizes) {
            Ok(failures) => failures,
            Err(e) => {
                // This invocation would have finalized the run; left running,
                // it would look like a job still uploading. Sharded runs
                // (--no-finalize) stay open: the other shards and
                // --finalize-only decide.
                if finalize {
                    self.mark_errored(&run, &e.to_string());
                }
                return Err(e);
            }
        };
        let run = if finalize { self.finalize(&run)? } else { self.leave_open(run) };
        let url = self.api.url(&["projects", &self.project, "runs", &run.id]);
        Ok(Uploaded { run, url, joined, reported_failures })
    }

    /// Creates the run, or joins the one still running for this build id
    /// and name (`true`).
    fn create_run(&self) -> Result<(Run, bool), CliError> {
        self.progress.message("creating the run");
        let body = serde_json::to_value(&self.meta).expect("metadata is JSON");
        let path = ["projects", &self.project, "runs"];
        let created = self.api.call::<Run>(Method::POST, &path, Body::Json(&body)).map_err(fail)?;
        let joined = created.status == reqwest::StatusCode::OK;
        if joined {
            self.progress.line(&format!("joining run {}, already running for this build id and name", created.body.id));
        }
        Ok((created.body, joined))
    }

    /// Uploads each report; the failed and errored tests they held.
    fn upload_reports(&self, run: &Run, reports: &[PathBuf], sizes: &[u64]) -> Result<u64, CliError> {
        let (count, mut failures) = (reports.len(), 0);
        for (i, (path, size)) in reports.iter().zip(sizes).enumerate() {
            let shown = path.display().to_string();
            self.progress.message(&format!("{}/{count} {}", i + 1, file_name(path)));
            let prepared = files::prepare(path).map_err(fail)?;
            let body = Body::Report { gzip: &prepared.gzip, content_type: prepared.content_type };
            let path = ["projects", &self.project, "runs", &run.id, "reports"];
            let answer = self.api.call::<ReportSummary>(Method::POST, &path, body);
            let answer = answer.map_err(|e| fail(format!("{shown}: {e}")))?.body;
            self.progress.advance(*size);
            self.progress.line(&summary(&shown, &answer));
            for warning in &answer.warnings {
                self.progress.line(&format!("{shown}: warning: {warning}"));
            }
            failures += answer.failed + answer.errors;
        }
        Ok(failures)
    }

    fn finalize(&self, run: &Run) -> Result<Run, CliError> {
        self.progress.message("finalizing");
        let path = ["projects", &self.project, "runs", &run.id, "finalize"];
        let done = self.api.call::<Run>(Method::POST, &path, Body::None).map_err(fail)?.body;
        let counts = match (done.tests, done.failed, done.flaky) {
            (Some(t), Some(f), Some(k)) => format!(": {}, {f} failed, {k} flaky", tests(t)),
            _ => String::new(),
        };
        self.progress.line(&format!("run {} {}{counts}", done.id, done.status.as_deref().unwrap_or("finalized")));
        Ok(done)
    }

    fn leave_open(&self, run: Run) -> Run {
        self.progress.line(&format!(
            "run {}: left open for the other shards; finish it with `proctor upload --finalize-only`",
            run.id
        ));
        run
    }

    /// Marks the run `errored` with why the upload stopped (what the server
    /// keeps of a reason: 2,000 characters). One attempt, no retries: when
    /// the server is what failed, the job has waited long enough.
    fn mark_errored(&self, run: &Run, why: &str) {
        let reason: String = format!("proctor upload stopped: {why}").chars().take(2000).collect();
        let body = serde_json::json!({ "reason": reason });
        let path = ["projects", &self.project, "runs", &run.id, "fail"];
        match self.api.call_with_retries::<Run>(Method::POST, &path, Body::Json(&body), 0) {
            Ok(_) => self.progress.line(&format!("run {} marked errored", run.id)),
            Err(e) => self.progress.line(&format!("warning: could not mark run {} errored: {e}", run.id)),
        }
    }
}

/// `--fail-on-failures`: an error (exit 1) unless the finalized run passed.
/// Failures that quarantine rules cover do not fail a run, so a run whose
/// every failure is quarantined passes; a run without any test errored.
fn verdict(run: &Run) -> Result<(), CliError> {
    match run.status.as_deref() {
        Some("passed") => Ok(()),
        Some("failed") => Err(fail(format!("run {} failed: it has failures that no quarantine rule covers", run.id))),
        Some(other) => Err(fail(format!("run {} is {other}, not passed", run.id))),
        None => Err(fail(format!("run {}: the server did not say how it ended", run.id))),
    }
}

/// The `--url` (or `PROCTOR_URL`) as an http(s) URL.
fn server_url(raw: Option<&str>) -> Result<Url, CliError> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty());
    let raw = raw.ok_or_else(|| fail("no server: set PROCTOR_URL or pass --url (e.g. https://proctor.example.com)"))?;
    let url = Url::parse(raw).map_err(|e| fail(format!("invalid --url {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(fail(format!("invalid --url {raw:?}: expected http:// or https:// and a host")));
    }
    Ok(url)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// One stderr line per uploaded file.
fn summary(file: &str, r: &ReportSummary) -> String {
    let errors = if r.errors > 0 { format!(", {} errors", r.errors) } else { String::new() };
    let duplicate = if r.duplicate { " (duplicate: already in this run, not counted again)" } else { "" };
    format!("{file}: {}, {} failed{errors}, {} flaky{duplicate}", tests(r.tests), r.failed, r.flaky)
}

fn tests(n: u64) -> String {
    if n == 1 {
        "1 test".to_string()
    } else {
        format!("{n} tests")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let token: UploadToken = " prc_pat_topsecret\n".parse().unwrap();
        assert_eq!(token.0, "prc_pat_topsecret");
        assert!(!format!("{token:?}").contains("topsecret"));
    }

    #[test]
    fn server_urls_must_be_http() {
        assert_eq!(server_url(Some("http://127.0.0.1:8080/")).unwrap().as_str(), "http://127.0.0.1:8080/");
        assert!(server_url(None).unwrap_err().to_string().contains("PROCTOR_URL"));
        assert!(server_url(Some("ftp://x")).is_err());
        assert!(server_url(Some("proctor.example.com")).is_err());
    }

    #[test]
    fn summaries_name_the_file_and_flag_duplicates() {
        let r = ReportSummary { tests: 12, failed: 2, errors: 0, flaky: 1, duplicate: false, warnings: Vec::new() };
        assert_eq!(summary("a.xml", &r), "a.xml: 12 tests, 2 failed, 1 flaky");
        let r = ReportSummary { errors: 1, duplicate: true, ..r };
        assert_eq!(
            summary("a.xml", &r),
            "a.xml: 12 tests, 2 failed, 1 errors, 1 flaky (duplicate: already in this run, not counted again)"
        );
    }
}
