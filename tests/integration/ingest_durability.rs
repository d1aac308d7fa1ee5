//! Crash safety: `kill -9` the server during concurrent uploads; after a
//! restart on the same data directory every acknowledged report is there
//! whole, and nothing half-written is visible. Storage itself: beside the
//! API it reads the database for what no interface shows (the rows behind
//! the counts, `integrity_check`, orphaned results).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::api_helpers::*;
use crate::helpers::*;
use crate::ingest::*;

const RUNS: usize = 48;
const TESTS: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_reports_survive_kill_9_and_nothing_half_written_shows() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let options = || SpawnOptions { data_dir: Some(data_dir.clone()), ..Default::default() };
    let mut s = Ingest::start_with(options()).await;
    let mut runs = Vec::new();
    for i in 0..RUNS {
        runs.push(s.new_run(json!({"build_id": format!("b{i}"), "name": "crash"})).await);
    }

    // Every run gets one distinct report; all are sent at once and the
    // server commits them one by one. Kill it once a few are acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<(String, [i64; 6])>::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (app_base, token) = (s.app.base.clone(), s.token.clone());
    let mut tasks = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let (acked, in_flight) = (acked.clone(), in_flight.clone());
        let (url, token, run) =
            (format!("{app_base}/api/v1/projects/web/runs/{run}/reports"), token.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let body = junit_report(&format!("crash{i}"), TESTS);
            in_flight.fetch_add(1, Ordering::SeqCst);
            let sent = client()
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/xml")
                .body(body)
                .timeout(Duration::from_secs(60))
                .send()
                .await;
            if let Ok(response) = sent {
                if response.status() == StatusCode::CREATED {
                    if let Ok(text) = response.text().await {
                        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
                        acked.lock().unwrap().push((run, counts(&report)));
                    }
                }
            }
        }));
    }
    poll(Duration::from_secs(60), "a few acknowledged uploads", || {
        let n = acked.lock().unwrap().len();
        async move { (n >= 5).then_some(()) }
    })
    .await;
    s.app.kill9();
    let acknowledged = acked.lock().unwrap().clone();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(acknowledged.len() < RUNS, "the kill came before every upload was done");

    // Restart on the same data directory.
    let app = TestApp::spawn_with(options()).await;
    if let Err(e) = client().get(app.url("/healthz")).send().await {
        tokio::time::sleep(Duration::from_millis(500)).await;
        panic!("the restarted server does not answer: {e}\nits log:\n{}", app.log());
    }
    for (run, report) in &acknowledged {
        assert_eq!(*report, [TESTS as i64, 1800, 200, 0, 0, 0]);
        let stored = run_json(&app, &s.token, "web", run).await;
        assert_eq!(counts(&stored), *report, "acknowledged run {run} is whole");
        assert_eq!(tests_of(&app, &s.token, run).await.len(), TESTS, "acknowledged run {run} lists every result");
    }
    // Storage itself: every run is either untouched or whole, its counts
    // matching the rows behind them, and the file is sound after `kill -9`.
    let conn = rusqlite::Connection::open(app.data_dir.join("proctor.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT r.id, r.tests, (SELECT count(*) FROM results x WHERE x.run = r.seq),
                    (SELECT count(*) FROM reports x WHERE x.run_id = r.id),
                    (SELECT coalesce(sum(tests), 0) FROM reports x WHERE x.run_id = r.id)
             FROM runs r",
        )
        .unwrap();
    let rows: Vec<(String, i64, i64, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), RUNS);
    let mut whole = 0;
    for (id, tests, results, reports, reported) in &rows {
        assert_eq!(tests, results, "run {id}: counts match its results");
        assert_eq!(tests, reported, "run {id}: counts match its reports");
        assert!(
            (*reports == 0 && *tests == 0) || (*reports == 1 && *tests == TESTS as i64),
            "run {id}: {reports} reports, {tests} tests"
        );
        whole += *reports;
    }
    assert!(whole as usize >= acknowledged.len());
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    drop(stmt);
    drop(conn);
    let orphans = sql_count(&app, "SELECT count(*) FROM results WHERE run NOT IN (SELECT seq FROM runs)");
    assert_eq!(orphans, 0);

    // A run whose upload was cut off takes the same report again, whole.
    let (cut, _) =
        rows.iter().map(|r| (r.0.clone(), r.3)).find(|(_, reports)| *reports == 0).expect("an unfinished run");
    let i = runs.iter().position(|r| *r == cut).unwrap();
    let path = format!("/api/v1/projects/web/runs/{cut}/reports");
    let body = junit_report(&format!("crash{i}"), TESTS).into_bytes();
    let resp = upload_to(&app, &s.token, &path, body, &[("content-type", "application/xml")]).await;
    assert_eq!(counts(&resp.expect(StatusCode::CREATED)), [TESTS as i64, 1800, 200, 0, 0, 0]);
    assert!(!app.log().contains("database is locked"));
}
