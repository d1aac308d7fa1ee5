//! Ingestion over HTTP (API.md section 3): every real report of the shared
//! fixtures, a small report of each JUnit dialect and CTRF, shards joining one
//! run, duplicates, gzip, finalize / fail / closed runs, the one-call
//! `/results`, 64 concurrent uploads, and `proctor upload` against the real
//! server, one submodule per theme. Bad input is in `ingest_bad_input.rs`,
//! crash safety in `ingest_durability.rs`; both use the helpers here.

mod concurrency;
mod dialects;
mod fixtures;
mod runs;
mod streaming;
mod upload_cli;

use std::io::Write;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::api_helpers::*;
use crate::helpers::*;

/// What a CI token holds.
pub const CI_PERMISSIONS: &str = "runs:write,runs:read,projects:read";

/// A server with an admin, a CI token and the project `web`.
pub struct Ingest {
    pub app: TestApp,
    pub token: String,
}

impl Ingest {
    pub async fn start() -> Ingest {
        Ingest::start_with(SpawnOptions::default()).await
    }

    pub async fn start_with(options: SpawnOptions) -> Ingest {
        let app = TestApp::spawn_with(options).await;
        create_admin(&app);
        let token = cli_token(&app, ADMIN_EMAIL, "ci", CI_PERMISSIONS, &[]);
        create_project(&app, "web");
        Ingest { app, token }
    }

    /// `POST /runs` with `meta`, as it came back.
    pub async fn create_run(&self, meta: Value) -> Resp {
        post(&self.app, "/api/v1/projects/web/runs", &self.token, meta).await
    }

    /// A new run of `web` (201); returns its id.
    pub async fn new_run(&self, meta: Value) -> String {
        let run = self.create_run(meta).await.expect(StatusCode::CREATED);
        assert_eq!(run["status"], "running", "{run}");
        run["id"].as_str().expect("run id").to_string()
    }

    /// Uploads `body` as a JUnit report into `run` of `web`.
    pub async fn upload_xml(&self, run: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.upload(run, body.into(), &[("content-type", "application/xml")]).await
    }

    /// Uploads `body` into `run` of `web` with exactly these headers.
    pub async fn upload(&self, run: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Resp {
        upload_to(&self.app, &self.token, &format!("/api/v1/projects/web/runs/{run}/reports"), body, headers).await
    }

    /// The run as the API shows it (see [`run_json`]).
    pub async fn run(&self, id: &str) -> Value {
        run_json(&self.app, &self.token, "web", id).await
    }
}

/// POSTs `body` to `path` with `token` and exactly `headers`.
pub async fn upload_to(app: &TestApp, token: &str, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Resp {
    let mut request = api(app, Method::POST, path, token).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

/// `GET /api/v1/projects/{slug}/runs/{id}`: the run as the API shows it.
pub async fn run_json(app: &TestApp, token: &str, slug: &str, id: &str) -> Value {
    get(app, &format!("/api/v1/projects/{slug}/runs/{id}"), token).await.expect(StatusCode::OK)
}

/// `[tests, passed, failed, errors, skipped, flaky]` of a run or report body.
pub fn counts(v: &Value) -> [i64; 6] {
    let n = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("no {k} in {v}"));
    [n("tests"), n("passed"), n("failed"), n("errors"), n("skipped"), n("flaky")]
}

/// Asserts `tests` is the sum of the outcomes.
pub fn assert_sum(v: &Value) {
    let c = counts(v);
    assert_eq!(c[0], c[1..].iter().sum::<i64>(), "tests = passed + failed + errors + skipped + flaky: {v}");
}

/// Every result of `run` of `web`, as `GET …/runs/{run}/tests` lists them.
pub async fn tests_of(app: &TestApp, token: &str, run: &str) -> Vec<Value> {
    list_all(app, token, &format!("/api/v1/projects/web/runs/{run}/tests"), "tests").await
}

impl Ingest {
    /// Every result of `run` (see [`tests_of`]).
    pub async fn tests(&self, run: &str) -> Vec<Value> {
        tests_of(&self.app, &self.token, run).await
    }

    /// The one result of `run` whose test is named `name`.
    pub async fn result(&self, run: &str, name: &str) -> Value {
        let mut found: Vec<Value> = self.tests(run).await.into_iter().filter(|t| t["name"] == name).collect();
        assert_eq!(found.len(), 1, "one result named {name:?} in {run}: {found:?}");
        found.pop().unwrap()
    }

    /// (status, retries) of the test named `name` in `run`.
    pub async fn result_of(&self, run: &str, name: &str) -> (String, i64) {
        let result = self.result(run, name).await;
        let status = result["status"].as_str().unwrap_or_else(|| panic!("status of {result}")).to_string();
        (status, result["retries"].as_i64().unwrap_or_else(|| panic!("retries of {result}")))
    }

    /// Every run of `web`, newest first.
    pub async fn runs(&self) -> Vec<Value> {
        list_all(&self.app, &self.token, "/api/v1/projects/web/runs", "runs").await
    }

    /// Sends `body` into the running `run` again: a stored report answers
    /// 200 `duplicate` with its id, which this returns (no interface lists
    /// a run's reports; this is how a client learns one is there).
    pub async fn stored_report(&self, run: &str, body: impl Into<Vec<u8>>) -> String {
        let again = self.upload_xml(run, body).await.expect(StatusCode::OK);
        assert_eq!(again["duplicate"], true, "{again}");
        again["id"].as_str().expect("report id").to_string()
    }
}

/// Report rows stored for `run`. Storage itself: "stored whole or not at
/// all" includes the report row, and no interface lists a run's reports.
pub fn report_rows(app: &TestApp, run: &str) -> i64 {
    sql_count(app, &format!("SELECT count(*) FROM reports WHERE run_id = '{run}'"))
}

/// A JUnit report of `n` distinct tests named `{prefix}-{i}`, every tenth failing.
pub fn junit_report(prefix: &str, n: usize) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (s, chunk) in (0..n).collect::<Vec<_>>().chunks(100).enumerate() {
        xml.push_str(&format!("<testsuite name=\"{prefix}.suite{s}\" tests=\"{}\">\n", chunk.len()));
        for &i in chunk {
            if i % 10 == 9 {
                xml.push_str(&format!(
                    "<testcase classname=\"{prefix}.C{s}\" name=\"{prefix}-{i}\" time=\"0.004\"><failure message=\"expected 1, got 2\"/></testcase>\n"
                ));
            } else {
                xml.push_str(&format!(
                    "<testcase classname=\"{prefix}.C{s}\" name=\"{prefix}-{i}\" time=\"0.002\"/>\n"
                ));
            }
        }
        xml.push_str("</testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/reports");
    dir.is_dir().then_some(dir)
}

/// CTRF (Playwright, Cypress…): flaky flag / retries on a pass, pending and
/// other count as skipped.
const CTRF: &str = r#"{
  "reportFormat": "CTRF", "specVersion": "0.0.0",
  "results": {
    "tool": {"name": "playwright", "version": "1.44.0"},
    "summary": {"tests": 6, "passed": 2, "failed": 1, "pending": 1, "skipped": 1, "other": 1, "start": 1714557600000, "stop": 1714557660000},
    "tests": [
      {"name": "logs in", "status": "passed", "duration": 1200, "suite": ["auth", "login"], "filePath": "e2e/login.spec.ts"},
      {"name": "pays", "status": "failed", "duration": 3000, "message": "Timeout 30000ms exceeded.", "trace": "at e2e/pay.spec.ts:12:5", "retries": 2},
      {"name": "searches", "status": "passed", "duration": 500, "flaky": true, "retries": 1},
      {"name": "exports", "status": "skipped", "duration": 0},
      {"name": "imports", "status": "pending", "duration": 0},
      {"name": "syncs", "status": "other", "duration": 0}
    ]
  }
}"#;

/// Shard A: a-pass, a-fail and `shared` failing; shard B: b-pass and `shared` passing.
fn shard(tests: &[(&str, bool)]) -> String {
    let mut xml = String::from("<testsuite name=\"shards\">");
    for (name, ok) in tests {
        if *ok {
            xml.push_str(&format!("<testcase classname=\"app.Shards\" name=\"{name}\" time=\"0.01\"/>"));
        } else {
            xml.push_str(&format!(
                "<testcase classname=\"app.Shards\" name=\"{name}\" time=\"0.02\"><failure message=\"no\"/></testcase>"
            ));
        }
    }
    xml.push_str("</testsuite>");
    xml
}
