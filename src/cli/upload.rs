//! `proctor upload`: send JUnit XML / CTRF JSON reports to a Proctor server
//! as the shards of one run (create the run, upload each file gzipped,
//! finalize), with CI metadata from the environment, retries, and a progress
//! bar on a terminal. Prints only the run's URL on stdout.

mod ci;
mod files;
mod http;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, Url};
use serde::Deserialize;

use super::{CliError, UploadArgs};
use ci::{ci_metadata, Metadata};
use http::{Api, Body};

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

/// A run as the server returns it (only what the client shows).
#[derive(Debug, Deserialize)]
struct Run {
    id: String,
    status: Option<String>,
    tests: Option<u64>,
    failed: Option<u64>,
    flaky: Option<u64>,
}

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
    let base = server_url(args.url.as_deref())?;
    let token = args.token.as_ref().map(|t| t.0.clone()).filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| fail("no token: set PROCTOR_TOKEN or pass --token"))?;
    let project = args.project.trim().to_string();
    if project.is_empty() {
        return Err(fail("no project: pass --project (the project's slug)"));
    }
    let flags = Metadata {
        commit: args.commit.clone(),
        branch: args.branch.clone(),
        build_id: args.build_id.clone(),
        build_url: args.build_url.clone(),
        name: args.name.clone(),
    };
    let meta = flags.non_empty().or(ci_metadata(&|name: &str| std::env::var(name).ok()).non_empty());
    if (args.no_finalize || args.finalize_only) && meta.build_id.is_none() {
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

    let sizes: Vec<u64> = reports.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).collect();
    let progress = Progress::new(sizes.iter().sum());
    let note = progress.clone();
    let retry_base = Duration::from_millis(args.retry_base_ms);
    let api = Api::new(base, &token, retry_base, Box::new(move |line| note.line(&format!("warning: {line}"))))
        .map_err(fail)?;
    let result = upload(&api, &progress, &project, &meta, &reports, &sizes, !args.no_finalize);
    progress.finish();
    let run = result?;
    println!("{}", api.url(&["projects", &project, "runs", &run.id]));
    if args.fail_on_failures {
        verdict(&run)?;
    }
    Ok(())
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

/// Checks the token, creates (or joins) the run, uploads every report,
/// finalizes; returns the run as last seen.
fn upload(
    api: &Api,
    progress: &Progress,
    project: &str,
    meta: &Metadata,
    reports: &[std::path::PathBuf],
    sizes: &[u64],
    finalize: bool,
) -> Result<Run, CliError> {
    // The token first: a mistyped, revoked or expired one fails here, before
    // any file is read, and an expiring one is worth a warning.
    progress.message("checking the token");
    let whoami = api.call::<serde_json::Value>(Method::GET, &["whoami"], Body::None).map_err(fail)?;
    warn_if_expiring(progress, &whoami.headers);
    progress.message("creating the run");
    let body = serde_json::to_value(meta).expect("metadata is JSON");
    let created = api.call::<Run>(Method::POST, &["projects", project, "runs"], Body::Json(&body)).map_err(fail)?;
    let run = created.body;
    if created.status == reqwest::StatusCode::OK {
        progress.line(&format!("joining run {}, already running for this build id and name", run.id));
    }
    if let Err(e) = upload_reports(api, progress, project, &run, reports, sizes) {
        // This invocation would have finalized the run; left running, it
        // would look like a job still uploading. Sharded runs (--no-finalize)
        // stay open: the other shards and --finalize-only decide.
        if finalize {
            mark_errored(api, progress, project, &run, &e.to_string());
        }
        return Err(e);
    }
    if !finalize {
        progress.line(&format!(
            "run {}: left open for the other shards; finish it with `proctor upload --finalize-only`",
            run.id
        ));
        return Ok(run);
    }
    progress.message("finalizing");
    let done = api.call::<Run>(Method::POST, &["projects", project, "runs", &run.id, "finalize"], Body::None);
    let done = done.map_err(fail)?.body;
    let counts = match (done.tests, done.failed, done.flaky) {
        (Some(t), Some(f), Some(k)) => format!(": {}, {f} failed, {k} flaky", tests(t)),
        _ => String::new(),
    };
    progress.line(&format!("run {} {}{counts}", done.id, done.status.as_deref().unwrap_or("finalized")));
    Ok(done)
}

fn upload_reports(
    api: &Api,
    progress: &Progress,
    project: &str,
    run: &Run,
    reports: &[std::path::PathBuf],
    sizes: &[u64],
) -> Result<(), CliError> {
    let count = reports.len();
    for (i, (path, size)) in reports.iter().zip(sizes).enumerate() {
        let shown = path.display().to_string();
        progress.message(&format!("{}/{count} {}", i + 1, file_name(path)));
        let prepared = files::prepare(path).map_err(fail)?;
        let answer = api
            .call::<ReportSummary>(
                Method::POST,
                &["projects", project, "runs", &run.id, "reports"],
                Body::Report { gzip: &prepared.gzip, content_type: prepared.content_type },
            )
            .map_err(|e| fail(format!("{shown}: {e}")))?;
        progress.advance(*size);
        progress.line(&summary(&shown, &answer.body));
        for warning in &answer.body.warnings {
            progress.line(&format!("{shown}: warning: {warning}"));
        }
    }
    Ok(())
}

/// Marks the run `errored` with why the upload stopped (what the server
/// keeps of a reason: 2,000 characters). One attempt, no retries: when the
/// server is what failed, the job has waited long enough.
fn mark_errored(api: &Api, progress: &Progress, project: &str, run: &Run, why: &str) {
    let reason: String = format!("proctor upload stopped: {why}").chars().take(2000).collect();
    let body = serde_json::json!({ "reason": reason });
    let path = ["projects", project, "runs", &run.id, "fail"];
    match api.call_with_retries::<Run>(Method::POST, &path, Body::Json(&body), 0) {
        Ok(_) => progress.line(&format!("run {} marked errored", run.id)),
        Err(e) => progress.line(&format!("warning: could not mark run {} errored: {e}", run.id)),
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

/// Warns when the token expires within a week (`Proctor-Token-Expiration`),
/// before a pipeline breaks on it.
fn warn_if_expiring(progress: &Progress, headers: &reqwest::header::HeaderMap) {
    use time::format_description::well_known::Rfc3339;
    let Some(at) = headers.get("proctor-token-expiration").and_then(|v| v.to_str().ok()) else { return };
    let Ok(expires) = time::OffsetDateTime::parse(at, &Rfc3339) else { return };
    let left = expires - time::OffsetDateTime::now_utc();
    if left < time::Duration::days(7) {
        progress
            .line(&format!("warning: the token expires at {at} ({} hours from now); rotate it", left.whole_hours()));
    }
}

/// Progress on stderr: a bar over the files' bytes on a terminal, plain
/// lines otherwise (CI logs).
#[derive(Clone)]
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(total_bytes: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total_bytes);
        let style = ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
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
