//! Attachments of runs: upload, list, download with safe headers, delete;
//! the size cap, bad file names, permissions, another project's attachment,
//! and files removed with their project.

use reqwest::{Method, StatusCode};

use super::{id, Reader};
use crate::api_helpers::*;
use crate::helpers::*;

async fn attach(r: &Reader, run: &str, query: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
    let path = format!("/api/v1/projects/web/runs/{run}/attachments?{query}");
    let mut request = api(&r.app, Method::POST, &path, &r.token).body(body.to_vec());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    send(request).await
}

fn file_of(r: &Reader, run: &str, attachment: &str) -> std::path::PathBuf {
    r.app.data_dir.join("attachments").join(run).join(attachment)
}

#[tokio::test]
async fn attachments_round_trip_with_safe_headers() {
    let r = Reader::start_with(SpawnOptions {
        args: vec!["--max-report-bytes".into(), "4096".into()],
        ..Default::default()
    })
    .await;
    let run = id(&r.run_of("web", "branch=main", &[("t", "failed", 1)]).await);

    let log = attach(&r, &run, "filename=build.log", Some("text/plain"), b"line 1\nline 2\n").await;
    let log = log.expect(StatusCode::CREATED);
    assert_eq!(log["filename"], "build.log");
    assert_eq!(log["content_type"], "text/plain; charset=utf-8");
    assert_eq!(log["bytes"], 14);
    unix(log["created_at"].as_str().unwrap());
    let log_id = id(&log);
    assert!(file_of(&r, &run, &log_id).is_file());

    let download = get(&r.app, &format!("/api/v1/projects/web/attachments/{log_id}"), &r.token).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.text, "line 1\nline 2\n");
    assert_eq!(download.header("content-type").as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(download.header("content-disposition").as_deref(), Some("attachment; filename=\"build.log\""));
    assert_eq!(download.header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(download.header("content-security-policy").as_deref(), Some("sandbox"));
    let in_run = get(&r.app, &format!("/api/v1/projects/web/runs/{run}/attachments/{log_id}"), &r.token).await;
    assert_eq!(in_run.text, "line 1\nline 2\n");

    // HTML is never served as HTML.
    let html = attach(&r, &run, "filename=report.html", Some("text/html"), b"<script>alert(1)</script>").await;
    let html = html.expect(StatusCode::CREATED);
    assert_eq!(html["content_type"], "application/octet-stream");
    let download = get(&r.app, &format!("/api/v1/projects/web/attachments/{}", id(&html)), &r.token).await;
    assert_eq!(download.header("content-type").as_deref(), Some("application/octet-stream"));
    assert_eq!(download.header("content-security-policy").as_deref(), Some("sandbox"));

    // The type from the extension; a non-ASCII name in filename*.
    let png = attach(&r, &run, "filename=%C3%A9cran%201.png", None, b"\x89PNG").await.expect(StatusCode::CREATED);
    assert_eq!(png["content_type"], "image/png");
    assert_eq!(png["filename"], "écran 1.png");
    let download = get(&r.app, &format!("/api/v1/projects/web/attachments/{}", id(&png)), &r.token).await;
    assert_eq!(
        download.header("content-disposition").as_deref(),
        Some("attachment; filename=\"_cran 1.png\"; filename*=UTF-8''%C3%A9cran%201.png")
    );

    let list = get(&r.app, &format!("/api/v1/projects/web/runs/{run}/attachments"), &r.token).await;
    let list = list.expect(StatusCode::OK);
    assert_eq!(list["attachments"].as_array().unwrap().len(), 3);
    assert_eq!(list["next_cursor"], serde_json::Value::Null);
    assert_eq!(list["attachments"][0]["id"], log_id.as_str());

    // Too big (declared or streamed), bad names.
    attach(&r, &run, "filename=big.bin", None, &[0u8; 4097])
        .await
        .expect_code(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    attach(&r, &run, "filename=ok.bin", None, &[0u8; 4096]).await.expect(StatusCode::CREATED);
    for bad in ["", "filename=", "filename=a%2Fb", "filename=a%5Cb", "filename=a%00b", "filename=a%0Ab", "filename=.."]
    {
        attach(&r, &run, bad, None, b"x").await.expect_code(StatusCode::BAD_REQUEST, "invalid_filename");
    }
    let long = format!("filename={}", "a".repeat(256));
    attach(&r, &run, &long, None, b"x").await.expect_code(StatusCode::BAD_REQUEST, "invalid_filename");
    attach(&r, "no-such-run", "filename=x.txt", None, b"x").await.expect_code(StatusCode::NOT_FOUND, "not_found");

    // Permissions: reading needs runs:read, writing artifacts:write.
    let reader = cli_key(&r.app, "web", "runs:read");
    let read = get(&r.app, &format!("/api/v1/projects/web/attachments/{log_id}"), &reader).await;
    assert_eq!(read.status, StatusCode::OK);
    let path = format!("/api/v1/projects/web/runs/{run}/attachments?filename=x.txt");
    send(api(&r.app, Method::POST, &path, &reader).body("x")).await.expect_403("artifacts:write");
    delete(&r.app, &format!("/api/v1/projects/web/attachments/{log_id}"), &reader).await.expect_403("artifacts:write");
    let writer = cli_key(&r.app, "web", "artifacts:write");
    get(&r.app, &format!("/api/v1/projects/web/runs/{run}/attachments"), &writer).await.expect_403("runs:read");

    // Another project's attachment is not found through this project.
    create_project(&r.app, "other");
    let elsewhere = get(&r.app, &format!("/api/v1/projects/other/attachments/{log_id}"), &r.token).await;
    elsewhere.expect_code(StatusCode::NOT_FOUND, "not_found");
    delete(&r.app, &format!("/api/v1/projects/other/attachments/{log_id}"), &r.token)
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");

    // Delete: 204, then gone from the API and the disk.
    delete(&r.app, &format!("/api/v1/projects/web/attachments/{log_id}"), &writer).await.expect(StatusCode::NO_CONTENT);
    get(&r.app, &format!("/api/v1/projects/web/attachments/{log_id}"), &r.token)
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
    assert!(!file_of(&r, &run, &log_id).exists());
}

#[tokio::test]
async fn deleting_a_project_removes_its_attachment_files() {
    let r = Reader::start().await;
    let run = id(&r.run_of("web", "branch=main", &[("t", "passed", 1)]).await);
    let a = attach(&r, &run, "filename=a.txt", None, b"a").await.expect(StatusCode::CREATED);
    assert!(file_of(&r, &run, &id(&a)).is_file());
    let (browser, status) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let response = r.app.submit(&browser, "/projects/web/settings", "/projects/web/delete", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    get(&r.app, "/api/v1/projects/web/runs", &r.token).await.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    assert!(!r.app.data_dir.join("attachments").join(&run).exists(), "the run's directory is gone");
}
