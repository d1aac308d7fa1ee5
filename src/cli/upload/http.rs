//! The HTTP side of `proctor upload`: a blocking client that sends the token,
//! retries what is safe to retry (connection errors, 5xx, 429) with
//! exponential back-off and jitter, and turns the server's
//! `{"error", "message"}` into one line. The token is never part of a
//! message: it lives in a sensitive header value and is redacted from
//! anything the server says.

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

/// Retries after the first try; with the default base the waits are about
/// 0.5 s, 1 s, 2 s, 4 s and 8 s.
pub const RETRIES: u32 = 5;
/// The longest `Retry-After` we wait for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Whether a try that ended with this status (`None`: no response at all,
/// e.g. connection refused or a timeout) is worth another. Other 4xx are
/// the client's fault and would fail the same way again.
pub fn should_retry(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => s == 429 || (500..600).contains(&s),
    }
}

/// The nominal wait before retry `n` (0-based): `base`, doubling each time.
pub fn nominal_delay(base: Duration, n: u32) -> Duration {
    base.saturating_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
}

/// The nominal waits of a whole schedule.
#[cfg(test)]
pub fn schedule(base: Duration, retries: u32) -> Vec<Duration> {
    (0..retries).map(|n| nominal_delay(base, n)).collect()
}

/// The wait actually used: the nominal delay scaled by a factor in
/// [0.75, 1.25) drawn from `unit` in [0, 1), so that shards that failed
/// together do not all come back at the same instant.
pub fn jittered(nominal: Duration, unit: f64) -> Duration {
    nominal.mul_f64(0.75 + 0.5 * unit.clamp(0.0, 1.0))
}

fn random_unit() -> f64 {
    getrandom::u32().map(|r| f64::from(r) / (f64::from(u32::MAX) + 1.0)).unwrap_or(0.5)
}

/// `Retry-After` in seconds (the HTTP-date form is left to the back-off).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// What a request carries.
pub enum Body<'a> {
    None,
    Json(&'a serde_json::Value),
    /// Gzip bytes of a report of this media type.
    Report {
        gzip: &'a [u8],
        content_type: &'static str,
    },
}

/// A successful answer: the parsed body and the headers (for the token's
/// expiration).
pub struct Answer<T> {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: T,
}

/// Talks to one Proctor server with one token.
pub struct Api {
    client: Client,
    base: Url,
    auth: HeaderValue,
    secret: String,
    retry_base: Duration,
    note: Box<dyn Fn(&str)>,
}

impl Api {
    /// `note` receives one line per retry (for the progress display).
    pub fn new(base: Url, token: &str, retry_base: Duration, note: Box<dyn Fn(&str)>) -> Result<Api, String> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token contains characters that cannot be sent in an HTTP header".to_string())?;
        auth.set_sensitive(true);
        let client = Client::builder()
            .user_agent(concat!("proctor-upload/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            // A POST turned into a GET by a redirect would only confuse:
            // say where the server is instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {}", describe(&e)))?;
        Ok(Api { client, base, auth, secret: token.to_string(), retry_base, note })
    }

    /// `base` + the given path segments, each percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        join(&self.base, segments)
    }

    /// Sends `body` to the API path under `/api/v1`, retrying what may be
    /// retried, and parses a 2xx answer as `T`.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Body<'_>,
    ) -> Result<Answer<T>, String> {
        self.call_with_retries(method, segments, body, RETRIES)
    }

    /// [`Api::call`] with at most `retries` retries.
    pub fn call_with_retries<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Body<'_>,
        retries: u32,
    ) -> Result<Answer<T>, String> {
        self.send(method, self.api_url(segments, &[]), body, retries)
    }

    /// A GET of the API path with a query string (`status=failed`, a page's
    /// `cursor`), with at most `retries` retries.
    pub fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
        retries: u32,
    ) -> Result<Answer<T>, String> {
        self.send(Method::GET, self.api_url(segments, query), Body::None, retries)
    }

    /// `/api/v1/` + the segments under the base, and the query if any.
    fn api_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut path = vec!["api", "v1"];
        path.extend_from_slice(segments);
        let mut url = join(&self.base, &path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends until a 2xx (parsed as `T`), an answer not worth retrying, or
    /// the last of `retries` retries.
    fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Body<'_>,
        retries: u32,
    ) -> Result<Answer<T>, String> {
        let what = format!("{method} {}", url.path());
        let mut retry = 0;
        loop {
            let outcome = self.request(method.clone(), url.clone(), &body).send();
            let (status, wait_at_least, reason) = match outcome {
                Ok(response) if response.status().is_success() => return self.parse(&what, response),
                Ok(response) if response.status().is_redirection() => {
                    let to = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("elsewhere");
                    return Err(format!(
                        "{what}: the server redirected to {to}; pass the server's final address as --url"
                    ));
                }
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(response.headers());
                    let message = self.error_message(response);
                    if !should_retry(Some(status.as_u16())) {
                        return Err(message);
                    }
                    (Some(status), wait, message)
                }
                Err(err) => (None, None, format!("cannot reach {}: {}", self.host(), describe(&err))),
            };
            if retry >= retries {
                let tries = retry + 1;
                return Err(match status {
                    Some(_) => format!("{reason}; gave up after {tries} tries"),
                    None => format!("{reason} (gave up after {tries} tries)"),
                });
            }
            let delay =
                jittered(nominal_delay(self.retry_base, retry), random_unit()).max(wait_at_least.unwrap_or_default());
            (self.note)(&format!("{reason}; retrying in {} ({} of {RETRIES})", human(delay), retry + 1));
            std::thread::sleep(delay);
            retry += 1;
        }
    }

    fn request(&self, method: Method, url: Url, body: &Body<'_>) -> RequestBuilder {
        let builder = self.client.request(method, url).header(AUTHORIZATION, self.auth.clone());
        match body {
            Body::None => builder,
            Body::Json(value) => builder.json(value),
            Body::Report { gzip, content_type } => {
                builder.header(CONTENT_TYPE, *content_type).header(CONTENT_ENCODING, "gzip").body(gzip.to_vec())
            }
        }
    }

    fn parse<T: DeserializeOwned>(&self, what: &str, response: Response) -> Result<Answer<T>, String> {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().map_err(|e| format!("{what}: the answer was cut off: {}", describe(&e)))?;
        let body = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{what}: unexpected answer from the server ({status}): {e}"))?;
        Ok(Answer { status, headers, body })
    }

    /// "<message> (<status> <code>)" from the contract's error body, or the
    /// bare status when the answer is not Proctor's (a proxy's error page).
    fn error_message(&self, response: Response) -> String {
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            error: String,
            message: String,
        }
        let status = response.status();
        let path = response.url().path().to_string();
        let parsed = response.bytes().ok().and_then(|b| serde_json::from_slice::<ErrorBody>(&b).ok());
        let line = match parsed {
            Some(e) => format!("{} ({} {})", e.message.trim(), status.as_u16(), e.error),
            None => {
                format!("{path}: the server answered {status} without a Proctor error (is --url the Proctor server?)")
            }
        };
        self.redact(line)
    }

    fn redact(&self, text: String) -> String {
        // Too short to be a secret, and replacing it would garble the text.
        if self.secret.len() < 8 {
            text
        } else {
            text.replace(&self.secret, "[redacted]")
        }
    }

    fn host(&self) -> String {
        match (self.base.host_str(), self.base.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", self.base.scheme()),
            _ => self.base.scheme().to_string(),
        }
    }
}

fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `base` with `segments` appended (a base with a path prefix such as
/// `https://ci.example.com/proctor/` keeps it).
pub fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The innermost cause of a transport error ("Connection refused (os error
/// 111)"), without the URL reqwest puts in its own message.
fn describe(err: &reqwest::Error) -> String {
    let mut inner: &dyn std::error::Error = err;
    while let Some(source) = inner.source() {
        inner = source;
    }
    let text = inner.to_string();
    if err.is_timeout() && !text.to_lowercase().contains("timed out") {
        format!("timed out ({text})")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_connection_errors_5xx_and_429_only() {
        assert!(should_retry(None));
        for status in [500, 502, 503, 504, 429] {
            assert!(should_retry(Some(status)), "{status}");
        }
        for status in [200, 201, 301, 400, 401, 403, 404, 409, 413, 415, 422] {
            assert!(!should_retry(Some(status)), "{status}");
        }
    }

    #[test]
    fn back_off_doubles_from_the_base() {
        let secs: Vec<f64> = schedule(Duration::from_millis(500), RETRIES).iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0]);
        assert_eq!(schedule(Duration::from_millis(1), 3), [1, 2, 4].map(Duration::from_millis));
        assert_eq!(nominal_delay(Duration::from_secs(1), 40), Duration::from_secs(u64::from(u32::MAX)), "no overflow");
    }

    #[test]
    fn jitter_stays_within_a_quarter_of_the_nominal_delay() {
        let nominal = Duration::from_secs(2);
        assert_eq!(jittered(nominal, 0.0), Duration::from_millis(1500));
        assert_eq!(jittered(nominal, 0.5), nominal);
        assert!(jittered(nominal, 0.999_999) < Duration::from_millis(2500));
        for _ in 0..100 {
            let d = jittered(nominal, random_unit());
            assert!(d >= Duration::from_millis(1500) && d < Duration::from_millis(2500), "{d:?}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn paths_are_joined_under_the_base_and_encoded() {
        let base = Url::parse("https://ci.example.com/proctor/?x=1").unwrap();
        assert_eq!(
            join(&base, &["api", "v1", "projects", "web"]).as_str(),
            "https://ci.example.com/proctor/api/v1/projects/web"
        );
        let bare = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            join(&bare, &["projects", "a b/c", "runs"]).as_str(),
            "http://127.0.0.1:8080/projects/a%20b%2Fc/runs"
        );
        let api = Api::new(base, "t", Duration::ZERO, Box::new(|_| {})).unwrap();
        assert_eq!(
            api.api_url(&["projects", "web", "runs", "r1", "tests"], &[("status", "failed"), ("cursor", "a:b=")])
                .as_str(),
            "https://ci.example.com/proctor/api/v1/projects/web/runs/r1/tests?status=failed&cursor=a%3Ab%3D"
        );
    }

    #[test]
    fn the_token_is_sensitive_and_redacted() {
        let api =
            Api::new(Url::parse("http://x").unwrap(), "prc_pat_secret", Duration::ZERO, Box::new(|_| {})).unwrap();
        assert!(api.auth.is_sensitive());
        assert_eq!(api.redact("bad token prc_pat_secret".into()), "bad token [redacted]");
        let short = Api::new(Url::parse("http://x").unwrap(), "t", Duration::ZERO, Box::new(|_| {})).unwrap();
        assert_eq!(short.redact("Not well-formed".into()), "Not well-formed");
        let err =
            Api::new(Url::parse("http://x").unwrap(), "bad\ntoken", Duration::ZERO, Box::new(|_| {})).err().unwrap();
        assert!(!err.contains("bad"), "{err}");
    }
}
