//! Sixty-four concurrent uploads into sixteen runs all land, without
//! "database is locked".

use reqwest::StatusCode;
use serde_json::json;

use super::{counts, junit_report, Ingest};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_uploads_all_land() {
    let s = std::sync::Arc::new(Ingest::start().await);
    // 16 runs of 4 shards, each shard 200 distinct tests.
    let mut runs = Vec::new();
    for r in 0..16 {
        runs.push(s.new_run(json!({"build_id": format!("b{r}"), "name": "load"})).await);
    }
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = s.clone();
        let run = runs[i % 16].clone();
        tasks.push(tokio::spawn(async move {
            let body = junit_report(&format!("r{}s{}", i % 16, i / 16), 200);
            // The shard joins its run the way CI does: create-or-join, then upload.
            let joined = s.create_run(json!({"build_id": format!("b{}", i % 16), "name": "load"})).await;
            assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
            assert_eq!(joined.json()["id"], run.as_str());
            s.upload_xml(&run, body).await
        }));
    }
    let mut reports = std::collections::HashSet::new();
    for task in tasks {
        let resp = task.await.unwrap();
        assert!(!resp.status.is_server_error(), "{:?} {}", resp.status, resp.text);
        let report = resp.expect(StatusCode::CREATED);
        assert_eq!(counts(&report), [200, 180, 20, 0, 0, 0]);
        reports.insert(report["id"].as_str().expect("report id").to_string());
    }
    assert_eq!(reports.len(), 64, "64 reports stored, none merged into another");
    for run in &runs {
        assert_eq!(counts(&s.run(run).await), [800, 720, 80, 0, 0, 0]);
        assert_eq!(s.tests(run).await.len(), 800, "every shard's results are listed");
    }
    let log = s.app.log();
    assert!(!log.contains("database is locked"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
