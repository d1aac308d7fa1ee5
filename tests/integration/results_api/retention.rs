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
    let options = || SpawnOptions {
        data_dir: Some(data.clone()),
        args: vec!["--retention-days".into(), "1".into()],
        ..Default::default()
    };
    let r = Reader::start_with(options()).await;
    let mut old = Vec::new();
    for i in 0..3 {
        old.push(id(&r.run_of("web", &format!("branch=main&commit=old{i}"), &[("t", "passed", 1)]).await));
    }
    let path = format!("/api/v1/projects/web/runs/{}/attachments?filename=old.log", old[0]);
    send(api(&r.app, Method::POST, &path, &r.token).body("old")).await.expect(StatusCode::CREATED);
    let token = r.token.clone();
    let mut app = r.app;
    app.terminate();
    // Moves the clock: the old runs were created two days ago.
    let ids = old.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(", ");
    let conn = rusqlite::Connection::open(data.join("proctor.db")).unwrap();
    conn.execute_batch(&format!("UPDATE runs SET created_at = created_at - 2 * 86400 WHERE id IN ({ids})")).unwrap();
    drop(conn);
    assert!(data.join("attachments").join(&old[0]).is_dir());

    // The task runs when the server starts.
    let app = TestApp::spawn_with(options()).await;
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
    let options = || SpawnOptions {
        data_dir: Some(data.clone()),
        args: vec!["--stale-run-hours".into(), "2".into()],
        ..Default::default()
    };
    let r = Reader::start_with(options()).await;
    let mut running = Vec::new();
    for build in ["abandoned", "busy", "young"] {
        let create = api(&r.app, Method::POST, "/api/v1/projects/web/runs", &r.token)
            .json(&serde_json::json!({"build_id": build, "name": "ci"}));
        let run = id(&send(create).await.expect(StatusCode::CREATED));
        let path = format!("/api/v1/projects/web/runs/{run}/reports");
        let report = api(&r.app, Method::POST, &path, &r.token)
            .header("content-type", "application/xml")
            .body(super::junit(&[("t", "passed", 1)]));
        send(report).await.expect(StatusCode::CREATED);
        running.push(run);
    }
    let [abandoned, busy, young] = [&running[0], &running[1], &running[2]];
    let token = r.token.clone();
    let mut app = r.app;
    app.terminate();
    // Moves the clock: the abandoned run and its report are three hours old; the busy run too, but not its report.
    let conn = rusqlite::Connection::open(data.join("proctor.db")).unwrap();
    let age = |table: &str, column: &str, run: &str| {
        let sql = format!("UPDATE {table} SET created_at = created_at - 3 * 3600 WHERE {column} = '{run}'");
        conn.execute_batch(&sql).unwrap();
    };
    age("runs", "id", abandoned);
    age("reports", "run_id", abandoned);
    age("runs", "id", busy); // created long ago, but its report is recent
    drop(conn);

    let app = TestApp::spawn_with(options()).await;
    let r = Reader { app, token };
    let path = |id: &str| format!("/api/v1/projects/web/runs/{id}");
    let closed = poll(Duration::from_secs(10), "the abandoned run to be closed", || async {
        let run = get(&r.app, &path(abandoned), &r.token).await.expect(StatusCode::OK);
        (run["status"] == "errored").then_some(run)
    })
    .await;
    assert_eq!(
        closed["reason"],
        "No report for 2 hours: the CI job stopped without finishing the run (marked errored by Proctor)."
    );
    assert_eq!((closed["tests"].as_i64(), closed["finished_at"].is_string()), (Some(1), true), "{closed}");
    for other in [busy, young] {
        assert_eq!(get(&r.app, &path(other), &r.token).await.expect(StatusCode::OK)["status"], "running");
    }
    let late = api(&r.app, Method::POST, &format!("/api/v1/projects/web/runs/{abandoned}/reports"), &r.token)
        .header("content-type", "application/xml")
        .body(super::junit(&[("u", "passed", 1)]));
    send(late).await.expect_code(StatusCode::CONFLICT, "run_closed");
}
