//! `proctor run` as a CI job runs it: a real server, a real `sh -c` test
//! command that writes a JUnit report and exits with a chosen status, and
//! the exit status of `proctor run` checked against API.md section 9.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;
use crate::results_api::junit;
use crate::upload::{text, CI_VARS};

/// Writes its first argument to reports/unit.xml (unless it is empty),
/// says so on stdout, and exits with its second.
const WRITE_AND_EXIT: &str =
    r#"echo "tests ran"; if [ -n "$1" ]; then mkdir -p reports && printf '%s' "$1" > reports/unit.xml; fi; exit "$2""#;

/// `proctor run ARGS` in `dir`, fast retries, no CI variables, ready to
/// spawn with whatever stdio the test needs.
fn proctor_run(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.current_dir(dir).arg("run").args(args).env("PROCTOR_UPLOAD_RETRY_BASE_MS", "5");
    for var in CI_VARS {
        command.env_remove(var);
    }
    command
}

/// A server with project `web`, an admin token, a CI key that may write
/// and read runs, and an empty workspace.
struct Ci {
    app: TestApp,
    admin: String,
    key: String,
    dir: tempfile::TempDir,
}

impl Ci {
    async fn start() -> Ci {
        let app = TestApp::spawn().await;
        let admin = admin_token(&app).await;
        create_project(&app, "web");
        let key = cli_key(&app, "web", "runs:write,runs:read");
        Ci { app, admin, key, dir: tempfile::tempdir().unwrap() }
    }

    /// The upload flags for this server, `--report reports/*.xml`, `--`.
    fn flags(&self) -> Vec<String> {
        ["--url", &self.app.base, "--token", &self.key, "--project", "web", "--branch", "main"]
            .into_iter()
            .chain(["--report", "reports/*.xml", "--"])
            .map(str::to_string)
            .collect()
    }

    /// Runs a command that writes `report` (none when empty) and exits with
    /// `status`, under `proctor run`.
    fn run(&self, report: &str, status: u8) -> Output {
        let status = status.to_string();
        let command = ["sh", "-c", WRITE_AND_EXIT, "sh", report, &status];
        self.run_command(&command)
    }

    fn run_command(&self, command: &[&str]) -> Output {
        let flags = self.flags();
        let args: Vec<&str> = flags.iter().map(String::as_str).chain(command.iter().copied()).collect();
        proctor_run(self.dir.path(), &args).stdin(Stdio::null()).output().expect("run proctor run")
    }

    async fn quarantine(&self, name: &str) {
        let rule = json!({"pattern": {"name": name}, "reason": format!("{name} is flaky")});
        post(&self.app, "/api/v1/projects/web/quarantine", &self.admin, rule).await.expect(StatusCode::CREATED);
    }

    async fn runs(&self) -> Vec<Value> {
        list_all(&self.app, &self.admin, "/api/v1/projects/web/runs", "runs").await
    }
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
}

#[tokio::test]
async fn a_command_that_passes_exits_0_with_a_passed_run_and_its_url() {
    let ci = Ci::start().await;
    let out = ci.run(&junit(&[("login", "passed", 5), ("cart", "passed", 3)]), 0);
    assert_exit(&out, 0);
    let runs = ci.runs().await;
    assert_eq!((runs.len(), runs[0]["status"].as_str()), (1, Some("passed")), "{runs:?}");
    let url = format!("{}/projects/web/runs/{}", ci.app.base, runs[0]["id"].as_str().unwrap());
    assert_eq!(text(&out.stdout), format!("tests ran\n{url}\n"), "the command's output, then the run's URL");
    assert!(text(&out.stderr).contains("reports/unit.xml: 2 tests, 0 failed, 0 flaky"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn a_command_failing_only_by_quarantined_tests_exits_0_and_lists_them() {
    let ci = Ci::start().await;
    ci.quarantine("login").await;
    ci.quarantine("search").await;
    let report = junit(&[("login", "failed", 5), ("search", "error", 1), ("cart", "passed", 3)]);
    let out = ci.run(&report, 1);
    assert_exit(&out, 0);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("forgiven (quarantined): unit › app.Suite › login (failed: boom)\n"), "{stderr}");
    assert!(stderr.contains("forgiven (quarantined): unit › app.Suite › search (error: crash)\n"), "{stderr}");
    assert_eq!(stderr.matches("forgiven (quarantined)").count(), 2, "{stderr}");
    let runs = ci.runs().await;
    let id = runs[0]["id"].as_str().unwrap();
    assert_eq!(runs[0]["status"], "passed");
    assert!(
        stderr.ends_with(&format!(
            "proctor run: exit status 0 instead of 1: the 2 failures of run {id} are all quarantined\n"
        )),
        "{stderr}"
    );
}

/// The server's verdict on the run is what counts; listing the forgiven
/// failures takes `runs:read`, and a key without it gets a warning.
#[tokio::test]
async fn a_key_that_cannot_read_runs_is_forgiven_without_the_list() {
    let mut ci = Ci::start().await;
    ci.key = cli_key(&ci.app, "web", "runs:write");
    ci.quarantine("login").await;
    let out = ci.run(&junit(&[("login", "failed", 5)]), 1);
    assert_exit(&out, 0);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning: cannot list the forgiven failures (a token with runs:read can): "), "{stderr}");
    assert!(stderr.contains("the 1 failure of run "), "{stderr}");
    assert!(!stderr.contains("retrying"), "a 403 is not retried: {stderr}");
}

#[tokio::test]
async fn a_failure_no_rule_covers_keeps_the_commands_status() {
    let ci = Ci::start().await;
    ci.quarantine("login").await;
    let out = ci.run(&junit(&[("login", "failed", 5), ("cart", "failed", 3)]), 3);
    assert_exit(&out, 3);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("proctor run: exit status 3 kept: run "), "{stderr}");
    assert!(stderr.contains("failed: it has failures that no quarantine rule covers"), "{stderr}");
    assert!(!stderr.contains("forgiven"), "{stderr}");
    assert_eq!(ci.runs().await[0]["status"], "failed");
}

/// A report with no failure cannot explain a failed command, whatever
/// stopped it after the report was written.
#[tokio::test]
async fn a_green_report_does_not_excuse_a_command_that_failed_after_writing_it() {
    let ci = Ci::start().await;
    let out = ci.run(&junit(&[("login", "passed", 5)]), 2);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("passed without a single failure"), "{}", text(&out.stderr));
    assert_eq!(ci.runs().await[0]["status"], "passed", "the run is stored all the same");
}

/// A run another job left open (same build id and name) holds that job's
/// results too: it cannot speak for this command alone.
#[tokio::test]
async fn a_run_shared_with_another_job_does_not_forgive_the_command() {
    let ci = Ci::start().await;
    ci.quarantine("login").await;
    let shard = ["--url", &ci.app.base, "--token", &ci.key, "--project", "web", "--build-id", "b7", "--name", "unit"];
    std::fs::write(ci.dir.path().join("other.xml"), junit(&[("cart", "passed", 3)])).unwrap();
    let other = crate::upload::upload(ci.dir.path(), &[&shard[..], &["--no-finalize", "other.xml"]].concat());
    assert!(other.status.success(), "{}", text(&other.stderr));

    let report = junit(&[("login", "failed", 5)]);
    let command = ["--report", "reports/*.xml", "--", "sh", "-c", WRITE_AND_EXIT, "sh", &report, "1"];
    let out = proctor_run(ci.dir.path(), &[&shard[..], &command].concat()).stdin(Stdio::null()).output().unwrap();
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("joining run"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("other jobs' results are in it"), "{}", text(&out.stderr));
    let runs = ci.runs().await;
    assert_eq!((runs.len(), runs[0]["status"].as_str()), (1, Some("passed")), "one run, passed: {runs:?}");
}

/// The command crashes (killed by a signal: 128 + 11) before it writes a
/// report; the report of an earlier run, left in the workspace, would
/// "explain" the failure by a quarantined test, so it is not uploaded.
#[tokio::test]
async fn a_command_that_crashes_without_a_report_keeps_its_status_and_a_stale_report_is_not_uploaded() {
    let ci = Ci::start().await;
    ci.quarantine("login").await;
    let stale = ci.dir.path().join("reports/unit.xml");
    std::fs::create_dir(ci.dir.path().join("reports")).unwrap();
    std::fs::write(&stale, junit(&[("login", "failed", 5)])).unwrap();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&stale).unwrap().set_modified(an_hour_ago).unwrap();

    let out = ci.run_command(&["sh", "-c", "echo started; kill -SEGV $$"]);
    assert_exit(&out, 128 + 11);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning: skipping reports/unit.xml: not modified since the command started"), "{stderr}");
    assert!(stderr.contains("proctor run: exit status 139 kept: no report was uploaded"), "{stderr}");
    assert_eq!(text(&out.stdout), "started\n");
    assert!(ci.runs().await.is_empty(), "no run was created");
}

#[tokio::test]
async fn a_command_that_cannot_start_exits_127_and_uploads_nothing() {
    let ci = Ci::start().await;
    let out = ci.run_command(&["no-such-test-runner", "--all"]);
    assert_exit(&out, 127);
    assert!(text(&out.stderr).contains("error: cannot start no-such-test-runner: "), "{}", text(&out.stderr));
    assert!(ci.runs().await.is_empty());
}

/// Without a token (or with a bad pattern) nothing could be uploaded: that
/// is said before the command runs, not after.
#[test]
fn configuration_errors_stop_before_the_command_runs() {
    let dir = tempfile::tempdir().unwrap();
    let touch = ["--", "sh", "-c", "touch ran"];
    let no_token = [&["--url", "http://127.0.0.1:1", "--project", "web", "--report", "r.xml"][..], &touch].concat();
    let out = proctor_run(dir.path(), &no_token).stdin(Stdio::null()).output().unwrap();
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("error: no token: set PROCTOR_TOKEN or pass --token"));
    let bad_glob = ["--url", "http://127.0.0.1:1", "--token", "t", "--project", "web", "--report", "r/["];
    let out = proctor_run(dir.path(), &[&bad_glob[..], &touch].concat()).stdin(Stdio::null()).output().unwrap();
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("error: invalid file pattern \"r/[\""), "{}", text(&out.stderr));
    assert!(!dir.path().join("ran").exists(), "the command never ran");
}

/// Nothing listens: the command's status stands, 0 included, with a
/// warning, once the (here fast) retries are spent.
#[test]
fn an_unreachable_server_keeps_the_commands_status_quickly() {
    let dir = tempfile::tempdir().unwrap();
    for status in ["3", "0"] {
        let flags = ["--url", "http://127.0.0.1:1", "--token", "prc_key_x", "--project", "web"];
        let command = ["--report", "reports/*.xml", "--", "sh", "-c", WRITE_AND_EXIT, "sh", "<testsuite/>", status];
        let started = Instant::now();
        let out = proctor_run(dir.path(), &[&flags[..], &command].concat()).stdin(Stdio::null()).output().unwrap();
        assert_exit(&out, status.parse().unwrap());
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        let stderr = text(&out.stderr);
        assert!(stderr.contains("warning: the upload failed: cannot reach http://127.0.0.1:1: "), "{stderr}");
        assert!(stderr.contains("(gave up after 6 tries)"), "{stderr}");
        assert_eq!(stderr.contains("kept: the upload failed"), status != "0", "{stderr}");
        assert_eq!(text(&out.stdout), "tests ran\n");
    }
}

/// The command reads proctor's stdin and writes to its stdout and stderr.
#[tokio::test]
async fn stdin_stdout_and_stderr_pass_through() {
    let ci = Ci::start().await;
    let script =
        r#"read line; echo "read: $line"; echo "to stderr" >&2; mkdir reports; printf '%s' "$1" > reports/unit.xml"#;
    let flags = ci.flags();
    let report = junit(&[("login", "passed", 5)]);
    let args: Vec<&str> = flags.iter().map(String::as_str).chain(["sh", "-c", script, "sh", &report]).collect();
    let mut child = proctor_run(ci.dir.path(), &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello from CI\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert!(text(&out.stdout).starts_with("read: hello from CI\nhttp://"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).starts_with("to stderr\n"), "{}", text(&out.stderr));
}

/// Waits for the child's exit, at most 20 seconds.
fn wait_for(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "proctor run did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// SIGTERM and SIGINT sent to proctor (as a CI cancelling a job does)
/// reach the command, which ends as it chooses; its status is kept.
#[test]
fn sigterm_and_sigint_are_passed_on_to_the_command() {
    for (signal, status) in [("TERM", 42), ("INT", 43)] {
        let dir = tempfile::tempdir().unwrap();
        let script =
            format!("trap 'echo {signal} > got; exit {status}' {signal}; touch ready; while :; do sleep 0.05; done");
        let flags = ["--url", "http://127.0.0.1:1", "--token", "t", "--project", "web", "--report", "r.xml", "--"];
        let child = proctor_run(dir.path(), &[&flags[..], &["sh", "-c", &script]].concat())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dir.path().join("ready").exists() {
            assert!(Instant::now() < deadline, "the command never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        let kill = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let out = wait_for(child);
        assert_exit(&out, status);
        assert_eq!(std::fs::read_to_string(dir.path().join("got")).unwrap(), format!("{signal}\n"));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&format!("proctor run: passing SIG{signal} on to the command")), "{stderr}");
        assert!(stderr.contains(&format!("exit status {status} kept: no report was uploaded")), "{stderr}");
    }
}
