//! `GET /download/proctor` and `/download/proctor.sha256` (API.md section
//! 11): the running binary and its hash, without authentication, as the
//! documented `curl … | sha256sum -c` expects, cacheable under an ETag.

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::api_helpers::{client, send};
use crate::helpers::*;

#[tokio::test]
async fn the_binary_and_its_sha256_are_served_to_anyone() {
    let app = TestApp::spawn().await;
    let expected = std::fs::read(binary()).unwrap();
    let hex: String = Sha256::digest(&expected).iter().map(|b| format!("{b:02x}")).collect();

    let sum = send(client().get(app.url("/download/proctor.sha256"))).await;
    assert_eq!(sum.status, StatusCode::OK);
    assert_eq!(sum.text, format!("{hex}\n"), "lowercase hex and a newline");

    let r = client().get(app.url("/download/proctor")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let headers = r.headers().clone();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"proctor\"");
    assert_eq!(headers["content-length"].to_str().unwrap(), expected.len().to_string());
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{hex}\""));
    let body = r.bytes().await.unwrap();
    assert!(body.as_ref() == expected.as_slice(), "the very bytes of the running binary");

    for path in ["/download/proctor", "/download/proctor.sha256"] {
        let again = client().get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
}
