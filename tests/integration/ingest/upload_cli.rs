//! `proctor upload` against the real server: shards into one run, and the
//! server's message on a wrong token.

use std::process::{Command, Output, Stdio};

use super::{counts, shard, Ingest, CTRF};
use crate::helpers::*;

/// CI variables of the machine running the tests would leak into the run.
const CI_VARS: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_RUN_ID",
    "GITHUB_SHA",
    "GITHUB_REF_NAME",
    "GITLAB_CI",
    "CI_PIPELINE_ID",
    "JENKINS_URL",
    "JENKINS_HOME",
    "BUILD_TAG",
    "PROCTOR_URL",
    "PROCTOR_TOKEN",
    "PROCTOR_PROJECT",
    "PROCTOR_CONFIG",
];

fn proctor_upload(app: &TestApp, token: &str, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command.arg("upload").args(args);
    for var in CI_VARS {
        command.env_remove(var);
    }
    command
        .env("PROCTOR_URL", &app.base)
        .env("PROCTOR_TOKEN", token)
        .env("PROCTOR_UPLOAD_RETRY_BASE_MS", "5")
        .stdin(Stdio::null())
        .output()
        .expect("run proctor upload")
}

#[tokio::test]
async fn proctor_upload_sends_shards_into_one_run_of_the_real_server() {
    let s = Ingest::start().await;
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("unit.xml");
    let e2e = dir.path().join("e2e.json");
    std::fs::write(&unit, shard(&[("one", true), ("two", false), ("both", false)])).unwrap();
    std::fs::write(&e2e, CTRF).unwrap();
    let args = ["--project", "web", "--build-id", "ci-42", "--name", "unit", "--commit", "abc123"];
    let files = [unit.to_str().unwrap(), e2e.to_str().unwrap()];
    let out = proctor_upload(&s.app, &s.token, &[&args[..], &files[..]].concat());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let prefix = format!("{}/projects/web/runs/", s.app.base);
    assert!(stdout.starts_with(&prefix) && stdout.ends_with('\n') && stdout.lines().count() == 1, "{stdout}");
    let run = stdout.trim()[prefix.len()..].to_string();
    let stored = s.run(&run).await;
    let results = s.tests(&run).await;
    let has = |name: &str| results.iter().any(|t| t["name"] == name);
    assert!(has("one") && has("searches"), "both files' tests are in the run: {results:?}");
    assert_eq!(counts(&stored), [9, 2, 3, 0, 3, 1], "{stored}");
    assert_eq!(stored["status"], "failed");
    assert_eq!((stored["build_id"].as_str(), stored["commit"].as_str()), (Some("ci-42"), Some("abc123")));
    assert!(!stderr.contains(&s.token) && !s.app.log().contains(&s.token));

    // Wrong token: the server's message, a failure, nothing on stdout.
    let wrong = "prc_pat_GarbageGarbageGarbageGarbage000000";
    let out = proctor_upload(&s.app, wrong, &[&args[..], &files[..1]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("Invalid API key"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(s.runs().await.len(), 1, "no run was created");
}
