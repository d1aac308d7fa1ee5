//! The reading API (API.md section 4) on crafted JUnit sequences: compare
//! semantics, flaky and slowest tests, a test's history, pagination and
//! filters of runs and tests, and project isolation. Attachments and
//! retention are in the submodules.

mod attachments;
mod retention;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::api_helpers::*;
use crate::helpers::*;

/// A server with an admin token holding every permission and project `web`.
pub struct Reader {
    pub app: TestApp,
    pub token: String,
}

impl Reader {
    pub async fn start() -> Reader {
        Reader::start_with(SpawnOptions::default()).await
    }

    pub async fn start_with(options: SpawnOptions) -> Reader {
        let app = TestApp::spawn_with(options).await;
        let token = admin_token(&app).await;
        create_project(&app, "web");
        Reader { app, token }
    }

    /// One finished run of `project` from `cases` through `/results`; `query`
    /// is the run's metadata (`commit=…&branch=…&name=…`). Returns the run.
    pub async fn run_of(&self, project: &str, query: &str, cases: &[(&str, &str, u64)]) -> Value {
        let path = format!("/api/v1/projects/{project}/results?{query}");
        let request = api(&self.app, Method::POST, &path, &self.token)
            .header("content-type", "application/xml")
            .body(junit(cases));
        send(request).await.expect(StatusCode::CREATED)
    }

    pub async fn get(&self, path: &str) -> Value {
        get(&self.app, path, &self.token).await.expect(StatusCode::OK)
    }
}

/// A JUnit report: `(name, status, milliseconds)` with status `passed`,
/// `failed`, `error`, `skipped` or `flaky` (a `flakyFailure` only).
pub fn junit(cases: &[(&str, &str, u64)]) -> String {
    let mut xml = String::from("<testsuites><testsuite name=\"unit\">");
    for (name, status, ms) in cases {
        let inner = match *status {
            "failed" => "<failure message=\"boom\">trace</failure>",
            "error" => "<error message=\"crash\"/>",
            "skipped" => "<skipped/>",
            "flaky" => "<flakyFailure message=\"once\"/>",
            _ => "",
        };
        let seconds = *ms as f64 / 1000.0;
        xml.push_str(&format!(
            "<testcase classname=\"app.Suite\" name=\"{name}\" time=\"{seconds}\">{inner}</testcase>"
        ));
    }
    xml.push_str("</testsuite></testsuites>");
    xml
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// The `name`s of a list of tests.
fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        list.as_array().expect("array").iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn compare_finds_regressions_fixes_and_slowdowns_against_the_default_branch() {
    let r = Reader::start().await;
    let base_cases = [
        ("a", "passed", 100),
        ("b", "passed", 100),
        ("c", "failed", 100),
        ("d", "failed", 100),
        ("e", "passed", 200),
        ("f", "passed", 1000),
        ("g", "passed", 10),
        ("i", "error", 5),
    ];
    let base = r.run_of("web", "branch=main&name=ci&commit=m1", &base_cases).await;
    // Newer runs that are not baselines: another name, another branch.
    r.run_of("web", "branch=main&name=lint&commit=m1", &[("a", "failed", 1)]).await;
    r.run_of("web", "branch=feature&name=ci&commit=f0", &[("a", "failed", 1)]).await;
    let now_cases = [
        ("a", "failed", 100),
        ("b", "passed", 100),
        ("c", "passed", 100),
        ("d", "error", 100),
        ("e", "passed", 300),
        ("f", "passed", 1400),
        ("g", "passed", 100),
        ("h", "failed", 1),
        ("i", "flaky", 5),
    ];
    let run = r.run_of("web", "branch=feature&name=ci&commit=f1", &now_cases).await;
    let cmp = r.get(&format!("/api/v1/projects/web/runs/{}/compare", id(&run))).await;
    assert_eq!(cmp["base_run"]["id"], base["id"], "{cmp}");
    assert_eq!(cmp["run"]["id"], run["id"]);
    assert_eq!(names(&cmp["new_failures"]), ["a", "h"]);
    assert_eq!(names(&cmp["fixed"]), ["c", "i"]);
    assert_eq!(names(&cmp["still_failing"]), ["d"]);
    assert_eq!(names(&cmp["slower"]), ["e"], "+50% and +100 ms; f is +40%, g +90 ms");
    let a = &cmp["new_failures"].as_array().unwrap().iter().find(|t| t["name"] == "a").unwrap();
    assert_eq!(a["status"], "failed");
    assert_eq!(a["base_status"], "passed");
    assert_eq!(a["message"], "boom");
    for field in ["test_id", "suite", "classname", "file", "duration_ms", "base_duration_ms"] {
        assert!(a.get(field).is_some(), "{field} in {a}");
    }
    let h = cmp["new_failures"].as_array().unwrap().iter().find(|t| t["name"] == "h").unwrap().clone();
    assert_eq!(h["base_status"], Value::Null, "absent in the base");
    let e = &cmp["slower"][0];
    assert_eq!((e["duration_ms"].as_i64(), e["base_duration_ms"].as_i64()), (Some(300), Some(200)));

    // An explicit base; an unknown one is 404.
    let other = r.run_of("web", "branch=main&name=ci&commit=m2", &[("a", "failed", 100)]).await;
    let cmp = r.get(&format!("/api/v1/projects/web/runs/{}/compare?base={}", id(&run), id(&other))).await;
    assert_eq!(cmp["base_run"]["id"], other["id"]);
    assert_eq!(names(&cmp["still_failing"]), ["a"]);
    assert_eq!(names(&cmp["new_failures"]), ["d", "h"]);
    let path = format!("/api/v1/projects/web/runs/{}/compare?base=0190e1d0-0000-7000-8000-000000000000", id(&run));
    get(&r.app, &path, &r.token).await.expect_code(StatusCode::NOT_FOUND, "not_found");
    get(&r.app, "/api/v1/projects/web/runs/nope/compare", &r.token)
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");

    // No finished run of that name on the default branch: no base, every failure is new.
    let lone = r.run_of("web", "branch=feature&name=e2e", &[("x", "failed", 1), ("y", "passed", 1)]).await;
    let cmp = r.get(&format!("/api/v1/projects/web/runs/{}/compare", id(&lone))).await;
    assert_eq!(cmp["base_run"], Value::Null);
    assert_eq!(names(&cmp["new_failures"]), ["x"]);
}

#[tokio::test]
async fn flaky_tests_pass_and_fail_on_one_commit_or_within_a_run() {
    let r = Reader::start().await;
    let q = |commit: &str| format!("branch=main&name=ci&commit={commit}");
    r.run_of("web", &q("abc"), &[("t1", "passed", 1), ("t2", "passed", 1), ("t3", "passed", 1)]).await;
    r.run_of("web", &q("abc"), &[("t1", "failed", 1), ("t2", "passed", 1)]).await;
    r.run_of("web", &q("abc"), &[("t1", "passed", 1)]).await;
    r.run_of("web", &q("def"), &[("t2", "failed", 1), ("t3", "flaky", 1)]).await;
    let body = r.get("/api/v1/projects/web/tests/flaky").await;
    let tests = body["tests"].as_array().unwrap();
    let order: Vec<&str> = tests.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(order, ["t1", "t3"], "t2 only failed on a new commit: {body}");
    let t1 = &tests[0];
    assert_eq!(t1["signals"], serde_json::json!({"retry": 0, "same_commit": 1, "flips": 2}), "{t1}");
    assert_eq!(t1["fired"], serde_json::json!(["same_commit"]), "2 changes are under the threshold of 4");
    assert_eq!((t1["state"].as_str(), t1["flips"].as_i64()), (Some("flaky"), Some(2)));
    assert_eq!(t1["quarantine"], Value::Null);
    assert_eq!(t1["runs"], 3);
    assert!((t1["failure_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 0.001, "{t1}");
    unix(t1["last_flaky_at"].as_str().unwrap());
    unix(t1["first_flaky_at"].as_str().unwrap());
    for field in ["test_id", "suite", "classname", "name", "file"] {
        assert!(t1.get(field).is_some(), "{field} in {t1}");
    }
    let t3 = &tests[1];
    assert_eq!(t3["signals"], serde_json::json!({"retry": 1, "same_commit": 0, "flips": 0}), "{t3}");
    assert_eq!(t3["runs"], 2);
    assert_eq!(t3["failure_rate"], 0.5);
    assert_eq!(body["window"], serde_json::json!({"days": 30, "runs": 4, "complete": true}));

    assert_eq!(r.get("/api/v1/projects/web/tests/flaky?days=1&limit=1").await["tests"].as_array().unwrap().len(), 1);
    for (bad, says) in [
        ("days=0", "days must be between 1 and 365"),
        ("days=366", "days must be between 1 and 365"),
        ("days=abc", "days must be a whole number between 1 and 365, not \"abc\""),
        ("limit=0", "limit must be between 1 and 200"),
        ("limit=201", "limit must be between 1 and 200"),
    ] {
        let resp = get(&r.app, &format!("/api/v1/projects/web/tests/flaky?{bad}"), &r.token).await;
        let message = resp.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(message.contains(says), "{bad}: {message}");
    }
    // Three days later, runs older than a two-day window do not count.
    let r = Reader { app: r.app.restart_with(later(3 * 86_400)).await, token: r.token };
    assert_eq!(r.get("/api/v1/projects/web/tests/flaky?days=2").await["tests"], serde_json::json!([]));
    assert_eq!(r.get("/api/v1/projects/web/tests/flaky?days=4").await["tests"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn slowest_tests_by_p95_with_trend_and_history_newest_first() {
    let r = Reader::start().await;
    let durations = [(100, 500, 10), (100, 500, 10), (100, 1000, 10), (2000, 1000, 10)];
    let mut runs = Vec::new();
    for (i, (a, b, c)) in durations.iter().enumerate() {
        let query = format!("branch=main&name=ci&commit=c{i}");
        runs.push(r.run_of("web", &query, &[("a", "passed", *a), ("b", "passed", *b), ("c", "passed", *c)]).await);
    }
    let body = r.get("/api/v1/projects/web/tests/slowest").await;
    let tests = body["tests"].as_array().unwrap();
    let order: Vec<&str> = tests.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(order, ["a", "b", "c"], "{body}");
    // Percentiles come from duration sketches: exact under 128 ms, else
    // within 1/128 of the nearest-rank duration (docs/api.md).
    let near = |got: &Value, want: i64| {
        let got = got.as_i64().unwrap();
        assert!((got - want).abs() * 128 <= want, "{got} ms is not within 1/128 of {want} ms");
    };
    near(&tests[0]["p95_ms"], 2000);
    assert_eq!(tests[0]["p50_ms"], 100);
    near(&tests[1]["p95_ms"], 1000);
    near(&tests[1]["p50_ms"], 500);
    assert_eq!(tests[0]["trend"], "stable");
    assert_eq!(tests[1]["trend"], "slower");
    assert_eq!(tests[1]["trend_ratio"], 2.0);
    assert_eq!(tests[1]["runs"], 4);
    assert_eq!(r.get("/api/v1/projects/web/tests/slowest?limit=1").await["tests"].as_array().unwrap().len(), 1);

    let b_id = tests[1]["test_id"].as_str().unwrap().to_string();
    let history = r.get(&format!("/api/v1/projects/web/tests/{b_id}")).await;
    assert_eq!(history["test"]["name"], "b");
    assert_eq!(history["test"]["test_id"], b_id.as_str());
    let entries = history["history"].as_array().unwrap();
    let run_ids: Vec<&Value> = entries.iter().map(|h| &h["run_id"]).collect();
    let expected: Vec<&Value> = runs.iter().rev().map(|r| &r["id"]).collect();
    assert_eq!(run_ids, expected, "newest first");
    assert_eq!(entries[0]["duration_ms"], 1000);
    assert_eq!(entries[0]["commit"], "c3");
    assert_eq!(entries[0]["branch"], "main");
    assert_eq!(entries[0]["status"], "passed");
    unix(entries[0]["created_at"].as_str().unwrap());

    let page = r.get(&format!("/api/v1/projects/web/tests/{b_id}?limit=3")).await;
    assert_eq!(page["history"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let rest = r.get(&format!("/api/v1/projects/web/tests/{b_id}?limit=3&cursor={cursor}")).await;
    assert_eq!(rest["history"][0]["run_id"], runs[0]["id"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    get(&r.app, "/api/v1/projects/web/tests/0123456789abcdef0123456789abcdef", &r.token)
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn runs_and_tests_are_paginated_and_filtered() {
    let r = Reader::start().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let (branch, status) = if i % 2 == 0 { ("main", "passed") } else { ("dev", "failed") };
        let run = r.run_of("web", &format!("branch={branch}&commit=c{i}"), &[("t", status, 1)]).await;
        ids.push(id(&run));
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/projects/web/runs?limit=3".to_string();
    let mut pages = 0;
    loop {
        let body = r.get(&path).await;
        pages += 1;
        seen.extend(body["runs"].as_array().unwrap().iter().map(id));
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/projects/web/runs?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");

    let main = r.get("/api/v1/projects/web/runs?branch=main").await;
    assert_eq!(main["runs"].as_array().unwrap().len(), 4);
    assert!(main["runs"].as_array().unwrap().iter().all(|r| r["branch"] == "main" && r["status"] == "passed"));
    assert_eq!(r.get("/api/v1/projects/web/runs?status=failed").await["runs"].as_array().unwrap().len(), 3);
    let by_commit = r.get("/api/v1/projects/web/runs?commit=c3").await;
    assert_eq!(by_commit["runs"].as_array().unwrap().len(), 1);
    assert_eq!(by_commit["runs"][0]["commit"], "c3");
    // Each refusal names what is wrong.
    for (bad, says) in [
        ("status=green", "status \"green\" is not one of"),
        ("limit=0", "limit must be between 1 and 200"),
        ("limit=201", "limit must be between 1 and 200"),
        ("limit=x", "limit must be a whole number between 1 and 200, not \"x\""),
        ("branch=main&limit=-1", "limit must be a whole number"),
        ("limit=99999999999", "limit must be a whole number"),
        ("cursor=!!!", "Invalid cursor"),
        ("cursor=bm9wZQ", "Invalid cursor"),
    ] {
        let resp = get(&r.app, &format!("/api/v1/projects/web/runs?{bad}"), &r.token).await;
        let message = resp.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(message.contains(says), "{bad}: {message}");
    }
    let one = r.get(&format!("/api/v1/projects/web/runs/{}", ids[0])).await;
    assert_eq!((one["id"].as_str(), one["project"].as_str()), (Some(ids[0].as_str()), Some("web")));
    get(&r.app, "/api/v1/projects/web/runs/unknown", &r.token).await.expect_code(StatusCode::NOT_FOUND, "not_found");

    // A run's tests: failures first, then by test id, across pages.
    let cases =
        [("p1", "passed", 1), ("f1", "failed", 1), ("e1", "error", 1), ("p2", "passed", 1), ("f2", "failed", 1)];
    let run = id(&r.run_of("web", "branch=main", &cases).await);
    let mut statuses = Vec::new();
    let mut path = format!("/api/v1/projects/web/runs/{run}/tests?limit=2");
    loop {
        let body = r.get(&path).await;
        statuses.extend(body["tests"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap().to_string()));
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/projects/web/runs/{run}/tests?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(statuses, ["error", "failed", "failed", "passed", "passed"]);
    let passed = r.get(&format!("/api/v1/projects/web/runs/{run}/tests?status=passed")).await;
    assert_eq!(names(&passed["tests"]), ["p1", "p2"]);
    let test = &passed["tests"][0];
    for field in
        ["test_id", "suite", "classname", "name", "file", "status", "duration_ms", "retries", "message", "details"]
    {
        assert!(test.get(field).is_some(), "{field} in {test}");
    }
    for bad in ["status=ok", "cursor=eA", "limit=500"] {
        let resp = get(&r.app, &format!("/api/v1/projects/web/runs/{run}/tests?{bad}"), &r.token).await;
        resp.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    }
}

/// Every reading route of a project, for the isolation checks.
pub fn reading_routes(project: &str, run: &str, test_id: &str, attachment: &str) -> Vec<String> {
    let p = format!("/api/v1/projects/{project}");
    vec![
        format!("{p}/runs"),
        format!("{p}/runs/{run}"),
        format!("{p}/runs/{run}/tests"),
        format!("{p}/runs/{run}/compare"),
        format!("{p}/runs/{run}/attachments"),
        format!("{p}/tests/flaky"),
        format!("{p}/tests/slowest"),
        format!("{p}/errors"),
        format!("{p}/tests/{test_id}"),
        format!("{p}/attachments/{attachment}"),
    ]
}

#[tokio::test]
async fn a_token_of_another_project_gets_project_not_found_everywhere() {
    let r = Reader::start().await;
    create_project(&r.app, "other");
    let run = r.run_of("web", "branch=main", &[("secret", "failed", 1)]).await;
    let run_id = id(&run);
    let tests = r.get(&format!("/api/v1/projects/web/runs/{run_id}/tests")).await;
    let test_id = tests["tests"][0]["test_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/projects/web/runs/{run_id}/attachments?filename=log.txt");
    let attachment = send(api(&r.app, Method::POST, &path, &r.token).body("hello")).await.expect(StatusCode::CREATED);
    let attachment_id = id(&attachment);

    let key = cli_key(&r.app, "other", "runs:read,runs:write,artifacts:write,projects:read");
    let pat = cli_token(&r.app, ADMIN_EMAIL, "other only", "runs:read,artifacts:write", &["--projects", "other"]);
    for token in [&key, &pat] {
        for route in reading_routes("web", &run_id, &test_id, &attachment_id) {
            get(&r.app, &route, token).await.expect_error(
                StatusCode::NOT_FOUND,
                "project_not_found",
                "Project not found.",
            );
        }
        let upload = send(api(&r.app, Method::POST, &path, token).body("x")).await;
        upload.expect_error(StatusCode::NOT_FOUND, "project_not_found", "Project not found.");
        let gone = delete(&r.app, &format!("/api/v1/projects/web/attachments/{attachment_id}"), token).await;
        gone.expect_error(StatusCode::NOT_FOUND, "project_not_found", "Project not found.");
        // The same routes of a project that does not exist answer the same.
        for route in reading_routes("nope", &run_id, &test_id, &attachment_id) {
            get(&r.app, &route, token).await.expect_error(
                StatusCode::NOT_FOUND,
                "project_not_found",
                "Project not found.",
            );
        }
    }
    // Its own project works, and the other project's run id is not found in it.
    get(&r.app, "/api/v1/projects/other/runs", &key).await.expect(StatusCode::OK);
    let cross = get(&r.app, &format!("/api/v1/projects/other/runs/{run_id}"), &key).await;
    cross.expect_code(StatusCode::NOT_FOUND, "not_found");
    let cross = get(&r.app, &format!("/api/v1/projects/other/tests/{test_id}"), &key).await;
    cross.expect_code(StatusCode::NOT_FOUND, "not_found");

    // A token without runs:read gets 403 once the project is visible.
    let writer = cli_key(&r.app, "web", "runs:write");
    get(&r.app, "/api/v1/projects/web/runs", &writer).await.expect_403("runs:read");
    get(&r.app, "/api/v1/projects/web/tests/flaky", &writer).await.expect_403("runs:read");
}
