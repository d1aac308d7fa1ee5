//! `proctor upload` as a CI job runs it: against the real server (a wrong
//! token), against nothing (retries), and against a tiny scripted HTTP
//! server that proves the shard flow (whoami → create → N reports →
//! finalize) and the retries without the ingestion routes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use flate2::read::GzDecoder;

use crate::helpers::*;

const JUNIT: &str = r#"<testsuite name="s" tests="1"><testcase classname="c" name="t"/></testsuite>"#;
const CTRF: &str = r#"{"results":{"tool":{"name":"x"},"summary":{"tests":1,"passed":1,"failed":0,"pending":0,"skipped":0,"other":0,"start":0,"stop":1},"tests":[{"name":"login","status":"passed","duration":12}]}}"#;

/// CI variables of the machine running the tests would leak into the run.
pub const CI_VARS: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_WORKSPACE",
    "GITHUB_RUN_ID",
    "GITLAB_CI",
    "CI_PIPELINE_ID",
    "JENKINS_URL",
    "JENKINS_HOME",
    "BUILD_TAG",
    "CI",
    "CI_PIPELINE_NUMBER",
    "TF_BUILD",
    "CIRCLECI",
    "BUILDKITE",
    "PROCTOR_URL",
    "PROCTOR_TOKEN",
    "PROCTOR_PROJECT",
    "PROCTOR_ID_TOKEN",
    "PROCTOR_OIDC_AUDIENCE",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

/// Runs `proctor upload ARGS` in `dir`, with fast retries.
pub fn upload(dir: &Path, args: &[&str]) -> Output {
    upload_with_env(dir, args, &[])
}

/// Runs `proctor upload ARGS` in `dir`, with fast retries, no CI variable
/// but `env`.
pub fn upload_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command.current_dir(dir).arg("upload").args(args).env("PROCTOR_UPLOAD_RETRY_BASE_MS", "5");
    for var in CI_VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.stdin(Stdio::null()).output().expect("run proctor upload")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn reports_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("reports")).unwrap();
    std::fs::write(dir.path().join("reports/unit.xml"), JUNIT).unwrap();
    std::fs::write(dir.path().join("reports/e2e.json"), CTRF).unwrap();
    dir
}

#[tokio::test]
async fn a_wrong_token_fails_with_the_servers_message_and_never_prints_the_token() {
    let app = TestApp::spawn().await;
    let dir = reports_dir();
    let token = "prc_pat_GarbageGarbageGarbageGarbage000000";
    let out = upload(dir.path(), &["--url", &app.base, "--token", token, "--project", "x", "reports/unit.xml"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("error: Invalid API key (401 invalid_token)"), "{stderr}");
    assert_eq!(text(&out.stdout), "", "stdout holds only the run's URL, on success");
    assert!(!stderr.contains(token) && !app.log().contains(token));
}

#[tokio::test]
async fn shards_of_two_invocations_fill_one_run_on_the_real_server() {
    let app = TestApp::spawn().await;
    assert!(app.cli(&["project", "create", "--slug", "web", "--name", "Web"]).status.success());
    let key = app.cli(&["key", "create", "--project", "web", "--name", "ci", "--permissions", "runs:write"]);
    assert!(key.status.success(), "{}", text(&key.stderr));
    let key = text(&key.stdout).trim().to_string();
    let dir = reports_dir();
    let shard = |files: &[&str], finalize: &str| {
        let mut args =
            vec!["--url", &app.base, "--token", &key, "--project", "web", "--build-id", "b7", "--name", "e2e"];
        args.push(finalize);
        args.extend_from_slice(files);
        let out = upload(dir.path(), &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        (text(&out.stdout), text(&out.stderr))
    };
    let (first, _) = shard(&["reports/unit.xml"], "--no-finalize");
    let (second, log) = shard(&["reports/unit.xml", "reports/e2e.json"], "--no-finalize");
    assert!(log.contains("joining run"), "{log}");
    assert!(log.contains("reports/unit.xml: 1 test, 0 failed, 0 flaky (duplicate"), "{log}");
    let (last, log) = shard(&[], "--finalize-only");
    assert!(log.contains("passed: 2 tests, 0 failed, 0 flaky"), "{log}");
    assert_eq!(first, second);
    assert_eq!(first, last);
    assert!(first.starts_with(&format!("{}/projects/web/runs/", app.base)) && first.ends_with('\n'), "{first}");
    let reader = crate::api_helpers::cli_key(&app, "web", "runs:read");
    let runs = crate::api_helpers::list_all(&app, &reader, "/api/v1/projects/web/runs", "runs").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!((&runs[0]["status"], &runs[0]["build_id"]), (&serde_json::json!("passed"), &serde_json::json!("b7")));
    assert!(!app.log().contains(&key));
}

#[test]
fn missing_files_token_or_url_fail_before_any_request() {
    let dir = reports_dir();
    let no_file = upload(dir.path(), &["--url", "http://127.0.0.1:1", "--token", "t", "--project", "x", "out/*.xml"]);
    assert!(!no_file.status.success());
    assert!(text(&no_file.stderr).contains("error: no report file matches out/*.xml"), "{}", text(&no_file.stderr));
    assert!(!text(&no_file.stderr).contains("retrying"), "no request was made");

    let no_token = upload(dir.path(), &["--url", "http://127.0.0.1:1", "--project", "x", "reports/unit.xml"]);
    assert!(text(&no_token.stderr).contains("error: no token: set PROCTOR_TOKEN or pass --token"));
    let no_url = upload(dir.path(), &["--token", "t", "--project", "x", "reports/unit.xml"]);
    assert!(text(&no_url.stderr).contains("error: no server: set PROCTOR_URL or pass --url"));
    assert!(!no_token.status.success() && !no_url.status.success());
}

#[test]
fn a_closed_port_is_retried_then_reported() {
    let dir = reports_dir();
    let out =
        upload(dir.path(), &["--url", "http://127.0.0.1:1", "--token", "prc_pat_x", "--project", "x", "reports/*"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.matches("retrying in").count(), 5, "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(last.starts_with("error: cannot reach http://127.0.0.1:1: "), "{stderr}");
    assert!(last.to_lowercase().contains("refused") && last.contains("gave up after 6 tries"), "{stderr}");
    assert!(!stderr.contains("prc_pat_x"));
}

/// One request as the scripted server saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn gunzipped(&self) -> String {
        let mut out = String::new();
        GzDecoder::new(self.body.as_slice()).read_to_string(&mut out).expect("a gzip body");
        out
    }
}

/// Answers each connection's one request with the next canned
/// `(status, extra headers, body)`, recording what it was sent.
fn scripted_server(script: Vec<(u16, &'static str, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (status, headers, body) in script {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut request = Seen { line: line.trim_end().to_string(), headers: Vec::new(), body: Vec::new() };
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let Some((k, v)) = header.trim_end().split_once(':') else { break };
                request.headers.push((k.trim().to_string(), v.trim().to_string()));
            }
            let length: usize = request.header("content-length").map_or(0, |v| v.parse().unwrap());
            request.body.resize(length, 0);
            reader.read_exact(&mut request.body).unwrap();
            log.lock().unwrap().push(request);
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
            (&stream).write_all(answer.as_bytes()).unwrap();
        }
    });
    (base, seen)
}

const RUN: &str = r#"{"id":"run-1","status":"running","tests":0,"failed":0,"flaky":0}"#;
const UNAVAILABLE: &str = r#"{"error":"unavailable","message":"Database busy"}"#;

#[test]
fn shards_go_into_one_run_and_transient_failures_are_retried() {
    let (base, seen) = scripted_server(vec![
        (200, "proctor-token-expiration: 2001-01-01T00:00:00Z\r\n", r#"{"token":{}}"#),
        (503, "", UNAVAILABLE),
        (201, "", RUN),
        (201, "", r#"{"id":"r1","tests":3,"passed":1,"failed":1,"errors":0,"skipped":0,"flaky":1,"duplicate":false}"#),
        (429, "retry-after: 0\r\n", r#"{"error":"rate_limited","message":"Slow down"}"#),
        (200, "", r#"{"id":"r2","tests":3,"passed":1,"failed":1,"errors":0,"skipped":0,"flaky":1,"duplicate":true}"#),
        (200, "", r#"{"id":"run-1","status":"failed","tests":3,"failed":1,"flaky":1}"#),
    ]);
    let dir = reports_dir();
    let out = upload(
        dir.path(),
        &["--url", &base, "--token", "prc_pat_tok", "--project", "web", "--commit", "abc", "--build-id", "77"]
            .into_iter()
            .chain(["--name", "unit", "reports/*.json", "reports/unit.xml"])
            .collect::<Vec<_>>(),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, format!("{base}/projects/web/runs/run-1\n"));
    assert!(stderr.contains("warning: the token expires at 2001-01-01T00:00:00Z"), "{stderr}");
    assert!(stderr.contains("warning: Database busy (503 unavailable); retrying in"), "{stderr}");
    assert!(stderr.contains("warning: Slow down (429 rate_limited); retrying in"), "{stderr}");
    assert!(stderr.contains("reports/e2e.json: 3 tests, 1 failed, 1 flaky\n"), "{stderr}");
    assert!(stderr.contains("reports/unit.xml: 3 tests, 1 failed, 1 flaky (duplicate"), "{stderr}");
    assert!(stderr.contains("run run-1 failed: 3 tests, 1 failed, 1 flaky"), "{stderr}");
    assert!(!stderr.contains("prc_pat_tok"));

    let seen = seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "GET /api/v1/whoami HTTP/1.1",
            "POST /api/v1/projects/web/runs HTTP/1.1",
            "POST /api/v1/projects/web/runs HTTP/1.1",
            "POST /api/v1/projects/web/runs/run-1/reports HTTP/1.1",
            "POST /api/v1/projects/web/runs/run-1/reports HTTP/1.1",
            "POST /api/v1/projects/web/runs/run-1/reports HTTP/1.1",
            "POST /api/v1/projects/web/runs/run-1/finalize HTTP/1.1",
        ]
    );
    assert!(seen.iter().all(|s| s.header("authorization") == Some("Bearer prc_pat_tok")));
    let created: serde_json::Value = serde_json::from_slice(&seen[2].body).unwrap();
    assert_eq!(created, serde_json::json!({"commit": "abc", "build_id": "77", "name": "unit"}));
    assert_eq!(seen[3].header("content-type"), Some("application/json"));
    assert_eq!(seen[3].header("content-encoding"), Some("gzip"));
    assert_eq!(seen[3].gunzipped(), CTRF);
    assert_eq!(seen[5].header("content-type"), Some("application/xml"));
    assert_eq!(seen[5].gunzipped(), JUNIT);
    assert_eq!(seen[4].body, seen[5].body, "a retry sends the same bytes");
}

#[test]
fn a_client_error_is_not_retried_and_shards_can_leave_the_run_open() {
    let (base, seen) = scripted_server(vec![
        (200, "", "{}"),
        (200, "", RUN),
        (400, "", r#"{"error":"invalid_report","message":"Not well-formed XML at line 1, column 2"}"#),
    ]);
    let dir = reports_dir();
    let args =
        ["--url", &base, "--token", "t", "--project", "web", "--build-id", "9", "--no-finalize", "reports/unit.xml"];
    let out = upload(dir.path(), &args);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("joining run run-1"), "{stderr}");
    assert!(
        stderr.contains("error: reports/unit.xml: Not well-formed XML at line 1, column 2 (400 invalid_report)"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert_eq!(seen.lock().unwrap().len(), 3);

    let (base, seen) = scripted_server(vec![(200, "", "{}"), (201, "", RUN), (201, "", r#"{"tests":1}"#)]);
    let args =
        ["--url", &base, "--token", "t", "--project", "web", "--build-id", "9", "--no-finalize", "reports/unit.xml"];
    let out = upload(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("left open for the other shards"));
    assert!(seen.lock().unwrap().iter().all(|s| !s.line.contains("finalize")));

    let without_build = upload(dir.path(), &["--url", &base, "--token", "t", "--project", "web", "--finalize-only"]);
    assert!(text(&without_build.stderr).contains("error: --finalize-only needs a build id"));
}

#[tokio::test]
async fn a_refused_report_marks_the_run_errored_with_the_servers_message() {
    let app = TestApp::spawn().await;
    assert!(app.cli(&["project", "create", "--slug", "web", "--name", "Web"]).status.success());
    let key = app.cli(&["key", "create", "--project", "web", "--name", "ci", "--permissions", "runs:write,runs:read"]);
    let key = text(&key.stdout).trim().to_string();
    let dir = reports_dir();
    std::fs::write(dir.path().join("reports/broken.xml"), "<testsuite><testcase name=\"t\">").unwrap();
    let args = ["--url", &app.base, "--token", &key, "--project", "web", "--build-id", "b1", "--name", "unit"];
    let out = upload(dir.path(), &[&args[..], &["reports/unit.xml", "reports/broken.xml"]].concat());
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("reports/unit.xml: 1 test, 0 failed, 0 flaky"), "{stderr}");
    assert!(stderr.contains("marked errored"), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    let runs: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/projects/web/runs", app.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = &runs["runs"][0];
    assert_eq!((run["status"].as_str(), run["tests"].as_i64()), (Some("errored"), Some(1)), "{run}");
    let reason = run["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("proctor upload stopped: reports/broken.xml: ") && reason.ends_with("(400 invalid_report)"),
        "{reason}"
    );
}

/// `proctor upload` prints the server's warnings under the file's line,
/// and a run whose reports held no test case ends `errored`.
#[tokio::test]
async fn upload_prints_the_reports_warnings_and_an_empty_run_is_errored() {
    let app = TestApp::spawn().await;
    assert!(app.cli(&["project", "create", "--slug", "web", "--name", "Web"]).status.success());
    let key = crate::api_helpers::cli_key(&app, "web", "runs:write");
    let dir = reports_dir();
    std::fs::write(dir.path().join("reports/empty.xml"), "<testsuite name=\"unit\"><skipped/></testsuite>").unwrap();
    let out = upload(dir.path(), &["--url", &app.base, "--token", &key, "--project", "web", "reports/empty.xml"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("reports/empty.xml: warning: The report held no test cases."), "{stderr}");
    assert!(
        stderr.contains("reports/empty.xml: warning: 1 unknown element(s) were skipped, the first <skipped>"),
        "{stderr}"
    );
    assert!(stderr.contains("errored"), "{stderr}");
}

/// `--fail-on-failures`: exit 1 when the finalized run has a failure no
/// quarantine rule covers (or no test at all); 0 once every failure is
/// quarantined. Without the flag, the exit says only whether the upload worked.
#[tokio::test]
async fn fail_on_failures_exits_1_unless_every_failure_is_quarantined() {
    use crate::api_helpers::*;
    let app = TestApp::spawn().await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    let key = cli_key(&app, "web", "runs:write");
    let dir = reports_dir();
    let red = r#"<testsuite name="unit"><testcase classname="a.B" name="login"><failure message="timeout"/></testcase>
        <testcase classname="a.B" name="cart"/></testsuite>"#;
    std::fs::write(dir.path().join("reports/red.xml"), red).unwrap();
    let run = |extra: &[&str]| {
        let mut args =
            vec!["--url", app.base.as_str(), "--token", key.as_str(), "--project", "web", "--branch", "main"];
        args.extend_from_slice(extra);
        upload(dir.path(), &args)
    };
    let plain = run(&["reports/red.xml"]);
    assert!(plain.status.success(), "without the flag: {}", text(&plain.stderr));
    let strict = run(&["--fail-on-failures", "reports/red.xml"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        text(&strict.stderr).contains("failed: it has failures that no quarantine rule covers"),
        "{}",
        text(&strict.stderr)
    );
    assert!(text(&strict.stdout).contains("/projects/web/runs/"), "the run's address is printed all the same");

    // Quarantine login: the same report now passes, and so does the step.
    let runs = list_all(&app, &admin, "/api/v1/projects/web/runs", "runs").await;
    let tests = get(&app, &format!("/api/v1/projects/web/runs/{}/tests", runs[0]["id"].as_str().unwrap()), &admin)
        .await
        .expect(reqwest::StatusCode::OK);
    let login = tests["tests"].as_array().unwrap().iter().find(|t| t["name"] == "login").unwrap()["test_id"].clone();
    let rule = serde_json::json!({"test_id": login, "reason": "flaky login"});
    post(&app, "/api/v1/projects/web/quarantine", &admin, rule).await.expect(reqwest::StatusCode::CREATED);
    let forgiven = run(&["--fail-on-failures", "reports/red.xml"]);
    assert!(forgiven.status.success(), "{}", text(&forgiven.stderr));

    std::fs::write(dir.path().join("reports/empty.xml"), "<testsuite name=\"unit\"></testsuite>").unwrap();
    let empty = run(&["--fail-on-failures", "reports/empty.xml"]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(text(&empty.stderr).contains("is errored, not passed"), "{}", text(&empty.stderr));
}
