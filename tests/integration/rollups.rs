//! Analytics from rollups equal a full scan (issue 14): a seeded history of
//! five days, uploaded through the API with the clock moved a day at a
//! time, is kept here as a model; every analytics route's answer is
//! compared with what the model says, counts exactly and percentiles within
//! the sketches' 1/128, while digests wait to be folded and after they are.

use std::collections::{BTreeMap, HashMap};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

const DAY: i64 = 86_400;
const TESTS: usize = 30;
const RUNS_PER_DAY: usize = 6;

/// xorshift64*: the same history on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One stored result, as the model keeps it.
#[derive(Debug, Clone)]
struct Stored {
    run: String,
    created_at: i64,
    status: &'static str,
    duration_ms: Option<u64>,
    message: Option<&'static str>,
}

/// Every result by test name, as the server should have stored them.
#[derive(Default)]
struct Model {
    tests: BTreeMap<String, Vec<Stored>>,
}

const MESSAGES: [&str; 3] =
    ["Timeout waiting for the checkout button", "expected true but was false", "connection refused by the database"];

/// One case of a report: name, status, duration, message.
type Case = (String, &'static str, Option<u64>, Option<&'static str>);

fn report(cases: &[Case]) -> String {
    let mut xml = String::from("<testsuites><testsuite name=\"eq\">");
    for (name, status, ms, message) in cases {
        let message = message.unwrap_or("");
        let inner = match *status {
            "failed" => format!("<failure message=\"{message}\">trace</failure>"),
            "error" => format!("<error message=\"{message}\"/>"),
            "skipped" => "<skipped/>".to_string(),
            _ => String::new(),
        };
        let time = ms.map(|ms| format!(" time=\"{}\"", ms as f64 / 1000.0)).unwrap_or_default();
        xml.push_str(&format!("<testcase classname=\"eq.Suite\" name=\"{name}\"{time}>{inner}</testcase>"));
    }
    xml.push_str("</testsuite></testsuites>");
    xml
}

/// What test `i` does in one run: `None` when it is not in the report.
fn case(rng: &mut Rng, i: usize) -> Option<Case> {
    // The last five run in one run out of three: rare tests.
    if i >= 25 && rng.below(3) != 0 {
        return None;
    }
    let roll = rng.below(100);
    let status = match i {
        0..=4 if roll < 30 => "failed",
        5..=7 if roll < 50 => "error",
        8 | 9 if roll < 80 => "skipped",
        _ if roll < 3 => "failed",
        _ => "passed",
    };
    let base = 5 + (i as u64).pow(2) * 37;
    // One result in twenty has no duration.
    let ms = (rng.below(20) != 0).then(|| base / 2 + rng.below(base + 1));
    let message = matches!(status, "failed" | "error").then(|| MESSAGES[rng.below(3) as usize]);
    Some((format!("t{i:02}"), status, ms, message))
}

struct History {
    app: TestApp,
    token: String,
    model: Model,
    rng: Rng,
    offset: i64,
}

fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp()
}

fn args(offset: i64) -> Vec<String> {
    let mut args = later(offset);
    args.extend(["--stale-run-hours".into(), "1000".into()]);
    args
}

impl History {
    async fn restart(mut self, offset: i64) -> History {
        self.app = self.app.restart_with(args(offset)).await;
        self.offset = offset;
        self
    }

    /// Creates a run; returns its id and creation.
    async fn open_run(&self, n: usize) -> (String, i64) {
        let body = json!({"commit": format!("c{}", n / 2), "branch": if n % 4 == 3 { "feature" } else { "main" }, "name": "ci"});
        let run = post(&self.app, "/api/v1/projects/eq/runs", &self.token, body).await.expect(StatusCode::CREATED);
        (run["id"].as_str().unwrap().to_string(), unix(run["created_at"].as_str().unwrap()))
    }

    async fn upload(&self, run: &str, cases: &[Case]) {
        let path = format!("/api/v1/projects/eq/runs/{run}/reports");
        let request = api(&self.app, Method::POST, &path, &self.token)
            .header("content-type", "application/xml")
            .body(report(cases));
        send(request).await.expect(StatusCode::CREATED);
    }

    async fn finalize(&self, run: &str) {
        post(&self.app, &format!("/api/v1/projects/eq/runs/{run}/finalize"), &self.token, json!({}))
            .await
            .expect(StatusCode::OK);
    }

    /// A report of every test that runs, and the model's record of it.
    async fn first_report(&mut self, run: &str, created_at: i64) -> Vec<Case> {
        let cases: Vec<Case> = (0..TESTS).filter_map(|i| case(&mut self.rng, i)).collect();
        self.upload(run, &cases).await;
        for (name, status, ms, message) in &cases {
            let stored = Stored { run: run.to_string(), created_at, status, duration_ms: *ms, message: *message };
            self.model.tests.entry(name.clone()).or_default().push(stored);
        }
        cases
    }

    /// A second shard re-running the first five tests, which pass: a failure
    /// becomes flaky, and every duration the new one (domain::report::Merged).
    async fn second_report(&mut self, run: &str, first: &[Case]) {
        let again: Vec<Case> = first
            .iter()
            .filter(|(name, ..)| name.as_str() < "t05")
            .map(|(name, ..)| (name.clone(), "passed", Some(40 + self.rng.below(400)), None))
            .collect();
        self.upload(run, &again).await;
        for (name, _, ms, _) in &again {
            let stored = self.model.tests.get_mut(name).unwrap().iter_mut().rev().find(|s| s.run == run).unwrap();
            stored.status = if matches!(stored.status, "failed" | "error") { "flaky" } else { "passed" };
            stored.message = None;
            stored.duration_ms = ms.or(stored.duration_ms);
        }
    }

    async fn day(&mut self, day: usize) {
        for n in 0..RUNS_PER_DAY {
            let (run, created_at) = self.open_run(day * RUNS_PER_DAY + n).await;
            let first = self.first_report(&run, created_at).await;
            if n % 3 == 0 {
                self.second_report(&run, &first).await;
            }
            self.finalize(&run).await;
        }
    }
}

impl History {
    /// A project `eq` grown over `days` days (the server restarted each day
    /// with its clock moved on), from `seed`.
    async fn grown(days: usize, seed: u64) -> History {
        let app = TestApp::spawn_with(SpawnOptions { args: args(0), ..Default::default() }).await;
        let token = admin_token(&app).await;
        create_project(&app, "eq");
        let mut h = History { app, token, model: Model::default(), rng: Rng(seed), offset: 0 };
        for day in 0..days {
            if day > 0 {
                h = h.restart(day as i64 * DAY).await;
            }
            h.day(day).await;
        }
        h
    }
}

fn nearest_rank(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().clamp(1.0, sorted.len() as f64) as usize;
    sorted[rank - 1]
}

fn assert_near(got: &Value, want: u64, what: &str) {
    let got = got.as_u64().unwrap();
    assert!(got.abs_diff(want) * 128 <= want, "{what}: {got} ms is not within 1/128 of {want} ms");
    if want < 128 {
        assert_eq!(got, want, "{what}: exact under 128 ms");
    }
}

/// Compares every analytics route with the model, for windows of 1, 2 and
/// 30 days ending now.
async fn compare(h: &History, label: &str) {
    let server_now =
        || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + h.offset;
    for days in [1i64, 2, 30] {
        let first_day = (server_now() - days * DAY).div_euclid(DAY);
        let in_window = |s: &&Stored| s.created_at.div_euclid(DAY) >= first_day;
        let what = format!("{label}, {days} day(s)");

        let slowest = get(&h.app, &format!("/api/v1/projects/eq/tests/slowest?days={days}&limit=200"), &h.token)
            .await
            .expect(StatusCode::OK);
        let flaky = get(&h.app, &format!("/api/v1/projects/eq/tests/flaky?days={days}&limit=200"), &h.token)
            .await
            .expect(StatusCode::OK);
        let errors = get(&h.app, &format!("/api/v1/projects/eq/errors?days={days}&limit=200"), &h.token)
            .await
            .expect(StatusCode::OK);
        if (server_now() - days * DAY).div_euclid(DAY) != first_day {
            eprintln!("{what}: a day began during the requests; not compared");
            continue;
        }

        // Slowest: every timed, not skipped result of the window.
        let mut want: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (name, results) in &h.model.tests {
            let mut ms: Vec<u64> = results
                .iter()
                .filter(in_window)
                .filter(|s| s.status != "skipped")
                .filter_map(|s| s.duration_ms)
                .collect();
            ms.sort_unstable();
            if !ms.is_empty() {
                want.insert(name, ms);
            }
        }
        let got: BTreeMap<&str, &Value> =
            slowest["tests"].as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap(), t)).collect();
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}: slowest lists {slowest}");
        for (name, ms) in &want {
            let t = got[name];
            assert_eq!(t["runs"], ms.len(), "{what}: {name}'s timed results");
            assert_near(&t["p50_ms"], nearest_rank(ms, 50.0), &format!("{what}: {name} p50"));
            assert_near(&t["p95_ms"], nearest_rank(ms, 95.0), &format!("{what}: {name} p95"));
        }
        assert_eq!(slowest["window"]["complete"], true);

        // Flaky: each listed test's results and failure rate in the window.
        let listed = flaky["tests"].as_array().unwrap();
        if days >= 2 {
            assert!(!listed.is_empty(), "{what}: the retried tests are flaky: {flaky}");
        }
        for t in listed {
            let name = t["name"].as_str().unwrap();
            let results: Vec<&Stored> = h.model.tests[name].iter().filter(in_window).collect();
            let failing = results.iter().filter(|s| matches!(s.status, "failed" | "error" | "flaky")).count();
            assert_eq!(t["runs"], results.len(), "{what}: {name}'s results");
            let rate = (failing as f64 / results.len() as f64 * 10_000.0).round() / 10_000.0;
            assert_eq!(t["failure_rate"].as_f64(), Some(rate), "{what}: {name}'s failure rate");
            // The signals rolled up by day equal the events kept one by one
            // (read from the database: the events are storage's record).
            for (signal, kind) in [("retry", "retry"), ("same_commit", "same_commit"), ("flips", "flip")] {
                let events = sql_count(
                    &h.app,
                    &format!(
                        "SELECT count(*) FROM flaky_signals s JOIN tests t ON t.id = s.test
                         WHERE t.name = '{name}' AND s.kind = '{kind}' AND s.at >= {}",
                        first_day * DAY
                    ),
                );
                assert_eq!(t["signals"][signal], events, "{what}: {name}'s {signal} events");
            }
        }

        // Errors: per message, its failed and errored results and tests.
        let mut groups: HashMap<&str, (u64, BTreeMap<&str, ()>)> = HashMap::new();
        for (name, results) in &h.model.tests {
            for s in results.iter().filter(in_window).filter(|s| matches!(s.status, "failed" | "error")) {
                let g = groups.entry(s.message.unwrap()).or_default();
                g.0 += 1;
                g.1.insert(name, ());
            }
        }
        let mut want: Vec<(u64, u64)> = groups.values().map(|(n, tests)| (*n, tests.len() as u64)).collect();
        let mut got: Vec<(u64, u64)> = errors["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["failures"].as_u64().unwrap(), g["tests"].as_u64().unwrap()))
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{what}: failure groups {errors}");
    }

    // A common and a rare test's whole history, newest first, in pages.
    for name in ["t03", "t27"] {
        assert_history(h, name, label).await;
    }
}

/// The test's whole history through the API, page by page, equals the model's.
async fn assert_history(h: &History, name: &str, label: &str) {
    let mut want: Vec<&Stored> = h.model.tests[name].iter().collect();
    want.sort_by(|a, b| (b.created_at, &b.run).cmp(&(a.created_at, &a.run)));
    let id = sql_hex_id(h, name);
    let mut got = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = get(&h.app, &format!("/api/v1/projects/eq/tests/{id}?limit=4{after}"), &h.token)
            .await
            .expect(StatusCode::OK);
        got.extend(page["history"].as_array().unwrap().iter().map(|e| {
            (
                e["run_id"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
                e["duration_ms"].as_u64(),
            )
        }));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let want: Vec<(String, String, Option<u64>)> =
        want.iter().map(|s| (s.run.clone(), s.status.to_string(), s.duration_ms)).collect();
    assert_eq!(got, want, "{label}: {name}'s history");
}

/// A test's public id, read from the database (the API lists tests by
/// window, and a history may be older than any window).
fn sql_hex_id(h: &History, name: &str) -> String {
    let conn = rusqlite::Connection::open(h.app.data_dir.join("proctor.db")).unwrap();
    conn.query_row("SELECT lower(hex(test_id)) FROM tests WHERE name = ?1", [name], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn analytics_from_rollups_equal_a_full_scan_before_and_after_folding() {
    let mut h = History::grown(4, 0x5eed_1414).await;
    // A run of day 3 gets its second shard on day 4, after day 3 was folded
    // and after day 4 was: its merge takes back a folded result.
    let (late, late_at) = h.open_run(99).await;
    let first = h.first_report(&late, late_at).await;
    h = h.restart(4 * DAY).await;
    h.day(4).await;
    h = h.restart(4 * DAY + 60).await;
    poll(std::time::Duration::from_secs(10), "day 4 folded", || async {
        (sql_count(&h.app, "SELECT count(*) FROM rollup_digests") == 0).then_some(())
    })
    .await;
    h.second_report(&late, &first).await;
    h.finalize(&late).await;
    h.day(5).await;
    assert!(sql_count(&h.app, "SELECT count(*) FROM rollup_digests") > 0, "digests wait to be folded");
    compare(&h, "digests waiting").await;

    let h = h.restart(4 * DAY + 120).await;
    poll(std::time::Duration::from_secs(10), "every digest folded", || async {
        (sql_count(&h.app, "SELECT count(*) FROM rollup_digests") == 0).then_some(())
    })
    .await;
    assert!(sql_count(&h.app, "SELECT count(*) FROM test_days WHERE day > (SELECT min(day) FROM test_days)") > 0);
    compare(&h, "folded").await;
}

/// The analytics answers a backfill must leave unchanged.
async fn answers(h: &History) -> Vec<Value> {
    let mut out = Vec::new();
    for path in ["tests/slowest?days=30&limit=200", "tests/flaky?days=30&limit=200", "errors?days=30&limit=200"] {
        out.push(get(&h.app, &format!("/api/v1/projects/eq/{path}"), &h.token).await.expect(StatusCode::OK));
    }
    out
}

#[tokio::test]
async fn results_stored_before_rollups_are_backfilled_at_start_resuming_where_it_stopped() {
    let mut h = History::grown(2, 0x0bac_f111).await;
    let before = answers(&h).await;

    // As a database of version 18 would be after migrating: no rollups, and
    // every run left to digest, the first two already done by a backfill
    // that was interrupted.
    h.app.terminate();
    let conn = rusqlite::Connection::open(h.app.data_dir.join("proctor.db")).unwrap();
    let seqs: Vec<i64> = conn
        .prepare("SELECT seq FROM runs ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    conn.execute_batch(
        "DELETE FROM test_days; DELETE FROM test_totals; DELETE FROM failure_days; DELETE FROM rollup_digests;",
    )
    .unwrap();
    assert!(seqs.len() >= 12);
    // What the interrupted backfill queued for the first two runs is in the
    // digests it committed; here they are lost with the rest, so the
    // marker starts at the first run (a resumed backfill never digests a
    // run twice: the marker moves in the transaction that queues).
    conn.execute(
        "INSERT INTO rollup_backfill (id, next_seq, last_seq) VALUES (1, ?1, ?2)",
        [seqs[0], seqs[seqs.len() - 1]],
    )
    .unwrap();
    drop(conn);
    let h = h.restart(DAY + 60).await;
    assert_eq!(sql_count(&h.app, "SELECT count(*) FROM rollup_backfill"), 0, "the backfill finished");
    assert!(h.app.log().contains("rollups: digested"), "progress is logged: {}", h.app.log());
    poll(std::time::Duration::from_secs(10), "the backfill folded", || async {
        (sql_count(&h.app, "SELECT count(*) FROM rollup_digests") == 0).then_some(())
    })
    .await;
    assert_eq!(answers(&h).await, before);
}

/// Each test's timed results by name, from the slowest list of `days`.
async fn timed_results(h: &History, days: u32) -> BTreeMap<String, u64> {
    let body = get(&h.app, &format!("/api/v1/projects/eq/tests/slowest?days={days}&limit=200"), &h.token)
        .await
        .expect(StatusCode::OK);
    let tests = body["tests"].as_array().unwrap().iter();
    tests.map(|t| (t["name"].as_str().unwrap().to_string(), t["runs"].as_u64().unwrap())).collect()
}

#[tokio::test]
async fn rollups_outlive_the_runs_retention_deletes_and_windows_stop_at_their_own_horizon() {
    let mut h = History::grown(3, 0x0de1_e7ed).await;
    let first_day = sql_count(&h.app, "SELECT min(day) FROM test_days");
    // What the runs of the third day hold, by test.
    let mut third: BTreeMap<String, u64> = BTreeMap::new();
    for (name, results) in &h.model.tests {
        let n = results
            .iter()
            .filter(|s| s.created_at.div_euclid(DAY) == first_day + 2)
            .filter(|s| s.status != "skipped" && s.duration_ms.is_some())
            .count() as u64;
        if n > 0 {
            third.insert(name.clone(), n);
        }
    }

    // Nine days on, runs are kept two days and rollups seven, which reach
    // back to the third day: every run is deleted; of the rollups before
    // the third day only each test's newest totals stay (the second day's,
    // which windows subtract).
    let mut args = args(9 * DAY);
    args.extend(["--retention-days".into(), "2".into(), "--rollup-retention-days".into(), "7".into()]);
    h.app = h.app.restart_with(args).await;
    h.offset = 9 * DAY;
    poll(std::time::Duration::from_secs(10), "runs and old rollups deleted", || async {
        let runs = sql_count(&h.app, "SELECT count(*) FROM runs");
        let old = sql_count(&h.app, &format!("SELECT count(*) FROM test_days WHERE day = {first_day}"));
        (runs == 0 && old == 0).then_some(())
    })
    .await;
    assert!(sql_count(&h.app, &format!("SELECT count(*) FROM test_days WHERE day = {}", first_day + 1)) > 0);
    // Windows from the horizon on count the deleted runs' results; longer
    // ones stop at the horizon; shorter ones see nothing.
    assert_eq!(timed_results(&h, 7).await, third);
    assert_eq!(timed_results(&h, 30).await, third);
    assert_eq!(timed_results(&h, 5).await, BTreeMap::new());
    let errors = get(&h.app, "/api/v1/projects/eq/errors?days=30", &h.token).await.expect(StatusCode::OK);
    let failures: u64 = errors["errors"].as_array().unwrap().iter().map(|g| g["failures"].as_u64().unwrap()).sum();
    let want = h.model.tests.values().flatten();
    let want = want.filter(|s| s.created_at.div_euclid(DAY) == first_day + 2 && matches!(s.status, "failed" | "error"));
    assert_eq!(failures, want.count() as u64, "failure groups from the horizon on");
}

#[tokio::test]
async fn a_history_reaches_runs_kept_longer_than_the_rollups() {
    let mut h = History::grown(3, 0x0001_0b57).await;
    let first_day = sql_count(&h.app, "SELECT min(day) FROM test_days");
    let mut args = args(9 * DAY);
    args.extend(["--rollup-retention-days".into(), "7".into()]);
    h.app = h.app.restart_with(args).await;
    h.offset = 9 * DAY;
    poll(std::time::Duration::from_secs(10), "the first day's rollups pruned", || async {
        (sql_count(&h.app, &format!("SELECT count(*) FROM test_days WHERE day = {first_day}")) == 0).then_some(())
    })
    .await;
    for name in ["t03", "t27"] {
        assert_history(&h, name, "rollups pruned, runs kept").await;
    }
}
