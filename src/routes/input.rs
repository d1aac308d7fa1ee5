//! What every request's input must be before a handler sees it: a query
//! string that decodes to UTF-8 (serde would quietly turn bad bytes into
//! U+FFFD, and they would be stored so), and a body that keeps arriving (a
//! client that announces a body and then stalls is answered 408 after the
//! idle timeout instead of holding a connection). This is also the one place
//! where a body that could not be read becomes an error.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::HttpMessage;
use futures_util::stream::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

use crate::error::{AppError, PageError};
use crate::spool::{Spool, Spooled, RETRY_AFTER_SECS};
use crate::state::AppState;

/// Middleware: refuses a query string that is not UTF-8 (400 naming the
/// parameter; the API's JSON error or a page's HTML one), and wraps the
/// request's payload in [`IdleTimeout`] with the configured
/// `body_timeout_seconds`.
pub async fn guard<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if let Some(parameter) = first_non_utf8_parameter(req.query_string()) {
        let error = AppError::validation(format!(
            "The query parameter {parameter:?} is not UTF-8 once percent-decoded; encode text as UTF-8."
        ));
        let error: actix_web::Error =
            if req.path().starts_with("/api/") { error.into() } else { PageError(error).into() };
        // A response, not an Err: the security headers and the request log
        // (the middleware around this one) pass errors through untouched.
        return Ok(req.error_response(error).map_into_right_body());
    }
    let seconds = req.app_data::<web::Data<AppState>>().map(|s| s.config.body_timeout_seconds);
    if let Some(seconds) = seconds {
        match req.take_payload() {
            // No body (most GETs): nothing to time.
            Payload::None => {}
            inner => {
                let idle = Duration::from_secs(seconds);
                let stream = IdleTimeout { inner, idle, timer: None, waiting: false, expired: false };
                req.set_payload(Payload::from(
                    Box::pin(stream) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
                ));
            }
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The name of the first parameter of `query` whose name or value is not
/// UTF-8 after percent-decoding (`+` is a space), as far as it can be shown.
pub(crate) fn first_non_utf8_parameter(query: &str) -> Option<String> {
    if !query.contains('%') {
        return None; // The query string itself is text; only escapes can hide bytes.
    }
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name_bytes, value_bytes) = (percent_decode(name), percent_decode(value));
        let shown = String::from_utf8_lossy(&name_bytes).into_owned();
        (std::str::from_utf8(&name_bytes).is_err() || std::str::from_utf8(&value_bytes).is_err()).then_some(shown)
    })
}

pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', ..) => {
                out.push(b' ');
                i += 1;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// A payload that fails with [`std::io::ErrorKind::TimedOut`] when a reader
/// has waited `idle` for the next chunk.
struct IdleTimeout {
    inner: Payload,
    idle: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether the reader is waiting since the timer was last set: the idle
    /// time counts from when a wait starts, not from the last chunk handed
    /// out (a reader may work a while between two polls).
    waiting: bool,
    expired: bool,
}

impl Stream for IdleTimeout {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        match this.inner.poll_next_unpin(cx) {
            Poll::Ready(item) => {
                this.waiting = false;
                Poll::Ready(item)
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if !this.waiting {
                    timer.as_mut().reset(Instant::now() + idle);
                    this.waiting = true;
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.expired = true;
                        let stalled = std::io::Error::new(std::io::ErrorKind::TimedOut, StalledFor(idle));
                        Poll::Ready(Some(Err(PayloadError::Io(stalled))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

/// The cause of a stalled body, with the time it waited.
#[derive(Debug)]
struct StalledFor(Duration);

impl std::fmt::Display for StalledFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "nothing arrived for {} seconds", self.0.as_secs())
    }
}

impl std::error::Error for StalledFor {}

/// Whether `err` is [`idle_timeout`]'s: the body stopped arriving.
pub fn stalled(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

/// The error for a body that could not be read: 408 when it stalled (see
/// [`idle_timeout`]), 413 past `max` bytes, else 400 `invalid_body`.
pub fn read_error(err: &PayloadError, max: usize) -> AppError {
    match err {
        PayloadError::Io(e) if stalled(err) => AppError::request_timeout(format!(
            "The request body stopped arriving ({}); send it again.",
            e.get_ref().map_or_else(|| e.to_string(), ToString::to_string)
        )),
        PayloadError::Overflow => AppError::payload_too_large(format!("The body is larger than {max} bytes.")),
        other => AppError::bad_request("invalid_body", format!("Could not read the body: {other}.")),
    }
}

/// The body length a request's `Content-Length` declares (0 when absent or unreadable).
pub fn declared_length(headers: &HeaderMap) -> usize {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0)
}

/// Reads a whole body of at most `max` bytes; past that, `too_large`'s
/// error. A `declared` length over `max` is refused before anything is read.
///
/// The buffer is sized from the declared length, so a large body (a report)
/// is held once: growing by doubling would briefly hold it one and a half
/// times over while copying. Pages of a claimed but unsent length are never
/// touched, so a lying header costs address space, not memory.
pub async fn read_capped(
    payload: &mut Payload,
    declared: usize,
    max: usize,
    too_large: impl Fn() -> AppError,
) -> Result<Bytes, AppError> {
    if declared > max {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| read_error(&e, max))?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// What an upload's body is.
pub enum Incoming {
    /// A report: received into `spool/`, hashed later (decompressed).
    Report,
    /// An attachment: received into `attachments/.incoming/` (to be
    /// renamed into its run's directory), hashed as it arrives.
    Attachment,
}

/// Receives an upload's body of at most `--max-report-bytes` into a
/// temporary file (`crate::spool`), chunk by chunk as it arrives. Refused
/// before a byte is read: a declared length over the cap (`too_large`'s
/// 413), and a body beyond the memory budget of bodies being received (503
/// `server_busy` with `Retry-After`); refused the moment it crosses the
/// cap: 413. Whatever goes wrong, nothing of the body is left on disk.
pub async fn receive_upload(
    state: &AppState,
    req: &actix_web::HttpRequest,
    payload: Payload,
    kind: Incoming,
    too_large: impl Fn() -> AppError,
) -> Result<Spooled, AppError> {
    let max = state.config.max_report_bytes;
    if declared_length(req.headers()) as u64 > max {
        return Err(too_large());
    }
    let _share = state.uploads.try_reserve().ok_or(AppError::Busy {
        retry_after: RETRY_AFTER_SECS,
        message: "The server is receiving as many uploads as its memory for them allows (--ingest-memory-mib).",
    })?;
    let spool = match kind {
        Incoming::Report => Spool::start(state.config.spool_dir(), false),
        Incoming::Attachment => Spool::start(state.config.attachment_spool_dir(), true),
    };
    receive(payload, max, too_large, spool).await
}

async fn receive(
    mut payload: Payload,
    max: u64,
    too_large: impl Fn() -> AppError,
    mut spool: Spool,
) -> Result<Spooled, AppError> {
    let mut total = 0u64;
    while let Some(chunk) = payload.next().await {
        let refused = match chunk {
            Err(e) => Some(read_error(&e, max as usize)),
            Ok(chunk) => {
                total += chunk.len() as u64;
                if total > max {
                    Some(too_large())
                } else {
                    spool.write(chunk).await.err().map(AppError::from)
                }
            }
        };
        if let Some(refused) = refused {
            spool.abandon().await;
            return Err(refused);
        }
    }
    Ok(spool.finish().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_parameter_whose_bytes_are_not_utf8() {
        assert_eq!(first_non_utf8_parameter("branch=main&name=caf%C3%A9+x"), None);
        assert_eq!(first_non_utf8_parameter("a=1&branch=%FFmain&c=%FF"), Some("branch".into()));
        assert_eq!(first_non_utf8_parameter("%C3%28=1"), Some("\u{FFFD}(".into()));
        // A stray % is not an escape: serde keeps it, and so do we.
        assert_eq!(first_non_utf8_parameter("q=100%&r=%4"), None);
        assert_eq!(first_non_utf8_parameter(""), None);
    }

    #[test]
    fn percent_decoding_follows_forms() {
        assert_eq!(percent_decode("a+b%20c%2B%e2%82%ac"), "a b c+€".as_bytes());
        assert_eq!(percent_decode("%zz%"), b"%zz%");
    }
}
