//! The housekeeping task (at start, then every 10 minutes): `--retention-days`
//! deletes runs created before the cutoff, with their results and attachment
//! files, and keeps newer ones; `--stale-run-hours` closes runs a CI job
//! abandoned.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::{id, Reader};
use crate::api_helpers::*;
use crate::helpers::*;

#[tokio::test]
async fn runs_past_the_retention_period_go_with_their_attachments() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = |days_later: i64| SpawnOptions {
        data_dir: Some(data.clone()),
        args: [vec!["--retention-days".into(), "1".into()], later(days_later * 86_400)].concat(),
        ..Default::default()
    };
    let r = Reader::start_with(options(0)).await;
    let mut old = Vec::new();
    for i in 0..3 {
        old.push(id(&r.run_of("web", &format!("branch=main&commit=old{i}"), &[("t", "passed", 1)]).await));
    }
    let path = format!("/api/v1/projects/web/runs/{}/attachments?filename=old.log", old[0]);
    send(api(&r.app, Method::POST, &path, &r.token).body("old")).await.expect(StatusCode::CREATED);
    let token = r.token.clone();
    let mut app = r.app;
    app.terminate();
    assert!(data.join("attachments").join(&old[0]).is_dir());

    // Two days later: the task runs when the server starts.
    let app = TestApp::spawn_with(options(2)).await;
    let r = Reader { app, token };
    let fresh = id(&r.run_of("web", "branch=main&commit=new", &[("t", "passed", 1)]).await);
    let path = format!("/api/v1/projects/web/runs/{fresh}/attachments?filename=new.log");
    let kept = send(api(&r.app, Method::POST, &path, &r.token).body("new")).await.expect(StatusCode::CREATED);
    poll(Duration::from_secs(10), "old runs pruned", || async {
        let runs = list_all(&r.app, &r.token, "/api/v1/projects/web/runs", "runs").await;
        (runs.len() == 1).then_some(())
    })
    .await;
    for run in &old {
        let gone = get(&r.app, &format!("/api/v1/projects/web/runs/{run}"), &r.token).await;
        gone.expect_code(StatusCode::NOT_FOUND, "not_found");
    }
    poll(Duration::from_secs(10), "attachment directory removed", || async {
        (!data.join("attachments").join(&old[0]).exists()).then_some(())
    })
    .await;
    // Storage itself: retention deletes the old runs' result rows, which no interface shows once the runs are gone.
    assert_eq!(sql_count(&r.app, "SELECT count(*) FROM results"), 1, "the old runs' results went with them");
    let runs = get(&r.app, "/api/v1/projects/web/runs", &r.token).await.expect(StatusCode::OK);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1);
    assert_eq!(runs["runs"][0]["id"], fresh.as_str());
    let file = data.join("attachments").join(&fresh).join(id(&kept));
    assert!(file.is_file(), "newer runs keep their attachments");
}

/// `--stale-run-hours`: a run still running with no report for that long is
/// closed as `errored` with a reason by the same task; one that got a report
/// recently, or is younger, is left alone.
#[tokio::test]
async fn runs_abandoned_by_their_ci_job_are_marked_errored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let at = |minutes_later: i64| SpawnOptions {
        data_dir: Some(data.clone()),
        args: [vec!["--stale-run-hours".into(), "2".into()], later(minutes_later * 60)].concat(),
        ..Default::default()
    };
    let create = |r: &Reader, build: &str| {
        let body = serde_json::json!({"build_id": build, "name": "ci"});
        api(&r.app, Method::POST, "/api/v1/projects/web/runs", &r.token).json(&body)
    };
    let report = |r: &Reader, run: &str, test: &str| {
        let path = format!("/api/v1/projects/web/runs/{run}/reports");
        let body = super::junit(&[(test, "passed", 1)]);
        api(&r.app, Method::POST, &path, &r.token).header("content-type", "application/xml").body(body)
    };
    // Now: two runs start and each gets a report.
    let r = Reader::start_with(at(0)).await;
    let abandoned = id(&send(create(&r, "abandoned")).await.expect(StatusCode::CREATED));
    let busy = id(&send(create(&r, "busy")).await.expect(StatusCode::CREATED));
    for run in [&abandoned, &busy] {
        send(report(&r, run, "t")).await.expect(StatusCode::CREATED);
    }
    // 90 minutes later (nothing is two hours quiet yet): the busy run gets
    // another report and a young run starts.
    let token = r.token.clone();
    let r = Reader { app: r.app.restart_with(at(90).args).await, token };
    send(report(&r, &busy, "u")).await.expect(StatusCode::CREATED);
    let young = id(&send(create(&r, "young")).await.expect(StatusCode::CREATED));
    send(report(&r, &young, "t")).await.expect(StatusCode::CREATED);
    // Three hours after the start, the task (run at start-up) closes only
    // the run that has had no report for two hours.
    let token = r.token.clone();
    let r = Reader { app: r.app.restart_with(at(180).args).await, token };
    let path = |id: &str| format!("/api/v1/projects/web/runs/{id}");
    let closed = poll(Duration::from_secs(10), "the abandoned run to be closed", || async {
        let run = get(&r.app, &path(&abandoned), &r.token).await.expect(StatusCode::OK);
        (run["status"] == "errored").then_some(run)
    })
    .await;
    assert_eq!(
        closed["reason"],
        "No report for 2 hours: the CI job stopped without finishing the run (marked errored by Proctor)."
    );
    assert_eq!((closed["tests"].as_i64(), closed["finished_at"].is_string()), (Some(1), true), "{closed}");
    for other in [&busy, &young] {
        assert_eq!(get(&r.app, &path(other), &r.token).await.expect(StatusCode::OK)["status"], "running");
    }
    let late = api(&r.app, Method::POST, &format!("/api/v1/projects/web/runs/{abandoned}/reports"), &r.token)
        .header("content-type", "application/xml")
        .body(super::junit(&[("u", "passed", 1)]));
    send(late).await.expect_code(StatusCode::CONFLICT, "run_closed");
}
