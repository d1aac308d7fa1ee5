//! Bodies received as a stream (`proctor::spool`): a body cut off half-way,
//! a gzip body that crosses the cap once decompressed, a duplicate found
//! only at the end, the memory budget's 503 that `proctor upload` waits
//! out, a slow upload that never holds the database writer, a spool that
//! cannot be written, attachments received the same way, and what a killed
//! server was receiving removed at its next start.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{counts, gzip, junit_report, report_rows, upload_to, Ingest, CI_PERMISSIONS};
use crate::api_helpers::*;
use crate::helpers::*;

/// An upload written by hand on its own connection: the head and part of
/// the body now, the rest (or nothing: a cut) later.
struct Partial {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl Partial {
    /// Sends `POST path` with `Content-Length` of the whole `body` and its
    /// first `sent` bytes.
    fn start(app: &TestApp, token: &str, path: &str, content_type: &str, body: &[u8], sent: usize) -> Partial {
        let addr = app.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..sent]).unwrap();
        Partial { stream, rest: body[sent..].to_vec() }
    }

    /// The answer given without the rest of the body: its status and body.
    fn answer_now(mut self) -> (u16, String) {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && self.stream.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).unwrap();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Sends the rest of the body; the answer's status and body.
    fn finish(mut self) -> (u16, String) {
        self.stream.write_all(&self.rest).unwrap();
        let mut answer = Vec::new();
        self.stream.read_to_end(&mut answer).unwrap();
        status_and_body(&answer)
    }
}

/// Sends `body` in chunks of `size` (`Transfer-Encoding: chunked`, no
/// length announced); the answer's status and body.
fn send_chunked(
    app: &TestApp,
    token: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    size: usize,
) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    for chunk in body.chunks(size) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).is_err() {
            break; // answered early; the answer is still there to read
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    status_and_body(&answer)
}

/// An HTTP/1.1 answer read to its end (`Connection: close`): its status
/// (0 when there was none) and its body.
fn status_and_body(answer: &[u8]) -> (u16, String) {
    let answer = String::from_utf8_lossy(answer);
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default())
}

/// Waits (up to 20 s) until `done`.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    poll(Duration::from_secs(20), what, || std::future::ready(done().then_some(()))).await
}

/// Files in `dir` (none when it does not exist).
fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn spool(s: &Ingest) -> std::path::PathBuf {
    s.app.data_dir.join("spool")
}

/// What a refused upload must not have left: results, tests, report rows,
/// rollup digests, spooled bodies.
fn assert_nothing_stored(s: &Ingest) {
    for table in ["results", "tests", "reports", "rollup_digests"] {
        assert_eq!(sql_count(&s.app, &format!("SELECT count(*) FROM {table}")), 0, "rows in {table}");
    }
    assert_eq!(files_in(&spool(s)), 0, "a body left in the spool");
}

#[tokio::test]
async fn the_token_project_permission_and_run_are_answered_before_a_byte_of_the_body() {
    let s = Ingest::start_with(SpawnOptions {
        args: vec!["--max-report-bytes".into(), "1000000".into()],
        ..Default::default()
    })
    .await;
    let run = s.new_run(json!({"name": "open"})).await;
    let closed = s.new_run(json!({"name": "closed"})).await;
    post(&s.app, &format!("/api/v1/projects/web/runs/{closed}/fail"), &s.token, json!({})).await.expect(StatusCode::OK);
    let reader = cli_token(&s.app, ADMIN_EMAIL, "reader", "runs:read,projects:read", &[]);
    let body = vec![b' '; 900_000]; // announced, never sent
    let reports = |run: &str| format!("/api/v1/projects/web/runs/{run}/reports");
    let cases = [
        ("prc_pat_not-a-token", reports(&run), 401, "invalid_token"),
        (s.token.as_str(), "/api/v1/projects/nope/runs/x/reports".to_string(), 404, "project_not_found"),
        (reader.as_str(), reports(&run), 403, "missing_permission"),
        (s.token.as_str(), reports("no-such-run"), 404, "not_found"),
        (s.token.as_str(), reports(&closed), 409, "run_closed"),
    ];
    for (token, path, status, code) in cases {
        let (got, answer) = Partial::start(&s.app, token, &path, "application/xml", &body, 0).answer_now();
        assert_eq!((got, answer.contains(code)), (status, true), "{path}: {answer}");
    }
    let over = vec![b' '; 1_000_001];
    let (got, answer) = Partial::start(&s.app, &s.token, &reports(&run), "application/xml", &over, 0).answer_now();
    assert_eq!(got, 413, "{answer}");
    assert_eq!(files_in(&spool(&s)), 0, "none of them was received");
    assert_nothing_stored(&s);
}

#[tokio::test]
async fn a_body_cut_off_half_way_stores_nothing() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({"name": "cut"})).await;
    let body = junit_report("cut", 3000);
    let path = format!("/api/v1/projects/web/runs/{run}/reports");
    let partial = Partial::start(&s.app, &s.token, &path, "application/xml", body.as_bytes(), body.len() / 2);
    // The first half is on disk, not in memory, while the rest is awaited.
    let spooled = || {
        let files = std::fs::read_dir(spool(&s)).into_iter().flatten().flatten();
        files.filter_map(|f| f.metadata().ok()).any(|m| m.len() > 0)
    };
    wait_until("the body's first half spooled", spooled).await;
    drop(partial); // the client dies
    wait_until("the spool emptied", || files_in(&spool(&s)) == 0).await;
    assert_nothing_stored(&s);
    assert_eq!(counts(&s.run(&run).await), [0; 6]);
    // Sent whole, the same bytes are a new report, not a duplicate of anything.
    let stored = s.upload_xml(&run, body).await.expect(StatusCode::CREATED);
    assert_eq!(counts(&stored), [3000, 2700, 300, 0, 0, 0]);
}

#[tokio::test]
async fn a_spool_that_cannot_be_written_answers_500_and_stores_nothing() {
    // A budget of one body: the failed one must give its share back.
    let s =
        Ingest::start_with(SpawnOptions { args: vec!["--ingest-memory-mib".into(), "1".into()], ..Default::default() })
            .await;
    let run = s.new_run(json!({"name": "disk"})).await;
    // Where the spool's directory should be, a file: creating the body's
    // temporary file fails as on a full or read-only disk.
    std::fs::write(spool(&s), "in the way").unwrap();
    let body = junit_report("disk", 3000);
    s.upload_xml(&run, body.clone()).await.expect_code(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    for table in ["results", "tests", "reports"] {
        assert_eq!(sql_count(&s.app, &format!("SELECT count(*) FROM {table}")), 0, "rows in {table}");
    }
    std::fs::remove_file(spool(&s)).unwrap();
    let stored = s.upload_xml(&run, body).await.expect(StatusCode::CREATED);
    assert_eq!(counts(&stored), [3000, 2700, 300, 0, 0, 0], "the budget's share was given back");
}

#[tokio::test]
async fn a_gzip_body_crossing_the_cap_once_decompressed_is_refused_and_stores_nothing() {
    let cap = 200_000;
    let s = Ingest::start_with(SpawnOptions {
        args: vec!["--max-report-bytes".into(), cap.to_string()],
        ..Default::default()
    })
    .await;
    let run = s.new_run(json!({"name": "gz"})).await;
    // Well-formed all the way: a few thousand cases (batches of them
    // written) before the decompressed bytes cross the cap, midway.
    let body = junit_report("gz", 12_000);
    assert!(body.len() > 3 * cap, "{} bytes", body.len());
    let zipped = gzip(body.as_bytes());
    assert!(zipped.len() < cap / 4, "{} bytes gzipped", zipped.len());
    let path = format!("/api/v1/projects/web/runs/{run}/reports");
    let headers = [("Content-Type", "application/xml"), ("Content-Encoding", "gzip")];
    let (status, answer) = send_chunked(&s.app, &s.token, &path, &headers, &zipped, 4096);
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("payload_too_large") && answer.contains(&cap.to_string()), "{answer}");
    assert_nothing_stored(&s);
    assert_eq!(counts(&s.run(&run).await), [0; 6]);
}

#[tokio::test]
async fn a_duplicate_is_known_at_the_end_of_the_stream_and_counted_once() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({"name": "dup"})).await;
    let body = junit_report("dup", 3000);
    let first = s.upload_xml(&run, body.clone()).await.expect(StatusCode::CREATED);
    let digests = sql_count(&s.app, "SELECT count(*) FROM rollup_digests");
    // The same bytes, gzipped and in small chunks: only the hash at the
    // end tells, after every case was parsed and written under a savepoint.
    let path = format!("/api/v1/projects/web/runs/{run}/reports");
    let headers = [("Content-Type", "application/xml"), ("Content-Encoding", "gzip")];
    let (status, answer) = send_chunked(&s.app, &s.token, &path, &headers, &gzip(body.as_bytes()), 1000);
    assert_eq!(status, 200, "{answer}");
    let again: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!((&again["duplicate"], &again["id"]), (&json!(true), &first["id"]));
    assert_eq!(counts(&again), counts(&first));
    assert_eq!(counts(&s.run(&run).await), [3000, 2700, 300, 0, 0, 0], "counted once");
    assert_eq!(report_rows(&s.app, &run), 1);
    assert_eq!(sql_count(&s.app, "SELECT count(*) FROM rollup_digests"), digests, "the digests rolled back");
    assert_eq!(files_in(&spool(&s)), 0);

    // One byte more at the very end is another report: its own counts (its
    // distinct tests, kept while reading into a run that has results), the
    // run's unchanged (the same tests, merged).
    let (status, answer) = send_chunked(&s.app, &s.token, &path, &headers, &gzip(format!("{body}\n").as_bytes()), 1000);
    assert_eq!(status, 201, "{answer}");
    let other: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!((&other["duplicate"], counts(&other)), (&json!(false), [3000, 2700, 300, 0, 0, 0]));
    assert_ne!(other["id"], first["id"]);
    assert_eq!(counts(&s.run(&run).await), [3000, 2700, 300, 0, 0, 0]);
}

#[tokio::test]
async fn uploads_beyond_the_memory_budget_are_answered_503_and_proctor_upload_waits_them_out() {
    let s =
        Ingest::start_with(SpawnOptions { args: vec!["--ingest-memory-mib".into(), "1".into()], ..Default::default() })
            .await;
    let run = s.new_run(json!({"name": "slow"})).await;
    let body = junit_report("slow", 2000);
    let path = format!("/api/v1/projects/web/runs/{run}/reports");
    // A slow client holds the whole budget (one body) half-way through.
    let slow = Partial::start(&s.app, &s.token, &path, "application/xml", body.as_bytes(), 1000);
    wait_until("the slow body spooling", || files_in(&spool(&s)) == 1).await;

    let other = s.new_run(json!({"name": "other"})).await; // the writer is free meanwhile
    let busy = s.upload_xml(&other, junit_report("other", 10)).await;
    let message = busy.expect_code(StatusCode::SERVICE_UNAVAILABLE, "server_busy");
    assert!(message.contains("--ingest-memory-mib") && message.contains("2 seconds"), "{message}");
    assert_eq!(busy.header("retry-after").as_deref(), Some("2"));
    let one_call = upload_to(
        &s.app,
        &s.token,
        "/api/v1/projects/web/results?name=x",
        b"<x/>".to_vec(),
        &[("content-type", "application/xml")],
    );
    one_call.await.expect_code(StatusCode::SERVICE_UNAVAILABLE, "server_busy");
    assert_eq!(s.runs().await.len(), 2, "the refused one-call upload created no run");

    // `proctor upload` is told the same, and tries again after Retry-After.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    std::fs::write(&file, junit_report("cli", 50)).unwrap();
    let cli = Command::new(binary())
        .args(["upload", "--project", "web", "--name", "cli", file.to_str().unwrap()])
        .env("PROCTOR_URL", &s.app.base)
        .env("PROCTOR_TOKEN", &s.token)
        .env("PROCTOR_UPLOAD_RETRY_BASE_MS", "5")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .env_remove("JENKINS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run proctor upload");
    let refusals = |log: &str| log.lines().filter(|l| l.contains("/reports HTTP/1.1\" 503")).count();
    wait_until("proctor upload refused once", || refusals(&s.app.log()) >= 2).await;

    // The slow client finishes: its report is stored whole, and the budget is free again.
    let (status, answer) = tokio::task::spawn_blocking(move || slow.finish()).await.unwrap();
    assert_eq!(status, 201, "{answer}");
    assert_eq!(counts(&s.run(&run).await), [2000, 1800, 200, 0, 0, 0]);
    let out = tokio::task::spawn_blocking(move || cli.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("server_busy") || stderr.contains("--ingest-memory-mib"), "{stderr}");
    assert!(stderr.contains("retrying in 2"), "waited Retry-After: {stderr}");
    let cli_run = String::from_utf8_lossy(&out.stdout).trim().rsplit('/').next().unwrap().to_string();
    assert_eq!(counts(&s.run(&cli_run).await), [50, 45, 5, 0, 0, 0]);
    assert_eq!(files_in(&spool(&s)), 0);
}

#[tokio::test]
async fn attachments_are_received_into_the_spool_hashed_and_capped() {
    let s = Ingest::start_with(SpawnOptions {
        args: vec!["--max-report-bytes".into(), "100000".into()],
        ..Default::default()
    })
    .await;
    let token = cli_token(&s.app, ADMIN_EMAIL, "artifacts", &format!("{CI_PERMISSIONS},artifacts:write"), &[]);
    let run = s.new_run(json!({"name": "files"})).await;
    let path = format!("/api/v1/projects/web/runs/{run}/attachments?filename=build.log");
    let incoming = s.app.data_dir.join("attachments").join(".incoming");
    let log: Vec<u8> = (0..90_000u32).map(|i| b'a' + (i % 26) as u8).collect();

    let (status, answer) = send_chunked(&s.app, &token, &path, &[("Content-Type", "text/plain")], &log, 7000);
    assert_eq!(status, 201, "{answer}");
    let stored: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let id = stored["id"].as_str().unwrap();
    assert_eq!(stored["bytes"], 90_000);
    let hex: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&log).iter().map(|b| format!("{b:02x}")).collect()
    };
    let sql = format!("SELECT count(*) FROM attachments WHERE id = '{id}' AND lower(hex(sha256)) = '{hex}'");
    assert_eq!(sql_count(&s.app, &sql), 1, "the hash of what arrived");
    let download =
        api(&s.app, Method::GET, &format!("/api/v1/projects/web/attachments/{id}"), &token).send().await.unwrap();
    assert_eq!(download.bytes().await.unwrap().as_ref(), &log[..]);

    // Over the cap, with no length announced: refused while arriving.
    let (status, answer) =
        send_chunked(&s.app, &token, &path, &[("Content-Type", "text/plain")], &[b'x'; 150_000], 7000);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(sql_count(&s.app, "SELECT count(*) FROM attachments"), 1);
    assert_eq!(files_in(&incoming), 0, "nothing left in the attachments' spool");
    assert_eq!(files_in(&s.app.data_dir.join("attachments").join(&run)), 1);
}

#[tokio::test]
async fn bodies_a_killed_server_was_receiving_are_removed_at_the_next_start() {
    let mut s = Ingest::start().await;
    let run = s.new_run(json!({"name": "killed"})).await;
    let body = junit_report("killed", 2000);
    let path = format!("/api/v1/projects/web/runs/{run}/reports");
    let _client = Partial::start(&s.app, &s.token, &path, "application/xml", body.as_bytes(), 1000);
    wait_until("the body spooling", || files_in(&spool(&s)) == 1).await;
    s.app.kill9();
    assert_eq!(files_in(&spool(&s)), 1, "left behind by the kill");
    let options = SpawnOptions { data_dir: Some(s.app.data_dir.clone()), ..Default::default() };
    let app = TestApp::spawn_with(options).await;
    assert_eq!(files_in(&app.data_dir.join("spool")), 0);
    assert!(app.log().contains("removed 1 unfinished uploads"), "{}", app.log());
    assert_eq!(report_rows(&app, &run), 0);
}
