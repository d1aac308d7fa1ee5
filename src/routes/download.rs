//! `GET /download/proctor` and `GET /download/proctor.sha256` (API.md
//! section 11): the server's own binary, which is also the upload client,
//! and its SHA-256, without authentication, so a CI job gets the client
//! with one `curl` from the server it uploads to. Streamed from the running
//! executable (so an upgrade on disk does not change what is served until
//! the restart), cacheable under an ETag that is its hash.

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::error::AppError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/download/proctor", web::get().to(binary)).route("/download/proctor.sha256", web::get().to(checksum));
}

/// The running executable, its size and its SHA-256 (hex).
struct Executable {
    path: PathBuf,
    len: u64,
    sha256: String,
}

fn executable_path() -> PathBuf {
    // The running image itself, even when the file was replaced since.
    let proc = PathBuf::from("/proc/self/exe");
    if proc.exists() {
        proc
    } else {
        std::env::current_exe().unwrap_or(proc)
    }
}

/// Hashed once, on the first request (a blocking read of the whole file).
fn executable() -> Result<&'static Executable, AppError> {
    static EXE: OnceLock<Executable> = OnceLock::new();
    if let Some(exe) = EXE.get() {
        return Ok(exe);
    }
    let path = executable_path();
    let mut file = std::fs::File::open(&path)?;
    let (mut hasher, mut buf, mut len) = (Sha256::new(), vec![0u8; 256 * 1024], 0u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(EXE.get_or_init(|| Executable { path, len, sha256 }))
}

async fn found() -> Result<&'static Executable, AppError> {
    web::block(executable).await.map_err(AppError::internal)?
}

/// The ETag header value, and whether the request already has it.
fn etag(req: &HttpRequest, exe: &Executable) -> (String, bool) {
    let tag = format!("\"{}\"", exe.sha256);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    (tag, fresh)
}

fn cacheable(response: &mut actix_web::HttpResponseBuilder, tag: &str) {
    response
        .insert_header((header::ETAG, tag.to_string()))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300, must-revalidate")));
}

async fn binary(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let exe = found().await?;
    let (tag, fresh) = etag(&req, exe);
    if fresh {
        let mut response = HttpResponse::NotModified();
        cacheable(&mut response, &tag);
        return Ok(response.finish());
    }
    let file = std::fs::File::open(&exe.path)?;
    let mut response = HttpResponse::Ok();
    cacheable(&mut response, &tag);
    Ok(response
        .content_type("application/octet-stream")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"proctor\""))
        .no_chunking(exe.len)
        .streaming(chunks(file)))
}

/// `file` in 64 KiB chunks, each read on the blocking pool.
fn chunks(file: std::fs::File) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = web::block(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((file, buf))
        })
        .await;
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((file, buf))) => Some((Ok(web::Bytes::from(buf)), Some(file))),
            Ok(Err(e)) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
            Err(e) => Some((Err(actix_web::error::ErrorInternalServerError(e)), None)),
        }
    })
}

async fn checksum(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let exe = found().await?;
    let (tag, fresh) = etag(&req, exe);
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    cacheable(&mut response, &tag);
    if fresh {
        return Ok(response.finish());
    }
    Ok(response.content_type("text/plain; charset=utf-8").body(format!("{}\n", exe.sha256)))
}
