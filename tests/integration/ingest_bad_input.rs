//! Hostile and broken uploads: each is refused with a 4xx in well under a
//! second and leaves nothing behind (API.md section 3: "A report is stored
//! whole or not at all").

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::api_helpers::*;
use crate::helpers::*;
use crate::ingest::*;

/// The server's limit in these tests: 1 MiB after decompression.
const LIMIT: usize = 1 << 20;

fn billion_laughs() -> String {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    xml.push_str(" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..=9 {
        let prev = format!("&lol{};", i - 1);
        xml.push_str(&format!(" <!ENTITY lol{i} \"{}\">\n", prev.repeat(10)));
    }
    xml.push_str("]>\n<testsuite name=\"&lol9;\"><testcase name=\"&lol9;\"/></testsuite>\n");
    xml
}

/// 50 MB of `0` characters in a testcase's output, gzipped to a few tens of KB.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(b"<testsuite name=\"bomb\"><testcase name=\"t\"><system-out>").unwrap();
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..50 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.write_all(b"</system-out></testcase></testsuite>").unwrap();
    encoder.finish().unwrap()
}

/// A valid report just over the limit.
fn oversize() -> Vec<u8> {
    let mut xml = String::from("<testsuite name=\"big\">");
    let mut i = 0;
    while xml.len() <= LIMIT + 1024 {
        xml.push_str(&format!("<testcase classname=\"big.C\" name=\"test number {i} with a long name\"/>"));
        i += 1;
    }
    xml.push_str("</testsuite>");
    xml.into_bytes()
}

struct Case {
    what: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, &'static str)>,
    status: StatusCode,
    code: &'static str,
    /// A part of the message.
    says: &'static str,
}

fn case(
    what: &'static str,
    body: impl Into<Vec<u8>>,
    headers: &[(&'static str, &'static str)],
    status: StatusCode,
    code: &'static str,
    says: &'static str,
) -> Case {
    Case { what, body: body.into(), headers: headers.to_vec(), status, code, says }
}

const XML: &[(&str, &str)] = &[("content-type", "application/xml")];
const JSON: &[(&str, &str)] = &[("content-type", "application/json")];
const GZIP_XML: &[(&str, &str)] = &[("content-type", "application/xml"), ("content-encoding", "gzip")];

fn cases() -> Vec<Case> {
    use StatusCode as S;
    let good = junit_report("good", 20);
    let mut invalid_utf8 = b"<testsuite name=\"s\"><testcase name=\"caf".to_vec();
    invalid_utf8.extend_from_slice(b"\xe9\xff\"/></testsuite>");
    vec![
        case("malformed XML", "<testsuite>\n<testcase name=\"a\"></testcas>\n</testsuite>", XML, S::BAD_REQUEST, "invalid_report", "line 2, column"),
        case("truncated mid-tag", &good.as_bytes()[..good.len() / 2], XML, S::BAD_REQUEST, "invalid_report", "line 13, column"),
        case("truncated", &good.as_bytes()[..good.rfind("</testsuite>").unwrap()], XML, S::BAD_REQUEST, "invalid_report", "<testsuite> is not closed"),
        case("billion laughs", billion_laughs(), XML, S::BAD_REQUEST, "invalid_report", "DOCTYPE"),
        case(
            "external entity",
            "<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<testsuite name=\"&xxe;\"><testcase name=\"&xxe;\"/></testsuite>",
            XML,
            S::BAD_REQUEST,
            "invalid_report",
            "DOCTYPE",
        ),
        case("undeclared entity", "<testsuite><testcase name=\"&xxe;\"/></testsuite>", XML, S::BAD_REQUEST, "invalid_report", "line 1"),
        case("gzip bomb", gzip_bomb(), GZIP_XML, S::PAYLOAD_TOO_LARGE, "payload_too_large", "1048576"),
        case("oversize plain body", oversize(), XML, S::PAYLOAD_TOO_LARGE, "payload_too_large", "1048576"),
        case("not gzip at all", good.clone(), GZIP_XML, S::BAD_REQUEST, "invalid_report", "gzip"),
        case("truncated gzip", gzip(good.as_bytes())[..200].to_vec(), GZIP_XML, S::BAD_REQUEST, "invalid_report", ""),
        case("invalid UTF-8", invalid_utf8, XML, S::BAD_REQUEST, "invalid_report", "UTF-8"),
        case("UTF-16", b"\xff\xfe<\0t\0>\0".to_vec(), XML, S::BAD_REQUEST, "invalid_report", "UTF-16"),
        case("text/plain", good.clone(), &[("content-type", "text/plain")], S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "text/plain"),
        case("no content type", good.clone(), &[], S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Content-Type"),
        case("multipart", good.clone(), &[("content-type", "multipart/form-data; boundary=x")], S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", ""),
        case(
            "brotli",
            good.clone(),
            &[("content-type", "application/xml"), ("content-encoding", "br")],
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "br",
        ),
        case("empty body", "", XML, S::BAD_REQUEST, "invalid_report", "empty"),
        case("empty gzip", gzip(b""), GZIP_XML, S::BAD_REQUEST, "invalid_report", ""),
        case("whitespace only", "  \n ", XML, S::BAD_REQUEST, "invalid_report", "not a JUnit report"),
        case("HTML", "<!doctype html><html><body>502 Bad Gateway</body></html>", XML, S::BAD_REQUEST, "invalid_report", ""),
        case("JSON sent as XML", "{\"results\": {\"tests\": []}}", XML, S::BAD_REQUEST, "invalid_report", "not a JUnit report"),
        case("XML sent as JSON", good.clone(), JSON, S::BAD_REQUEST, "invalid_report", "line 1"),
        case("CTRF: tests is an object", "{\"results\": {\"tests\": {\"name\": \"x\"}}}", JSON, S::BAD_REQUEST, "invalid_report", ""),
        case("CTRF: no results", "{\"tests\": []}", JSON, S::BAD_REQUEST, "invalid_report", "results"),
        case("CTRF: a number as name", "{\"results\": {\"tests\": [{\"name\": 5, \"status\": \"passed\"}]}}", JSON, S::BAD_REQUEST, "invalid_report", "line 1"),
        case("CTRF: an array", "[1, 2, 3]", JSON, S::BAD_REQUEST, "invalid_report", ""),
        case("CTRF: truncated", "{\"results\": {\"tests\": [{\"name\": \"a\", \"status\": \"passed\"}", JSON, S::BAD_REQUEST, "invalid_report", "line 1"),
    ]
}

/// The run's listed results, the report rows of the whole database, and the run's counts.
async fn stored(s: &Ingest, run: &str) -> (usize, i64, [i64; 6]) {
    (
        s.tests(run).await.len(),
        // Storage itself: a refused upload leaves no report row, which no interface would show.
        sql_count(&s.app, "SELECT count(*) FROM reports"),
        counts(&s.run(run).await),
    )
}

#[tokio::test]
async fn bad_uploads_are_refused_fast_and_leave_nothing_behind() {
    let s = Ingest::start_with(SpawnOptions {
        args: vec!["--max-report-bytes".into(), LIMIT.to_string()],
        ..Default::default()
    })
    .await;
    let run = s.new_run(json!({"build_id": "1", "name": "bad"})).await;
    let nothing = (0, 0, [0; 6]);
    for c in cases() {
        let started = Instant::now();
        let resp = s.upload(&run, c.body, &c.headers).await;
        let took = started.elapsed();
        assert_eq!(resp.status, c.status, "{}: {}", c.what, resp.text);
        let message = resp.expect_code(c.status, c.code);
        assert!(message.contains(c.says), "{}: {message}", c.what);
        assert!(took < Duration::from_secs(1), "{}: took {took:?}", c.what);
        assert_eq!(stored(&s, &run).await, nothing, "{}: nothing is stored", c.what);
    }
    // The run is unharmed: a good report still goes in whole.
    let good = s.upload_xml(&run, junit_report("good", 20)).await.expect(StatusCode::CREATED);
    assert_eq!(counts(&good), [20, 18, 2, 0, 0, 0]);
    assert_eq!(stored(&s, &run).await, (20, 1, [20, 18, 2, 0, 0, 0]));
    // The same cap applies to the one-call route, before a run is created.
    let runs = s.runs().await.len();
    let path = "/api/v1/projects/web/results?build_id=2";
    let resp = upload_to(&s.app, &s.token, path, gzip_bomb(), GZIP_XML).await;
    resp.expect_code(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let resp = upload_to(&s.app, &s.token, path, billion_laughs().into_bytes(), XML).await;
    resp.expect_code(StatusCode::BAD_REQUEST, "invalid_report");
    assert_eq!(s.runs().await.len(), runs);
    assert!(!s.app.log().contains("root:x:0:0"), "no file was read");
}

#[tokio::test]
async fn a_report_that_fails_half_way_stores_none_of_its_tests() {
    let s = Ingest::start().await;
    let run = s.new_run(json!({})).await;
    // 500 good tests, then a broken tag: the first 500 must not stay.
    let good = junit_report("half", 1000);
    let cut = good.find("half-500").unwrap();
    let broken = format!("{}<testcase name=\"x\"></wrong>", &good[..cut - 40]);
    let message = s.upload_xml(&run, broken).await.expect_code(StatusCode::BAD_REQUEST, "invalid_report");
    assert!(message.contains("line"), "{message}");
    assert!(s.tests(&run).await.is_empty(), "none of its results");
    assert_eq!(report_rows(&s.app, &run), 0, "no report row");
    // Storage itself: a test identity without results shows nowhere, yet must not be left behind.
    assert_eq!(sql_count(&s.app, "SELECT count(*) FROM tests"), 0, "no test identities either");
    assert_eq!(counts(&s.run(&run).await), [0; 6]);
}

#[tokio::test]
async fn wrong_project_run_or_permission_is_refused() {
    let s = Ingest::start().await;
    create_project(&s.app, "other");
    let run = s.new_run(json!({})).await;
    let body = junit_report("p", 3).into_bytes();
    let other_run = {
        let resp = post(&s.app, "/api/v1/projects/other/runs", &s.token, json!({})).await;
        resp.expect(StatusCode::CREATED)["id"].as_str().unwrap().to_string()
    };

    // Unknown project: the uniform 404, for every ingestion route.
    let unknown = format!("/api/v1/projects/nope/runs/{run}/reports");
    let unknown = upload_to(&s.app, &s.token, &unknown, body.clone(), XML).await;
    unknown.expect_error(StatusCode::NOT_FOUND, "project_not_found", "Project not found.");
    for path in ["/api/v1/projects/nope/runs", "/api/v1/projects/nope/results"] {
        let resp = upload_to(&s.app, &s.token, path, body.clone(), XML).await;
        resp.expect_error(StatusCode::NOT_FOUND, "project_not_found", "Project not found.");
    }
    // A run of another project is not found through this one.
    let resp = s.upload_xml(&other_run, body.clone()).await;
    resp.expect_code(StatusCode::NOT_FOUND, "not_found");
    let finalize = post(&s.app, &format!("/api/v1/projects/web/runs/{other_run}/finalize"), &s.token, json!({})).await;
    finalize.expect_code(StatusCode::NOT_FOUND, "not_found");
    // A made-up run id.
    s.upload_xml("not-a-run", body.clone()).await.expect_code(StatusCode::NOT_FOUND, "not_found");

    // A token that may only read.
    let reader = cli_token(&s.app, ADMIN_EMAIL, "reader", "runs:read,projects:read", &[]);
    let path = format!("/api/v1/projects/web/runs/{run}/reports");
    upload_to(&s.app, &reader, &path, body.clone(), XML).await.expect_403("runs:write");
    post(&s.app, "/api/v1/projects/web/runs", &reader, json!({})).await.expect_403("runs:write");
    let finalize = post(&s.app, &format!("/api/v1/projects/web/runs/{run}/finalize"), &reader, json!({})).await;
    finalize.expect_403("runs:write");
    upload_to(&s.app, &reader, "/api/v1/projects/web/results", body.clone(), XML).await.expect_403("runs:write");
    // A project key of `other` cannot see `web`.
    let key = cli_key(&s.app, "other", "runs:write");
    upload_to(&s.app, &key, &path, body.clone(), XML).await.expect_error(
        StatusCode::NOT_FOUND,
        "project_not_found",
        "Project not found.",
    );
    // No token at all.
    let anonymous =
        send(client().post(s.app.url(&path)).header("content-type", "application/xml").body(body.clone())).await;
    anonymous.expect_error(StatusCode::UNAUTHORIZED, "credentials_required", "API key required");

    assert_eq!(counts(&s.run(&run).await), [0; 6]);
    assert_eq!(counts(&run_json(&s.app, &s.token, "other", &other_run).await), [0; 6]);
    // No refused call left a run or a report: no new runs, and the same bytes
    // sent properly now are a new report (a stored one would be a duplicate).
    assert_eq!(s.runs().await.len(), 1);
    let other_runs = get(&s.app, "/api/v1/projects/other/runs", &s.token).await.expect(StatusCode::OK);
    assert_eq!(other_runs["runs"].as_array().map(Vec::len), Some(1), "{other_runs}");
    assert_eq!(s.upload_xml(&run, body.clone()).await.expect(StatusCode::CREATED)["duplicate"], false);
    let other_path = format!("/api/v1/projects/other/runs/{other_run}/reports");
    let other_report = upload_to(&s.app, &s.token, &other_path, body, XML).await.expect(StatusCode::CREATED);
    assert_eq!(other_report["duplicate"], false);
}

/// A chunked body announces no length: the cap is enforced while reading,
/// whether or not the client waits for the answer before sending the rest.
#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused_while_reading() {
    use std::io::{Read, Write};

    let s = Ingest::start_with(SpawnOptions {
        args: vec!["--max-report-bytes".into(), LIMIT.to_string()],
        ..Default::default()
    })
    .await;
    let run = s.new_run(json!({"name": "chunked"})).await;
    let addr = s.app.base.trim_start_matches("http://").to_string();
    let (path, token) = (format!("/api/v1/projects/web/runs/{run}/reports"), s.token.clone());
    let status_line = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/xml\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b' '; 64 * 1024];
        // Twice the cap in 64 KiB chunks; the server may close early.
        for _ in 0..(2 * LIMIT / chunk.len() + 1) {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if stream.write_all(&framed).is_err() {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
    })
    .await
    .unwrap();
    assert!(status_line.starts_with("HTTP/1.1 413"), "got {status_line:?}");
    assert_eq!(stored(&s, &run).await, (0, 0, [0; 6]));
}
