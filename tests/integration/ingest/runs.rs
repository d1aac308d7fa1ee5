//! A run's life: shards joining one run, duplicate reports, gzip bodies,
//! finalize / fail / closed runs, and the one-call `/results`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{counts, gzip, junit_report, shard, upload_to, Ingest, CTRF};
use crate::api_helpers::*;
use crate::helpers::*;

#[tokio::test]
async fn shards_join_one_run_and_a_test_failing_in_one_and_passing_in_another_is_flaky() {
    let s = Ingest::start().await;
    let meta = json!({"build_id": "1234", "name": "unit", "commit": "0a1b2c3", "branch": "main",
                      "build_url": "https://ci.example.com/1234", "tags": {"os": "linux"}});
    let first = s.create_run(meta.clone()).await.expect(StatusCode::CREATED);
    let again = s.create_run(meta.clone()).await.expect(StatusCode::OK);
    assert_eq!(first["id"], again["id"]);
    for field in ["commit", "branch", "build_id", "build_url", "name", "tags"] {
        assert_eq!(first[field], meta[field], "{field}: {first}");
    }
    assert_eq!(first["status"], "running");
    assert_eq!(counts(&first), [0; 6]);
    // Another name or another build is another run.
    let other = s.create_run(json!({"build_id": "1234", "name": "e2e"})).await.expect(StatusCode::CREATED);
    assert_ne!(other["id"], first["id"]);
    let run = first["id"].as_str().unwrap().to_string();

    let shard_a = shard(&[("a-pass", true), ("a-fail", false), ("shared", false)]);
    let shard_b = shard(&[("b-pass", true), ("shared", true)]);
    let a = s.upload_xml(&run, shard_a.clone()).await.expect(StatusCode::CREATED);
    assert_eq!(counts(&a), [3, 1, 2, 0, 0, 0]);
    let b = s.upload_xml(&run, shard_b.clone()).await.expect(StatusCode::CREATED);
    assert_eq!(counts(&b), [2, 2, 0, 0, 0, 0]);
    // Distinct tests: a-pass, a-fail, b-pass, shared (failed, then passed).
    assert_eq!(counts(&s.run(&run).await), [4, 2, 1, 0, 0, 1]);
    let mut names: Vec<String> = s.tests(&run).await.iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    assert_eq!(names, ["a-fail", "a-pass", "b-pass", "shared"]);
    assert_eq!(s.result_of(&run, "shared").await.0, "flaky");
    // Both shards are stored reports of the run, and sending one again changes nothing.
    assert_eq!(s.stored_report(&run, shard_a).await, a["id"].as_str().unwrap());
    assert_eq!(s.stored_report(&run, shard_b).await, b["id"].as_str().unwrap());
    assert_ne!(a["id"], b["id"]);
    assert_eq!(counts(&s.run(&run).await), [4, 2, 1, 0, 0, 1]);

    let done = post(&s.app, &format!("/api/v1/projects/web/runs/{run}/finalize"), &s.token, json!({})).await;
    let done = done.expect(StatusCode::OK);
    assert_eq!(done["status"], "failed", "a-fail failed: {done}");
    assert_eq!(counts(&done), [4, 2, 1, 0, 0, 1]);
    // The build's next attempt, once this run is closed, is a new run.
    let retry = s.create_run(meta).await.expect(StatusCode::CREATED);
    assert_ne!(retry["id"], first["id"]);
}

#[tokio::test]
async fn the_same_bytes_twice_count_once_even_gzipped() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({"build_id": "7", "name": "unit"})).await;
    let body = junit_report("dup", 30);
    let first = s.upload_xml(&run, body.clone()).await.expect(StatusCode::CREATED);
    assert_eq!(counts(&first), [30, 27, 3, 0, 0, 0]);
    assert_eq!(first["duplicate"], false);

    let again = s.upload_xml(&run, body.clone()).await.expect(StatusCode::OK);
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], first["id"], "the stored report");
    assert_eq!(counts(&again), counts(&first));
    // Identity is of the decompressed bytes.
    let zipped = s
        .upload(&run, gzip(body.as_bytes()), &[("content-type", "application/xml"), ("content-encoding", "gzip")])
        .await
        .expect(StatusCode::OK);
    assert_eq!(zipped["duplicate"], true);
    assert_eq!(zipped["id"], first["id"], "still the one stored report");
    assert_eq!(counts(&s.run(&run).await), [30, 27, 3, 0, 0, 0]);
    let results = s.tests(&run).await;
    assert_eq!(results.len(), 30);
    // A duplicate merged as another attempt would show as a retry.
    assert!(results.iter().all(|t| t["retries"] == 0), "a duplicate does not touch the results: {results:?}");

    // One byte more is another report; into another run the same bytes are new.
    let changed = s.upload_xml(&run, format!("{body}\n")).await.expect(StatusCode::CREATED);
    assert_eq!(changed["duplicate"], false);
    assert_ne!(changed["id"], first["id"]);
    let other = s.new_run(json!({})).await;
    assert_eq!(s.upload_xml(&other, body).await.expect(StatusCode::CREATED)["duplicate"], false);
}

#[tokio::test]
async fn gzip_bodies_are_decompressed_and_counted() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({})).await;
    let body = junit_report("gz", 500);
    let zipped = gzip(body.as_bytes());
    assert!(zipped.len() * 5 < body.len());
    for encoding in ["gzip", "x-gzip"] {
        let run = s.new_run(json!({"name": encoding})).await;
        let report = s
            .upload(&run, zipped.clone(), &[("content-type", "application/xml"), ("content-encoding", encoding)])
            .await
            .expect(StatusCode::CREATED);
        assert_eq!(counts(&report), [500, 450, 50, 0, 0, 0], "{encoding}");
    }
    let ctrf = gzip(CTRF.as_bytes());
    let report = s
        .upload(&run, ctrf, &[("content-type", "application/json"), ("content-encoding", "gzip")])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(counts(&report), [6, 1, 1, 0, 3, 1]);
    // Storage itself: no interface shows a report's recorded size (nothing lists a run's reports).
    let stored = sql_count(&s.app, &format!("SELECT bytes FROM reports WHERE run_id = '{run}'"));
    assert_eq!(stored, CTRF.len() as i64, "the decompressed size is recorded");
}

#[tokio::test]
async fn finalize_is_idempotent_fail_marks_errored_and_closed_runs_refuse_reports() {
    let s = Ingest::start().await;
    let path = |run: &str, action: &str| format!("/api/v1/projects/web/runs/{run}/{action}");

    // A passing run.
    let green = s.new_run(json!({"name": "green"})).await;
    s.upload_xml(&green, shard(&[("ok", true)])).await.expect(StatusCode::CREATED);
    let done = post(&s.app, &path(&green, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(done["status"], "passed", "{done}");
    assert!(done["finished_at"].as_str().is_some_and(|t| unix(t) >= now_unix() - 60), "{done}");
    let again = post(&s.app, &path(&green, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(again["status"], "passed");
    assert_eq!(again["finished_at"], done["finished_at"], "idempotent");
    assert_eq!(counts(&again), [1, 1, 0, 0, 0, 0]);
    // Finalize needs no body at all.
    let bare = send(api(&s.app, Method::POST, &path(&green, "finalize"), &s.token)).await;
    assert_eq!(bare.expect(StatusCode::OK)["status"], "passed");

    let closed = s.upload_xml(&green, shard(&[("late", true)])).await;
    closed.expect_code(StatusCode::CONFLICT, "run_closed");
    let fail = post(&s.app, &path(&green, "fail"), &s.token, json!({"reason": "too late"})).await;
    fail.expect_code(StatusCode::CONFLICT, "run_closed");
    assert_eq!(counts(&s.run(&green).await), [1, 1, 0, 0, 0, 0]);
    assert_eq!(s.run(&green).await["status"], "passed");

    // A failing run.
    let red = s.new_run(json!({"name": "red"})).await;
    s.upload_xml(&red, shard(&[("ok", true), ("bad", false)])).await.expect(StatusCode::CREATED);
    let done = post(&s.app, &path(&red, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(done["status"], "failed");
    // A run without a single test is errored, not a green run that hides a
    // broken test step; finalizing it again gives the same answer.
    let empty = s.new_run(json!({"name": "empty"})).await;
    let done = post(&s.app, &path(&empty, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!((done["status"].as_str(), counts(&done)), (Some("errored"), [0; 6]));
    assert_eq!(done["reason"], "No test results: the uploaded reports held no test cases");
    let again = post(&s.app, &path(&empty, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(
        (again["status"].clone(), again["finished_at"].clone()),
        (done["status"].clone(), done["finished_at"].clone())
    );
    // So is one whose only report held no test case (a stray <skipped/> in a suite).
    let stray = s.new_run(json!({"name": "stray"})).await;
    let body = "<testsuites><testsuite name=\"unit\"><skipped/></testsuite></testsuites>";
    let report = s.upload_xml(&stray, body.to_string()).await.expect(StatusCode::CREATED);
    assert_eq!(report["tests"], 0);
    assert_eq!(
        report["warnings"],
        json!([
            "The report held no test cases.",
            "1 unknown element(s) were skipped, the first <skipped> (not where JUnit puts it)."
        ])
    );
    let done = post(&s.app, &path(&stray, "finalize"), &s.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(done["status"], "errored");

    // A CI job that died: errored with its reason; no more reports, no finalize.
    let dead = s.new_run(json!({"name": "dead"})).await;
    s.upload_xml(&dead, shard(&[("ok", true)])).await.expect(StatusCode::CREATED);
    let failed = post(&s.app, &path(&dead, "fail"), &s.token, json!({"reason": "runner OOM-killed"})).await;
    let failed = failed.expect(StatusCode::OK);
    assert_eq!(failed["status"], "errored", "{failed}");
    assert_eq!(failed["reason"], "runner OOM-killed", "{failed}");
    assert_eq!(counts(&failed), [1, 1, 0, 0, 0, 0], "what arrived is kept");
    let again = post(&s.app, &path(&dead, "fail"), &s.token, json!({"reason": "again"})).await;
    assert_eq!(again.expect(StatusCode::OK)["status"], "errored");
    s.upload_xml(&dead, shard(&[("late", true)])).await.expect_code(StatusCode::CONFLICT, "run_closed");
    post(&s.app, &path(&dead, "finalize"), &s.token, json!({})).await.expect_code(StatusCode::CONFLICT, "run_closed");
    assert_eq!(s.run(&dead).await["status"], "errored");

    // Unknown runs.
    let missing = "0190a000-0000-7000-8000-000000000000";
    for action in ["finalize", "fail", "reports"] {
        let resp = post(&s.app, &path(missing, action), &s.token, json!({})).await;
        resp.expect_code(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn one_call_results_creates_uploads_and_finalizes() {
    let s = Ingest::start().await;
    let query = "commit=cafe123&branch=main&build_id=99&build_url=https%3A%2F%2Fci%2F99&name=e2e";
    let path = format!("/api/v1/projects/web/results?{query}");
    let body = shard(&[("one", true), ("two", false)]);
    let resp = upload_to(&s.app, &s.token, &path, body.into_bytes(), &[("content-type", "application/xml")]).await;
    let run = resp.expect(StatusCode::CREATED);
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(counts(&run), [2, 1, 1, 0, 0, 0]);
    assert_eq!((run["commit"].as_str(), run["branch"].as_str()), (Some("cafe123"), Some("main")));
    assert_eq!((run["build_id"].as_str(), run["name"].as_str()), (Some("99"), Some("e2e")));
    assert_eq!(run["build_url"], "https://ci/99");
    assert_eq!(run["project"], "web");
    assert!(run["finished_at"].is_string());
    let id = run["id"].as_str().unwrap();
    let results = s.tests(id).await;
    let names: Vec<&str> = results.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["two", "one"], "the report's tests, failures first: {results:?}");

    // CTRF, gzipped, no metadata at all.
    let resp = upload_to(
        &s.app,
        &s.token,
        "/api/v1/projects/web/results",
        gzip(CTRF.as_bytes()),
        &[("content-type", "application/json"), ("content-encoding", "gzip")],
    )
    .await;
    let run = resp.expect(StatusCode::CREATED);
    assert_eq!((run["status"].as_str(), counts(&run)), (Some("failed"), [6, 1, 1, 0, 3, 1]));

    // A bad report creates nothing.
    let before = s.runs().await.len();
    let resp =
        upload_to(&s.app, &s.token, &path, b"<testsuite>".to_vec(), &[("content-type", "application/xml")]).await;
    resp.expect_code(StatusCode::BAD_REQUEST, "invalid_report");
    assert_eq!(s.runs().await.len(), before);
}

#[tokio::test]
async fn failed_then_skipped_then_passed_is_flaky_in_one_report_and_across_shards() {
    let s = Ingest::start().await;
    let case = |name: &str, inner: &str| {
        format!("<testcase classname=\"app.Seq\" name=\"{name}\" time=\"0.01\">{inner}</testcase>")
    };
    let one = format!(
        "<testsuite name=\"seq\">{}{}{}{}</testsuite>",
        case("seq", "<failure message=\"boom\"/>"),
        case("seq", "<skipped/>"),
        case("seq", ""),
        case("only-skipped-last", "<skipped/>"),
    );
    let run = s.new_run(json!({"build_id": "9", "name": "seq"})).await;
    let uploaded = s.upload_xml(&run, one).await.expect(StatusCode::CREATED);
    assert_eq!(counts(&uploaded), [2, 0, 0, 0, 1, 1], "{uploaded}");
    assert_eq!(s.result_of(&run, "seq").await.0, "flaky");

    // The same sequence spread over three shards of another run.
    let run = s.new_run(json!({"build_id": "10", "name": "seq"})).await;
    for inner in ["<failure message=\"boom\"/>", "<skipped/>", ""] {
        let body = format!("<testsuite name=\"seq\">{}</testsuite>", case("seq", inner));
        s.upload_xml(&run, body).await.expect(StatusCode::CREATED);
    }
    assert_eq!(s.result_of(&run, "seq").await.0, "flaky");
    assert_eq!(counts(&s.run(&run).await), [1, 0, 0, 0, 0, 1]);
}

#[tokio::test]
async fn run_bodies_are_optional_but_never_silently_wrong() {
    let s = Ingest::start().await;
    let raw = |body: &'static str, content_type: &'static str| {
        api(&s.app, reqwest::Method::POST, "/api/v1/projects/web/runs", &s.token)
            .header("content-type", content_type)
            .body(body)
    };
    let empty = send(raw("", "application/json")).await.expect(StatusCode::CREATED);
    assert_eq!(empty["status"], "running");
    send(raw("{\"build\": \"1\"}", "application/json")).await.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    send(raw("{not json", "application/json")).await.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    send(raw("{}", "text/plain")).await.expect_code(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let run = empty["id"].as_str().unwrap();
    let fail = format!("/api/v1/projects/web/runs/{run}/fail");
    let bad = send(
        api(&s.app, reqwest::Method::POST, &fail, &s.token)
            .header("content-type", "application/json")
            .body("{\"why\": 1}"),
    )
    .await;
    bad.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    let failed = post(&s.app, &fail, &s.token, json!({"reason": "runner lost"})).await.expect(StatusCode::OK);
    assert_eq!(failed["status"], "errored");
    assert_eq!(failed["reason"], "runner lost");
}

/// The run's counts and duration are kept as cases are stored, not
/// recounted: after shards that repeat tests in every combination of
/// outcomes (and a duplicate and a rejected report in between), they must
/// equal an aggregate over the results the API lists.
#[tokio::test]
async fn kept_counts_match_the_stored_results_after_merges() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({"build_id": "77", "name": "merge"})).await;
    const OUTCOMES: [&str; 5] =
        ["", "<failure message=\"f\"/>", "<error message=\"e\"/>", "<skipped/>", "<flakyFailure message=\"once\"/>"];
    // 25 tests × 4 shards; shard k gives test t the outcome (t / 5^k) % 5 in
    // some order, so every pair of outcomes meets on some test.
    let shard = |k: u32| -> String {
        let cases: String = (0..25u32)
            .map(|t| {
                let outcome = OUTCOMES[((t / 5u32.pow(k % 2)) + k) as usize % 5];
                let time =
                    if (t + k).is_multiple_of(3) { String::new() } else { format!(" time=\"0.{:03}\"", t * 7 + k) };
                format!("<testcase classname=\"m\" name=\"t{t:02}\"{time}>{outcome}</testcase>")
            })
            .collect();
        format!("<testsuite name=\"m\">{cases}</testsuite>")
    };
    for k in 0..4 {
        s.upload_xml(&run, shard(k)).await.expect(StatusCode::CREATED);
        if k == 1 {
            s.upload_xml(&run, shard(1)).await.expect(StatusCode::OK); // duplicate
            s.upload_xml(&run, format!("{}<oops", shard(9))).await.expect(StatusCode::BAD_REQUEST);
        }
    }
    let kept = s.run(&run).await;
    let results = s.tests(&run).await;
    let mut stored = [0i64; 6];
    for result in &results {
        let status = result["status"].as_str().unwrap();
        let slot = ["passed", "failed", "error", "skipped", "flaky"].iter().position(|s| *s == status).unwrap();
        stored[slot + 1] += 1;
        stored[0] += 1;
    }
    assert_eq!(counts(&kept), stored, "kept counts against the results: {kept}");
    assert_eq!(stored[0], 25);
    let duration: i64 = results.iter().filter_map(|r| r["duration_ms"].as_i64()).sum();
    assert_eq!(kept["duration_ms"], json!(duration), "kept duration against the results");
    assert!(stored[5] > 0 && stored[1] + stored[2] + stored[3] + stored[4] > 0, "a mix of outcomes: {stored:?}");
}

/// The upload's answer says what the report held that was read past:
/// test cases without a name, durations that are not seconds, elements
/// where JUnit puts none. A clean report has no warnings.
#[tokio::test]
async fn uploads_warn_about_what_the_report_held_that_was_read_past() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({"name": "warned"})).await;
    let body = r#"<testsuites><testsuite name="unit">
        <testcase classname="a.B" name="" time="0.1"/>
        <testcase classname="a.B" name="slow" time="about a second"/>
        <testcase classname="a.B" name="ok" time="0.2"><properties><property name="k" value="v"/></properties></testcase>
        <weird/><weird/>
        <system-out>suite output</system-out>
      </testsuite></testsuites>"#;
    let report = s.upload_xml(&run, body.to_string()).await.expect(StatusCode::CREATED);
    assert_eq!(report["tests"], 3);
    assert_eq!(
        report["warnings"],
        json!([
            "1 test case(s) had no name.",
            "1 duration(s) did not parse as seconds and were left out.",
            "2 unknown element(s) were skipped, the first <weird> (not where JUnit puts it)."
        ])
    );
    let clean = s.upload_xml(&run, shard(&[("fine", true)])).await.expect(StatusCode::CREATED);
    assert_eq!(clean["warnings"], json!([]));
}
