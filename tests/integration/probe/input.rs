//! Input that is not what it claims: a body that stalls gets 408 after the
//! idle timeout, a query string that is not UTF-8 gets 400 naming the
//! parameter, a raw NUL in JUnit XML gets 400 with its position, a JSON
//! body that is not an object gets 400, an
//! oversized raw form gets the HTML error page, and `x-gzip` is gzip.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api_helpers::*;
use crate::helpers::*;
use crate::ingest::{gzip, junit_report, Ingest};

/// Sends `head` and `body` on a raw connection, then waits (up to `within`)
/// for the server to answer and close; returns the response text.
async fn stalled_request(app: &TestApp, head: &str, body: &[u8], within: Duration) -> String {
    let address = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut response))
        .await
        .expect("the server kept a stalled body's connection open")
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_after_the_idle_timeout() {
    let ingest = Ingest::start_with(SpawnOptions {
        args: vec!["--body-timeout-seconds".into(), "1".into()],
        ..Default::default()
    })
    .await;
    let run = ingest.new_run(serde_json::json!({"name": "ci"})).await;
    let path = format!("/api/v1/projects/web/runs/{run}/reports");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/xml\r\n\
         Content-Length: 100000\r\n\r\n",
        ingest.token
    );
    let started = Instant::now();
    let response = stalled_request(&ingest.app, &head, &[b'<'; 60], Duration::from_secs(20)).await;
    let waited = started.elapsed();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains(r#""error":"request_timeout""#), "{response}");
    assert!(response.contains("nothing arrived for 1 seconds"), "{response}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(15), "{waited:?}");
    // Nothing of it was stored; the run takes the real report afterwards.
    assert_eq!(ingest.run(&run).await["tests"], 0);
    ingest.upload_xml(&run, junit_report("t", 3)).await.expect(StatusCode::CREATED);

    // A JSON body and a page's form stall the same way.
    let head = format!(
        "POST /api/v1/projects/web/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 500\r\n\r\n",
        ingest.token
    );
    let response = stalled_request(&ingest.app, &head, b"{\"name\":", Duration::from_secs(20)).await;
    assert!(response.starts_with("HTTP/1.1 408") && response.contains("request_timeout"), "{response}");
    let head = "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 500\r\n\r\n";
    let response = stalled_request(&ingest.app, head, b"email=a", Duration::from_secs(20)).await;
    assert!(response.starts_with("HTTP/1.1 408") && response.contains("<!doctype html>"), "{response}");
}

#[tokio::test]
async fn a_query_parameter_that_is_not_utf8_is_refused_by_name() {
    let ingest = Ingest::start().await;
    let app = &ingest.app;
    let path = "/api/v1/projects/web/results?name=ci&branch=ma%FFin";
    let r = send(
        client()
            .post(app.url(path))
            .bearer_auth(&ingest.token)
            .header("content-type", "application/xml")
            .body(junit_report("t", 1)),
    )
    .await;
    let message = r.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(message.contains("\"branch\"") && message.contains("not UTF-8"), "{message}");
    let runs = get(app, "/api/v1/projects/web/runs", &ingest.token).await.expect(StatusCode::OK);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 0, "nothing stored: {runs}");
    // Pages answer with their HTML error page.
    let page = client().get(app.url("/login?next=%C3%28")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let page = page.text().await.unwrap();
    assert!(page.contains("next") && page.contains("not UTF-8"), "{page}");
    // Escaped UTF-8 is fine.
    let ok = "/api/v1/projects/web/results?name=caf%C3%A9&branch=main";
    let r = send(
        client()
            .post(app.url(ok))
            .bearer_auth(&ingest.token)
            .header("content-type", "application/xml")
            .body(junit_report("t", 1)),
    )
    .await;
    r.expect(StatusCode::CREATED);
}

#[tokio::test]
async fn a_raw_nul_in_junit_xml_is_not_well_formed() {
    let ingest = Ingest::start().await;
    let run = ingest.new_run(serde_json::json!({"name": "ci"})).await;
    let report =
        b"<testsuite name=\"s\">\n  <testcase name=\"a\"><failure>x\0y</failure></testcase>\n</testsuite>".to_vec();
    let message = ingest.upload_xml(&run, report).await.expect_code(StatusCode::BAD_REQUEST, "invalid_report");
    assert_eq!(message, "Invalid report: line 2, column 32: a NUL character (U+0000), which XML does not allow");
    assert_eq!(ingest.run(&run).await["tests"], 0);
}

#[tokio::test]
async fn x_gzip_is_gzip() {
    let ingest = Ingest::start().await;
    let run = ingest.new_run(serde_json::json!({"name": "ci"})).await;
    let body = gzip(junit_report("t", 4).as_bytes());
    let r = ingest.upload(&run, body, &[("content-type", "application/xml"), ("content-encoding", "x-gzip")]).await;
    assert_eq!(r.expect(StatusCode::CREATED)["tests"], 4);
}

#[tokio::test]
async fn an_oversized_raw_form_gets_the_html_error_page() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let csrf = app.csrf(&admin, "/settings/tokens/new").await;
    let padding = "x".repeat(70 * 1024);
    for (path, body) in [
        ("/settings/tokens", format!("csrf_token={csrf}&name=a&permission=runs:read&pad={padding}")),
        ("/settings/admin/roles", format!("csrf_token={csrf}&name=a&permission=runs:read&pad={padding}")),
    ] {
        let response = admin
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/html"), "{path}: {content_type}");
        assert!(response.text().await.unwrap().contains("The form is larger than 64 KiB."), "{path}");
    }
}

#[tokio::test]
async fn an_unknown_api_route_is_the_contracts_404_under_a_project_too() {
    let ingest = Ingest::start().await;
    let app = &ingest.app;
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/nowhere"),
        (reqwest::Method::GET, "/api/v1/projects/web/nowhere"),
        (reqwest::Method::POST, "/api/v1/projects/web/runs/r1/nowhere"),
    ] {
        let r = send(api(app, method.clone(), path, &ingest.token)).await;
        let message = r.expect_code(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(message, "No such API route.", "{method} {path}");
    }
    // A path the API has, with a method it has not: 405 naming the ones it has.
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/api/v1/projects/web", "DELETE, GET, PATCH"),
        (reqwest::Method::PUT, "/api/v1/projects/web/runs", "GET, POST"),
        (reqwest::Method::GET, "/api/v1/tokens/revoke", "POST"),
        (reqwest::Method::DELETE, "/api/v1/projects/web/tests/flaky", "GET"),
    ] {
        let r = send(api(app, method.clone(), path, &ingest.token)).await;
        let message = r.expect_code(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert!(message.contains(allow), "{method} {path}: {message}");
        assert_eq!(r.header("allow").as_deref(), Some(allow), "{method} {path}");
    }
}

#[tokio::test]
async fn a_refused_query_still_gets_the_security_headers_and_a_log_line() {
    let ingest = Ingest::start().await;
    let r = send(api(&ingest.app, reqwest::Method::GET, "/api/v1/projects/web/runs?branch=%FF", &ingest.token)).await;
    r.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert!(r.header("content-security-policy").is_some());
    // The line is written as the response goes out and read from the
    // server's stderr by another thread: wait for it rather than race it.
    let line = "\"GET /api/v1/projects/web/runs?branch=%FF HTTP/1.1\" 400";
    crate::api_helpers::poll(std::time::Duration::from_secs(5), "the request's log line", || async {
        ingest.app.log().contains(line).then_some(())
    })
    .await;
}

/// A JSON body is an object (serde alone would read a struct from an
/// array); where a body is optional, `null` means no fields, like an empty
/// body. An attachment needs bytes.
#[tokio::test]
async fn json_bodies_are_objects_and_null_is_no_body_where_one_is_optional() {
    let ingest = Ingest::start().await;
    let app = &ingest.app;
    let runs = "/api/v1/projects/web/runs";
    for body in [serde_json::json!(["c1", "main"]), serde_json::json!("main"), serde_json::json!(7)] {
        let refused = post(app, runs, &ingest.token, body.clone()).await;
        assert!(refused.expect_code(StatusCode::BAD_REQUEST, "invalid_json").contains("expected an object"), "{body}");
    }
    let run = ingest.create_run(serde_json::Value::Null).await.expect(StatusCode::CREATED);
    assert_eq!((run["status"].as_str(), run["name"].as_str()), (Some("running"), Some("")), "{run}");
    let id = run["id"].as_str().unwrap();
    let failed = post(app, &format!("{runs}/{id}/fail"), &ingest.token, serde_json::Value::Null).await;
    assert_eq!(failed.expect(StatusCode::OK)["status"], "errored");

    let artifacts = cli_token(app, ADMIN_EMAIL, "artifacts", "artifacts:write,runs:read", &[]);
    let empty =
        send(api(app, reqwest::Method::POST, &format!("{runs}/{id}/attachments?filename=a.log"), &artifacts)).await;
    empty.expect_code(StatusCode::BAD_REQUEST, "empty_attachment");
    let listed = get(app, &format!("{runs}/{id}/attachments"), &artifacts).await.expect(StatusCode::OK);
    assert_eq!(listed["attachments"], serde_json::json!([]), "nothing stored");
}
