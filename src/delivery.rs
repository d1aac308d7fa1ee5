//! The webhook delivery worker, a background task of `serve` (API.md
//! section 12). It sends the outbox's due deliveries: the oldest pending
//! delivery of each endpoint only (so one endpoint's events arrive in
//! order, one at a time), at most [`GLOBAL_CAP`] at once, each through
//! `AppState::webhook_client` (the host policy checked at every attempt,
//! no redirects, 10 s). Each attempt is recorded on its row; a failure is
//! scheduled again by `domain::webhook::next_attempt` on the server's
//! clock; a 410 turns the endpoint off. The attempts that ended meanwhile
//! are recorded together, in one transaction; an endpoint gets nothing more
//! until its attempt is recorded (should that write fail, it is tried
//! again, and the endpoint waits). The worker wakes when a write
//! that queued a delivery or a mail commits (`Db::outbox_filled`), when a
//! delivery ends (its endpoint's next one goes at once), and every second
//! for retries falling due. A restart resumes from the table:
//! a delivery sent but not yet recorded is sent again (at least once).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::db::webhooks::{self, Attempt, Delivery, Webhook};
use crate::domain::chat_message::render;
use crate::domain::time::{rfc3339_unix, unix_now};
use crate::domain::webhook::{next_attempt, signature, Format};
use crate::ops::webhooks::SECRET_PURPOSE;
use crate::outbound::Outcome;
use crate::state::AppState;

/// Deliveries in flight at once, over all endpoints.
pub const GLOBAL_CAP: usize = 8;
/// How often the worker looks for due deliveries when nothing wakes it
/// (retries fall due on the clock; new events and finished deliveries
/// wake it at once).
const POLL: Duration = Duration::from_secs(1);
/// Response bodies are kept to this many bytes.
const MAX_RESPONSE_BYTES: usize = 1024;

/// Runs until the server stops.
pub async fn run(state: Arc<AppState>) {
    // Endpoints with a delivery in flight, or its attempt not yet recorded:
    // none of their deliveries is sent meanwhile.
    let mut busy: HashSet<String> = HashSet::new();
    // Attempts that ended and are not yet written down, recorded together
    // in one transaction; kept (with their endpoints busy) while that fails.
    let mut unrecorded: Vec<Recorded> = Vec::new();
    let (done, mut ended) = tokio::sync::mpsc::unbounded_channel::<Recorded>();
    let mailing = Arc::new(AtomicBool::new(false));
    loop {
        if state.mailer.is_some() && !mailing.swap(true, Ordering::AcqRel) {
            let (state, mailing) = (state.clone(), mailing.clone());
            tokio::task::spawn_local(async move {
                send_due_mail(&state).await;
                mailing.store(false, Ordering::Release);
            });
        }
        while let Ok(attempt) = ended.try_recv() {
            unrecorded.push(attempt);
        }
        // While a long write (a big upload) holds the writer, this waits,
        // and no new delivery starts: the endpoints stay in order.
        if !unrecorded.is_empty() {
            match record(&state, &unrecorded).await {
                Ok(()) => {
                    for r in unrecorded.drain(..) {
                        busy.remove(&r.hook);
                    }
                }
                Err(e) => log::warn!("webhooks: recording {} deliveries failed, trying again: {e}", unrecorded.len()),
            }
        }
        let room = GLOBAL_CAP.saturating_sub(busy.len()) as u32;
        if room > 0 {
            let (now, in_flight) = (unix_now(), busy.iter().cloned().collect::<Vec<_>>());
            match state.db.read(move |c| webhooks::due(c, now, &in_flight, room)).await {
                Ok(due) => {
                    for (delivery, hook) in due {
                        busy.insert(hook.id.clone());
                        let (state, done) = (state.clone(), done.clone());
                        tokio::task::spawn_local(async move {
                            let _ = done.send(deliver(&state, hook, delivery).await);
                        });
                    }
                }
                Err(e) => log::warn!("webhooks: reading the outbox failed: {e}"),
            }
        }
        tokio::select! {
            () = state.db.outbox_filled() => {}
            Some(attempt) = ended.recv() => unrecorded.push(attempt),
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The request body of `delivery` in `format`.
/// An event's `path` in Proctor becomes its `url` when the server knows
/// its public URL.
fn body(format: Format, delivery: &Delivery, public_url: Option<&str>) -> Vec<u8> {
    let mut data: Value = serde_json::from_str(&delivery.payload).unwrap_or(Value::Null);
    if let (Some(base), Some(path)) = (public_url, data.get("path").and_then(Value::as_str)) {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        data["url"] = Value::String(url);
    }
    let value = match format {
        Format::Standard => json!({
            "type": delivery.event,
            "timestamp": rfc3339_unix(delivery.event_at),
            "data": data,
        }),
        chat => render(chat.as_str(), &delivery.event, &data),
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

/// One attempt of `delivery` to `hook`, for [`record`] to write down.
async fn deliver(state: &AppState, hook: Webhook, delivery: Delivery) -> Recorded {
    let Some(secret) = state.key.open(SECRET_PURPOSE, &hook.sealed_secret) else {
        log::warn!("webhooks: the secret of webhook {} does not open with this instance's key", hook.id);
        return Recorded::new(&hook, &delivery, Answer::Refused("the webhook's secret is unreadable".into()));
    };
    let secret = String::from_utf8_lossy(&secret).into_owned();
    let payload = body(hook.format, &delivery, state.config.public_url.as_deref());
    let timestamp = unix_now();
    let headers = [
        ("webhook-id", delivery.message_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature(&secret, &delivery.message_id, timestamp, &payload)),
        ("user-agent", concat!("proctor-webhooks/", env!("CARGO_PKG_VERSION")).to_string()),
    ];
    let started = Instant::now();
    let outcome = match state.webhook_client.post_json(&hook.url, &headers, payload).await {
        Ok(response) => {
            let code = response.status().as_u16();
            let text = read_capped(response).await;
            Answer::Answered { code, body: text, latency: started.elapsed() }
        }
        Err(Outcome::Refused(why)) => Answer::Refused(why),
        Err(Outcome::Failed(why)) => Answer::Failed { error: why, latency: started.elapsed() },
    };
    Recorded::new(&hook, &delivery, outcome)
}

/// What one attempt came to.
enum Answer {
    Answered { code: u16, body: String, latency: Duration },
    Failed { error: String, latency: Duration },
    Refused(String),
}

async fn read_capped(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_RESPONSE_BYTES {
            body.truncate(MAX_RESPONSE_BYTES);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// One attempt as its delivery's row will say it: the status, the answer,
/// the next attempt (if any), and whether the endpoint said 410 Gone.
#[derive(Clone)]
struct Recorded {
    delivery: String,
    hook: String,
    status: &'static str,
    code: Option<u16>,
    body: Option<String>,
    error: Option<String>,
    latency_ms: Option<u32>,
    next: Option<i64>,
    gone: bool,
}

impl Recorded {
    /// The attempt that came to `outcome`, its retry (if any) scheduled on
    /// the server's clock.
    fn new(hook: &Webhook, delivery: &Delivery, outcome: Answer) -> Recorded {
        let now = unix_now();
        let attempt = delivery.attempt + 1;
        let retry = || next_attempt(attempt, delivery.created_at, now, jitter());
        let ms = |d: Duration| Some(u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        let gone = matches!(outcome, Answer::Answered { code: 410, .. });
        let (status, code, body, error, latency_ms, next) = match outcome {
            Answer::Answered { code, body, latency } if (200..300).contains(&code) => {
                ("succeeded", Some(code), Some(body), None, ms(latency), None)
            }
            Answer::Answered { code: 410, body, latency } => {
                ("failed", Some(410), Some(body), Some("the endpoint answered 410 Gone".to_string()), ms(latency), None)
            }
            Answer::Answered { code, body, latency } => {
                let next = retry();
                (if next.is_some() { "pending" } else { "failed" }, Some(code), Some(body), None, ms(latency), next)
            }
            Answer::Failed { error, latency } => {
                let next = retry();
                (if next.is_some() { "pending" } else { "failed" }, None, None, Some(error), ms(latency), next)
            }
            Answer::Refused(why) => ("refused", None, None, Some(why), None, None),
        };
        Recorded {
            delivery: delivery.id.clone(),
            hook: hook.id.clone(),
            status,
            code,
            body,
            error,
            latency_ms,
            next,
            gone,
        }
    }
}

/// Writes down the attempts of `batch` in one transaction: each schedules
/// its delivery's next attempt or ends it (unless it was ended meanwhile,
/// its webhook turned off), and a 410 turns its endpoint off.
async fn record(state: &AppState, batch: &[Recorded]) -> Result<(), crate::db::DbError> {
    let batch: Vec<Recorded> = batch.to_vec();
    state
        .db
        .write(move |tx| {
            for r in &batch {
                let attempt = Attempt {
                    status: r.status,
                    response_code: r.code,
                    response_body: r.body.as_deref(),
                    error: r.error.as_deref(),
                    latency_ms: r.latency_ms,
                    next_attempt_at: r.next,
                };
                webhooks::record_attempt(tx, &r.delivery, &attempt)?;
                if r.gone {
                    webhooks::disable(tx, &r.hook, "the endpoint answered 410 Gone")?;
                }
            }
            Ok(())
        })
        .await
}

/// A number in 0..1 for the back-off's jitter.
fn jitter() -> f64 {
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX)
}

/// Mails sent per pass, one after another.
const MAIL_BATCH: u32 = 20;

/// Sends the due mails of the outbox, one at a time, each attempt recorded
/// and a failure retried on the webhooks' schedule.
async fn send_due_mail(state: &AppState) {
    let Some(mailer) = &state.mailer else { return };
    let now = unix_now();
    let due = match state.db.read(move |c| crate::db::mail::due(c, now, MAIL_BATCH)).await {
        Ok(due) => due,
        Err(e) => return log::warn!("mail: reading the outbox failed: {e}"),
    };
    for mail in due {
        let error = mailer.send(&mail.to, &mail.subject, &mail.body).await.err();
        let next = error.as_ref().and_then(|_| next_attempt(mail.attempt + 1, mail.created_at, unix_now(), jitter()));
        if let Some(e) = &error {
            log::warn!("mail: sending to {} failed (attempt {}): {e}", mail.to, mail.attempt + 1);
        }
        let id = mail.id.clone();
        let written = state.db.write(move |tx| crate::db::mail::record_attempt(tx, &id, error.as_deref(), next)).await;
        if let Err(e) = written {
            log::warn!("mail: recording a delivery failed: {e}");
        }
    }
}
