//! The signing keys of OpenID Connect issuers (API.md section 11): found
//! through each issuer's `/.well-known/openid-configuration`, fetched over
//! HTTPS (no redirects, a timeout, a size cap), cached for as long as the
//! issuer's `Cache-Control` says within bounds, fetched again for an
//! unknown `kid` at most once a minute per issuer, and kept when the issuer
//! is down. Verification itself is `jsonwebtoken`'s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::domain::oidc::{refused, Refused};
use crate::domain::time::unix_now;
use crate::outbound::{describe, GuardedClient};

/// Largest discovery document or key set read; more is refused as it arrives.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// How long one request to an issuer may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// An issuer is asked again at most this often when a `kid` is unknown or
/// the last fetch failed.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Bounds on how long fetched keys are used before they are fetched again.
pub const MIN_MAX_AGE: Duration = Duration::from_secs(5 * 60);
pub const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct Entry {
    keys: Option<Arc<HashMap<String, Jwk>>>,
    /// Unix seconds (the server's clock) until which the keys are used
    /// without asking the issuer.
    fresh_until: i64,
    last_attempt: Option<i64>,
}

/// The cache's rules apart from the network, on the server's clock (unix
/// seconds, which tests move): which key is at hand, whether to ask the
/// issuer now, and what a fetch leaves behind.
#[derive(Default)]
struct KeyCache {
    issuers: HashMap<String, Entry>,
}

impl KeyCache {
    /// Key `kid` of `issuer` if cached, and whether to fetch now: when the
    /// keys are stale or lack `kid`, and the issuer was not asked in the
    /// last minute. A fetch decided on is recorded as an attempt.
    fn plan(&mut self, issuer: &str, kid: &str, now: i64) -> (Option<Jwk>, bool) {
        let entry = self.issuers.entry(issuer.to_string()).or_default();
        let cached = entry.keys.as_ref().and_then(|keys| keys.get(kid).cloned());
        // A clock stepped backwards (an NTP correction) must neither keep
        // keys fresh for longer than the bounds nor hold off the next fetch.
        let fresh = now < entry.fresh_until && entry.fresh_until - now <= MAX_MAX_AGE.as_secs() as i64;
        let interval = REFETCH_INTERVAL.as_secs() as i64;
        let may_fetch = entry.last_attempt.is_none_or(|at| now < at || now - at >= interval);
        let fetch = (cached.is_none() || !fresh) && may_fetch;
        if fetch {
            entry.last_attempt = Some(now);
        }
        (cached, fetch)
    }

    /// Fetched `keys` replace the old ones, fresh for `max_age`.
    fn store(&mut self, issuer: &str, keys: HashMap<String, Jwk>, max_age: Duration, now: i64) {
        let entry = self.issuers.entry(issuer.to_string()).or_default();
        entry.keys = Some(Arc::new(keys));
        entry.fresh_until = now + max_age.as_secs() as i64;
    }

    fn lookup(&self, issuer: &str, kid: &str) -> Option<Jwk> {
        self.issuers.get(issuer).and_then(|e| e.keys.as_ref()).and_then(|keys| keys.get(kid).cloned())
    }
}

/// Every issuer's keys, shared by the server's workers.
pub struct KeyStore {
    client: GuardedClient,
    cache: Mutex<KeyCache>,
}

impl KeyStore {
    /// A store fetching through `client` (HTTPS to what `--oidc-allow-hosts` allows).
    pub fn new(client: GuardedClient) -> KeyStore {
        KeyStore { client, cache: Mutex::new(KeyCache::default()) }
    }

    /// Verifies `token`'s signature with key `kid` of `issuer` and returns
    /// its claims. Times and audience are the caller's to check.
    pub async fn verify(&self, issuer: &str, alg: &str, kid: &str, token: &str) -> Result<Map<String, Value>, Refused> {
        let jwk = self.key(issuer, kid).await?;
        let algorithm = match (alg, &jwk.algorithm) {
            ("RS256", AlgorithmParameters::RSA(_)) => Algorithm::RS256,
            ("ES256", AlgorithmParameters::EllipticCurve(ec)) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
            _ => return Err(refused(format!("key {kid:?} of the issuer is not a key for {alg}"))),
        };
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|_| refused(format!("key {kid:?} of the issuer is not usable")))?;
        let mut validation = Validation::new(algorithm);
        // Times and audience are checked by `domain::oidc` and `ops::oidc`
        // against the server's clock and the publishers; here only the signature.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|_| refused("the ID token's signature does not verify"))
    }

    /// Key `kid` of `issuer`, from the cache or, when it is stale or lacks
    /// the key, from the issuer (at most once a minute).
    async fn key(&self, issuer: &str, kid: &str) -> Result<Jwk, Refused> {
        let lock = || self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (cached, fetch) = lock().plan(issuer, kid, unix_now());
        let mut error = None;
        if fetch {
            match self.fetch(issuer).await {
                Ok((keys, max_age)) => lock().store(issuer, keys, max_age, unix_now()),
                // The last good keys stay; say why only if they lack the key.
                Err(e) => {
                    log::warn!("oidc: fetching the keys of {issuer} failed: {e}");
                    error = Some(e);
                }
            }
        }
        let found = lock().lookup(issuer, kid);
        found.or(cached).ok_or_else(|| match error {
            Some(e) => refused(format!("the issuer's keys could not be fetched ({e})")),
            None => refused(format!("the issuer has no key {kid:?}")),
        })
    }

    /// The issuer's discovery document, then its key set; the keys by `kid`
    /// and how long they may be used.
    async fn fetch(&self, issuer: &str) -> Result<(HashMap<String, Jwk>, Duration), String> {
        let discovery_url = format!("{issuer}/.well-known/openid-configuration");
        let (discovery, _) = self.get_json(&discovery_url).await?;
        if discovery.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err("the discovery document names another issuer".into());
        }
        let jwks_uri =
            discovery.get("jwks_uri").and_then(Value::as_str).ok_or("the discovery document has no jwks_uri")?;
        if !jwks_uri.starts_with("https://") {
            return Err("jwks_uri is not https://".into());
        }
        let (jwks, max_age) = self.get_json(jwks_uri).await?;
        let set: JwkSet = serde_json::from_value(jwks).map_err(|_| "the key set is not a JWK set".to_string())?;
        let keys = set.keys.into_iter().filter_map(|k| Some((k.common.key_id.clone()?, k))).collect();
        Ok((keys, max_age))
    }

    /// GETs a JSON document of at most [`MAX_DOCUMENT_BYTES`], and its `Cache-Control` max-age.
    async fn get_json(&self, url: &str) -> Result<(Value, Duration), String> {
        let mut response = self.client.get(url, "application/json").await?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        if response.content_length().is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
            return Err(format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        let max_age = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(MIN_MAX_AGE, MAX_MAX_AGE);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("{url} is larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let value = serde_json::from_slice(&body).map_err(|_| format!("{url} is not JSON"))?;
        Ok((value, max_age))
    }
}

/// `max-age=N` of a `Cache-Control` value (`no-store`/`no-cache`: zero,
/// which the bounds raise to the minimum).
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').map(str::trim).find_map(|d| {
        let d = d.to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(Duration::ZERO);
        }
        d.strip_prefix("max-age=")?.trim_matches('"').parse().ok().map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_gives_the_max_age() {
        assert_eq!(max_age("public, max-age=3600"), Some(Duration::from_secs(3600)));
        assert_eq!(max_age("max-age=\"60\", must-revalidate"), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=x"), None);
    }

    fn keys(kids: &[&str]) -> HashMap<String, Jwk> {
        let jwk = |kid: &str| -> Jwk {
            serde_json::from_value(serde_json::json!({
                "kty": "EC", "crv": "P-256", "kid": kid,
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }))
            .unwrap()
        };
        kids.iter().map(|k| (k.to_string(), jwk(k))).collect()
    }

    const ISSUER: &str = "https://issuer.example";
    const T0: i64 = 1_800_000_000;

    /// What the cache does, step by step, on a clock the test moves.
    #[test]
    fn fresh_keys_are_used_without_asking_and_stale_or_missing_ones_at_most_once_a_minute() {
        let mut cache = KeyCache::default();
        let (found, fetch) = cache.plan(ISSUER, "a", T0);
        assert!(found.is_none() && fetch, "nothing cached: fetch");
        cache.store(ISSUER, keys(&["a"]), Duration::from_secs(600), T0);

        let (found, fetch) = cache.plan(ISSUER, "a", T0 + 599);
        assert!(found.is_some() && !fetch, "fresh for max-age: no request");

        // An unknown kid asks again, but not twice within a minute.
        assert!(cache.plan(ISSUER, "b", T0 + 100).1, "unknown kid: fetch (the last attempt was 100 s ago)");
        assert!(!cache.plan(ISSUER, "b", T0 + 159).1, "59 s later: not again");
        assert!(cache.plan(ISSUER, "b", T0 + 160).1, "a minute later: again");

        // Stale keys: fetched again (at most once a minute), still used meanwhile.
        let (found, fetch) = cache.plan(ISSUER, "a", T0 + 700);
        assert!(found.is_some() && fetch, "stale: the old key is at hand and a fetch is due");
        let (found, fetch) = cache.plan(ISSUER, "a", T0 + 720);
        assert!(found.is_some() && !fetch, "the issuer was down: the last good key stays, no new request yet");
        assert!(cache.plan(ISSUER, "a", T0 + 760).1, "a minute after the failed attempt: ask again");

        // A new set replaces the old one.
        cache.store(ISSUER, keys(&["b"]), Duration::from_secs(300), T0 + 760);
        assert!(cache.lookup(ISSUER, "a").is_none() && cache.lookup(ISSUER, "b").is_some());
        assert!(!cache.plan(ISSUER, "b", T0 + 1059).1 && cache.plan(ISSUER, "b", T0 + 1060).1);
        assert!(cache.plan("https://other.example", "b", T0 + 1060).1, "issuers are apart");

        // The clock steps back two days: the keys are not fresh for days
        // longer than their bounds, and a fetch is not held off.
        let (found, fetch) = cache.plan(ISSUER, "b", T0 + 1060 - 2 * 86_400);
        assert!(found.is_some() && fetch, "stepped back: fetch again, the old key still at hand");
    }
}
