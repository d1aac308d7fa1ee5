//! Webhooks as API.md section 12 states them: what an endpoint may be, its
//! events and formats, the Standard Webhooks signature, and when a failed
//! delivery is tried again. Pure: storage, the clock's reading and the
//! network are the callers'.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::permission::Permission;

/// The events an endpoint may subscribe to.
pub const EVENTS: [&str; 6] =
    ["run.finished", "test.flaky", "test.quarantined", "test.released", "token.expiring", "token.revoked"];

/// Whose endpoints: a project's (by slug) or the instance's.
#[derive(Debug, Clone)]
pub enum Scope {
    Project(String),
    Instance,
}

impl Scope {
    /// What managing the scope's webhooks takes.
    pub fn permission(&self) -> Permission {
        match self {
            Scope::Project(_) => Permission::ProjectsManage,
            Scope::Instance => Permission::UsersAdmin,
        }
    }
}

/// How a payload is shaped for its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Standard Webhooks: the event as JSON, signed.
    Standard,
    Slack,
    Teams,
    Discord,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
            Format::Teams => "teams",
            Format::Discord => "discord",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        [Format::Standard, Format::Slack, Format::Teams, Format::Discord].into_iter().find(|f| f.as_str() == s)
    }
}

/// Why a webhook's fields are not valid, and the field at fault; the API
/// answers 400 with it.
pub type WebhookError = crate::domain::invalid::FieldError;

pub const MAX_URL_CHARS: usize = 2000;

/// An endpoint's URL: `http://` or `https://` with a host, no credentials
/// or fragment, at most 2,000 characters. (Where it may point is the host
/// policy's to say, at creation and at every attempt.)
pub fn url(raw: &str) -> Result<url::Url, WebhookError> {
    let raw = raw.trim();
    let bad = || {
        WebhookError::new(
            "url",
            format!("url must be an http:// or https:// URL of at most {MAX_URL_CHARS} characters."),
        )
    };
    if raw.is_empty() || raw.len() > MAX_URL_CHARS {
        return Err(bad());
    }
    let url = url::Url::parse(raw).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(WebhookError::new("url", "url must not carry credentials or a fragment."));
    }
    Ok(url)
}

/// The subscribed events: at least one, each known, without repeats, in
/// the order of [`EVENTS`].
pub fn events(raw: &[String]) -> Result<Vec<&'static str>, WebhookError> {
    if raw.is_empty() {
        return Err(WebhookError::new("events", format!("events must name at least one of {}.", EVENTS.join(", "))));
    }
    for e in raw {
        if !EVENTS.contains(&e.as_str()) {
            return Err(WebhookError::new("events", format!("unknown event {e:?}; known: {}.", EVENTS.join(", "))));
        }
    }
    Ok(EVENTS.iter().copied().filter(|e| raw.iter().any(|r| r == e)).collect())
}

/// `url` as pages and the audit log show it: scheme, host and port, and of
/// the rest only its last four characters, because a chat app's
/// incoming-webhook URL (`https://hooks.slack.com/services/…`) is its
/// credential. The full URL is in the edit form and the API only.
pub fn redacted_url(raw: &str) -> String {
    let Ok(url) = url::Url::parse(raw) else { return "(not a URL)".into() };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = &url[url::Position::BeforePath..];
    let tail = if rest.len() <= 1 {
        String::new()
    } else {
        let last: String = rest.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        format!("/…{last}")
    };
    format!("{}://{}{port}{tail}", url.scheme(), url.host_str().unwrap_or(""))
}

/// A new endpoint secret, `whsec_` and 32 random bytes in base64, as the
/// Standard Webhooks libraries read it.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` header of a message: `v1,` and the base64
/// HMAC-SHA256, keyed by the secret's decoded bytes, of `id.timestamp.body`.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = secret.strip_prefix("whsec_").and_then(|b| STANDARD.decode(b).ok()).unwrap_or_default();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Failed deliveries are retried for this long after the event, then failed.
pub const RETRY_FOR_SECS: i64 = 24 * 3600;
/// The first retry comes within this; each next one waits twice as long.
pub const FIRST_RETRY_SECS: i64 = 30;
/// No wait between attempts is longer than this.
pub const MAX_RETRY_SECS: i64 = 3 * 3600;

/// When to try again after failed attempt number `attempt` (1 for the
/// first) of an event made at `created_at`, now `now`: 30 s, 1 min, 2 min,
/// … up to 3 h, each shortened by up to a fifth at random (`jitter` in
/// 0..=1) so that endpoints that failed together do not retry together.
/// `None` once 24 hours have passed: the delivery has failed.
pub fn next_attempt(attempt: u32, created_at: i64, now: i64, jitter: f64) -> Option<i64> {
    let doubling = attempt.saturating_sub(1).min(20);
    let wait = (FIRST_RETRY_SECS << doubling).min(MAX_RETRY_SECS);
    let wait = wait - (wait as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as i64;
    let at = now + wait.max(1);
    (at <= created_at + RETRY_FOR_SECS).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_standard_webhooks() {
        // The example of the Standard Webhooks specification's test vectors.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_32_bytes() {
        let s = generate_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&s[6..]).unwrap().len(), 32);
        assert_ne!(s, generate_secret());
    }

    #[test]
    fn urls_and_events_are_checked() {
        assert!(url("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(url("http://127.0.0.1:9000/hook").is_ok(), "where it may point is the host policy's call");
        for bad in ["", "ftp://x/y", "https://user:pw@x/", "https://x/#f", "not a url"] {
            assert!(url(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            events(&["token.revoked".into(), "run.finished".into()]).unwrap(),
            ["run.finished", "token.revoked"]
        );
        assert!(events(&[]).is_err());
        assert!(events(&["run.started".into()]).unwrap_err().message.contains("run.started"));
    }

    #[test]
    fn retries_back_off_from_30_seconds_to_3_hours_for_24_hours() {
        let t0 = 1_800_000_000;
        assert_eq!(next_attempt(1, t0, t0, 0.0), Some(t0 + 30));
        assert_eq!(next_attempt(2, t0, t0 + 30, 0.0), Some(t0 + 90));
        assert_eq!(next_attempt(3, t0, t0, 0.0), Some(t0 + 120));
        assert_eq!(next_attempt(1, t0, t0, 1.0), Some(t0 + 24), "jitter shortens by at most a fifth");
        assert_eq!(next_attempt(12, t0, t0, 0.0), Some(t0 + MAX_RETRY_SECS));
        assert_eq!(next_attempt(30, t0, t0, 0.0), Some(t0 + MAX_RETRY_SECS), "no overflow");
        assert_eq!(next_attempt(5, t0, t0 + RETRY_FOR_SECS - 10, 0.0), None, "past 24 hours: failed");
        // The whole schedule: about 17 attempts in 24 hours.
        let (mut now, mut attempts) = (t0, 1);
        while let Some(at) = next_attempt(attempts, t0, now, 0.5) {
            now = at;
            attempts += 1;
        }
        assert!((12..=20).contains(&attempts), "{attempts}");
    }

    #[test]
    fn urls_are_shown_without_what_makes_them_a_credential() {
        let slack = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXsecret";
        assert_eq!(redacted_url(slack), "https://hooks.slack.com/…cret");
        assert_eq!(redacted_url("http://127.0.0.1:8080/hook?key=abcd1234"), "http://127.0.0.1:8080/…1234");
        assert_eq!(redacted_url("https://example.com/"), "https://example.com");
        assert_eq!(redacted_url("https://example.com/é"), "https://example.com/…3%A9", "cut in characters");
        assert_eq!(redacted_url("nonsense"), "(not a URL)");
    }
}
