//! Helpers for the JSON API tests: accounts and tokens made with the offline
//! CLI, one-call requests that keep status, headers and body, and assertions
//! for the contract's error shape.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::helpers::*;

/// Every permission, as the CLI takes them.
pub const ALL_PERMISSIONS: &str =
    "projects:read,projects:manage,runs:read,runs:write,artifacts:write,tokens:create,tokens:admin,users:admin,audit:read,tests:manage";

/// `prc_(pat|key)_` + 38 base62 characters, nothing else.
pub const TOKEN_PATTERN: &str = "^prc_(pat|key)_[0-9A-Za-z]{38}$";

pub fn is_token(s: &str) -> bool {
    regex_lite::Regex::new(TOKEN_PATTERN).unwrap().is_match(s)
}

/// A plain API client (no cookies, no redirects).
pub fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A request to `path` bearing `token` as `Authorization: Bearer`.
pub fn api(app: &TestApp, method: Method, path: &str, token: &str) -> RequestBuilder {
    client().request(method, app.url(path)).bearer_auth(token)
}

/// A response read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?} {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }

    /// Asserts the status and returns the JSON body.
    pub fn expect(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts `{"error": code, "message": message}` with `status`.
    pub fn expect_error(&self, status: StatusCode, code: &str, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        let body = self.json();
        assert_eq!(body["error"], code, "body: {}", self.text);
        assert_eq!(body["message"], message, "body: {}", self.text);
        assert_eq!(body.as_object().unwrap().len(), 2, "only error and message: {}", self.text);
    }

    /// Asserts the status and error code; returns the message.
    pub fn expect_code(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.text);
        let body = self.json();
        assert_eq!(body["error"], code, "body: {}", self.text);
        let message = body["message"].as_str().expect("message").to_string();
        assert!(!message.is_empty());
        message
    }

    /// A 401 of the error table: code, message, and the `WWW-Authenticate`
    /// header with `error="invalid_token"`.
    pub fn expect_401(&self, code: &str, message: &str) {
        self.expect_error(StatusCode::UNAUTHORIZED, code, message);
        assert_eq!(
            self.header("www-authenticate").as_deref(),
            Some(r#"Bearer realm="proctor", error="invalid_token""#),
            "{code}"
        );
    }

    /// A 403 for a missing permission, with `insufficient_scope`.
    pub fn expect_403(&self, permission: &str) {
        self.expect_error(
            StatusCode::FORBIDDEN,
            "missing_permission",
            &format!("API key missing required permission: {permission}"),
        );
        assert_eq!(
            self.header("www-authenticate").unwrap_or_default(),
            format!(r#"Bearer realm="proctor", error="insufficient_scope", scope="{permission}""#)
        );
    }
}

pub async fn send(request: RequestBuilder) -> Resp {
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Resp { status, headers, text }
}

pub async fn get(app: &TestApp, path: &str, token: &str) -> Resp {
    send(api(app, Method::GET, path, token)).await
}

pub async fn delete(app: &TestApp, path: &str, token: &str) -> Resp {
    send(api(app, Method::DELETE, path, token)).await
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    send(api(app, Method::POST, path, token).json(&body)).await
}

pub async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    send(api(app, Method::PATCH, path, token).json(&body)).await
}

pub async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    send(api(app, Method::PUT, path, token).json(&body)).await
}

pub async fn whoami(app: &TestApp, token: &str) -> Resp {
    get(app, "/api/v1/whoami", token).await
}

/// Runs the CLI and returns stdout (trimmed), panicking on failure.
pub fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Creates the first admin (offline, so nothing depends on the web UI).
pub fn create_admin(app: &TestApp) {
    let out = app.cli_with_stdin(
        &["admin", "create-user", "--email", ADMIN_EMAIL, "--name", "Ada Admin", "--role", "admin", "--password-stdin"],
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A CLI-made personal access token; `extra` are further flags.
pub fn cli_token(app: &TestApp, owner: &str, name: &str, permissions: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", "--owner", owner, "--name", name, "--permissions", permissions];
    args.extend_from_slice(extra);
    let secret = cli_ok(app, &args);
    assert!(is_token(&secret) && secret.starts_with("prc_pat_"), "{secret:?}");
    secret
}

/// Creates the admin and returns a token holding every permission.
pub async fn admin_token(app: &TestApp) -> String {
    create_admin(app);
    cli_token(app, ADMIN_EMAIL, "admin", ALL_PERMISSIONS, &[])
}

/// Another admin token, for a second actor.
pub fn another_admin_token(app: &TestApp, name: &str) -> String {
    cli_token(app, ADMIN_EMAIL, name, ALL_PERMISSIONS, &[])
}

pub fn create_project(app: &TestApp, slug: &str) {
    cli_ok(app, &["project", "create", "--slug", slug, "--name", &slug.to_uppercase()]);
}

pub fn cli_key(app: &TestApp, project: &str, permissions: &str) -> String {
    let secret = cli_ok(app, &["key", "create", "--project", project, "--name", "ci", "--permissions", permissions]);
    assert!(is_token(&secret) && secret.starts_with("prc_key_"), "{secret:?}");
    secret
}

/// Creates a user over the API; returns its id.
pub async fn api_user(app: &TestApp, admin: &str, email: &str, role: &str) -> String {
    let body = post(
        app,
        "/api/v1/users",
        admin,
        serde_json::json!({"email": email, "name": email.split('@').next().unwrap(), "role": role, "password": PASSWORD}),
    )
    .await
    .expect(StatusCode::CREATED);
    body["id"].as_str().unwrap().to_string()
}

/// The id of the token presenting itself.
pub async fn token_id(app: &TestApp, token: &str) -> String {
    let body = whoami(app, token).await.expect(StatusCode::OK);
    body["token"]["id"].as_str().unwrap().to_string()
}

/// Creates a PAT over the API with `body`; returns (secret, token object).
pub async fn api_token(app: &TestApp, by: &str, body: Value) -> (String, Value) {
    let response = post(app, "/api/v1/tokens", by, body).await;
    let created = response.expect(StatusCode::CREATED);
    assert_eq!(response.header("cache-control").as_deref(), Some("no-store"));
    let secret = created["token"].as_str().expect("secret in the creation response").to_string();
    assert!(is_token(&secret));
    (secret, created)
}

/// The token object with `id` from a collection body (`tokens` or `keys`).
pub fn find<'a>(body: &'a Value, collection: &str, id: &str) -> &'a Value {
    body[collection]
        .as_array()
        .unwrap_or_else(|| panic!("no {collection} in {body}"))
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {body}"))
}

/// Every item of the collection `name` at `path` (follows `next_cursor`).
pub async fn list_all(app: &TestApp, token: &str, path: &str, name: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut next = format!("{path}{separator}limit=200");
    loop {
        let body = get(app, &next, token).await.expect(StatusCode::OK);
        items.extend(body[name].as_array().unwrap_or_else(|| panic!("no {name} in {body}")).iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => next = format!("{path}{separator}limit=200&cursor={c}"),
            None => return items,
        }
    }
}

/// Every audit event the API returns (follows `next_cursor`), oldest last.
pub async fn audit_events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/audit?limit=200{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let body = get(app, &path, token).await.expect(StatusCode::OK);
        events.extend(body["events"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return events,
        }
    }
}

/// A well-formed token (right checksum) that was never issued.
pub fn forge_token(kind: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    use std::hash::{BuildHasher, Hasher};
    let mut body = String::new();
    while body.len() < 32 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(body.len());
        body.push(ALPHABET[(h.finish() % 62) as usize] as char);
    }
    format!("prc_{kind}_{body}{}", checksum(&body))
}

/// The six base62 characters of the CRC-32 of `body`, as API.md defines them.
pub fn checksum(body: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// Parses RFC 3339 to unix seconds.
pub fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?} is not RFC 3339: {e}"))
        .unix_timestamp()
}

pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `within`.
pub async fn poll<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `"default";r=<n>;t=<n>` → (r, t).
pub fn ratelimit(resp: &Resp) -> (u64, u64) {
    let value = resp.header("ratelimit").unwrap_or_else(|| panic!("no RateLimit header: {:?}", resp.headers));
    let re = regex_lite::Regex::new(r#"^"default";r=(\d+);t=(\d+)$"#).unwrap();
    let caps = re.captures(&value).unwrap_or_else(|| panic!("RateLimit {value:?}"));
    (caps[1].parse().unwrap(), caps[2].parse().unwrap())
}

/// The headers every authenticated response carries.
pub fn assert_auth_headers(resp: &Resp, quota: u32, expires_at: Option<&str>) {
    assert_eq!(resp.header("ratelimit-policy"), Some(format!("\"default\";q={quota};w=60")), "{:?}", resp.status);
    ratelimit(resp);
    assert_eq!(resp.header("proctor-token-expiration").as_deref(), expires_at, "{:?}", resp.status);
}
