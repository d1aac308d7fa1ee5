//! The checks of an OpenID Connect ID token that need neither keys nor the
//! network (API.md section 11): its shape, its algorithm, and its times.
//! They run first, so that a malformed or stale token, or one from an
//! issuer no project trusts, costs no request to any issuer. The signature
//! is checked afterwards by `auth::oidc_keys` with `jsonwebtoken`; the
//! claims read here are compared again with the verified ones.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: i64 = 60;
/// An ID token issued longer ago than this is refused, whatever its `exp`.
pub const MAX_AGE_SECS: i64 = 3600;
/// A compact JWS longer than this is not an ID token (GitHub's are ~1.5 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The algorithms accepted: asymmetric only, so a public key can never be
/// used as an HMAC secret (the classic confusion), and `none` never.
pub const ALGORITHMS: [&str; 2] = ["RS256", "ES256"];

/// Why an ID token is refused, as the 401's message says it (never
/// echoing the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub fn refused(message: impl Into<String>) -> Refused {
    Refused(message.into())
}

/// What the unverified token says: its header's `alg` and `kid`, and its claims.
#[derive(Debug, Clone)]
pub struct Peeked {
    pub alg: String,
    pub kid: String,
    pub claims: Map<String, Value>,
}

impl Peeked {
    pub fn issuer(&self) -> &str {
        self.claims.get("iss").and_then(Value::as_str).unwrap_or_default()
    }
}

fn segment(part: &str, what: &str) -> Result<Map<String, Value>, Refused> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| refused(format!("the ID token's {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(refused(format!("the ID token's {what} is not a JSON object"))),
    }
}

/// Reads a compact JWS without verifying it: three base64url parts, a
/// header with an accepted `alg` and a `kid`, claims with `iss`, `aud`,
/// `exp`, `iat` and `jti`.
pub fn peek(token: &str) -> Result<Peeked, Refused> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(refused("the token is not an ID token (a JWT)"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(refused("the token is not an ID token (a JWT of three parts)"));
    };
    if signature.is_empty() {
        return Err(refused("the ID token is not signed"));
    }
    let header = segment(header, "header")?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default().to_string();
    if !ALGORITHMS.contains(&alg.as_str()) {
        return Err(refused(format!("algorithm {alg:?} is not accepted; RS256 or ES256 only")));
    }
    let kid = header.get("kid").and_then(Value::as_str).unwrap_or_default().to_string();
    if kid.is_empty() || kid.len() > 200 {
        return Err(refused("the ID token's header names no key (kid)"));
    }
    let claims = segment(payload, "claims")?;
    for name in ["iss", "jti"] {
        if !claims.get(name).and_then(Value::as_str).is_some_and(|s| !s.is_empty() && s.len() <= 500) {
            return Err(refused(format!("the ID token has no {name}")));
        }
    }
    for name in ["exp", "iat"] {
        if !claims.get(name).is_some_and(Value::is_i64) {
            return Err(refused(format!("the ID token has no {name}")));
        }
    }
    if audiences(&claims).is_empty() {
        return Err(refused("the ID token has no aud"));
    }
    Ok(Peeked { alg, kid, claims })
}

/// `aud` as a list: one string, or an array of strings.
pub fn audiences(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn number(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// `exp`, `nbf` and `iat` against `now`, each with [`LEEWAY_SECS`], and
/// no older than [`MAX_AGE_SECS`].
pub fn check_times(claims: &Map<String, Value>, now: i64) -> Result<(), Refused> {
    let exp = number(claims, "exp").ok_or_else(|| refused("the ID token has no exp"))?;
    let iat = number(claims, "iat").ok_or_else(|| refused("the ID token has no iat"))?;
    if exp + LEEWAY_SECS < now {
        return Err(refused("the ID token has expired"));
    }
    if number(claims, "nbf").is_some_and(|nbf| nbf - LEEWAY_SECS > now) {
        return Err(refused("the ID token is not valid yet (nbf)"));
    }
    if iat - LEEWAY_SECS > now {
        return Err(refused("the ID token was issued in the future (iat)"));
    }
    if now - iat > MAX_AGE_SECS {
        return Err(refused("the ID token is more than an hour old; request a new one"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(header: Value, claims: Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        format!("{}.{}.c2ln", enc(&header), enc(&claims))
    }

    fn claims() -> Value {
        json!({"iss": "https://ci.example.com", "aud": "proctor", "exp": 2000, "iat": 1000, "jti": "j1", "sub": "repo:a/b"})
    }

    #[test]
    fn peeking_reads_header_and_claims_and_refuses_what_is_not_an_id_token() {
        let ok = peek(&jwt(json!({"alg": "ES256", "kid": "k1"}), claims())).unwrap();
        assert_eq!((ok.alg.as_str(), ok.kid.as_str(), ok.issuer()), ("ES256", "k1", "https://ci.example.com"));
        let refusal = |token: &str| peek(token).unwrap_err().0;
        assert!(refusal("not a jwt").contains("three parts"));
        assert!(refusal("a.b").contains("three parts"));
        assert!(refusal(&jwt(json!({"alg": "none", "kid": "k1"}), claims())).contains("\"none\" is not accepted"));
        assert!(refusal(&jwt(json!({"alg": "HS256", "kid": "k1"}), claims())).contains("\"HS256\" is not accepted"));
        assert!(refusal(&jwt(json!({"alg": "RS256"}), claims())).contains("kid"));
        let mut no_jti = claims();
        no_jti.as_object_mut().unwrap().remove("jti");
        assert!(refusal(&jwt(json!({"alg": "RS256", "kid": "k"}), no_jti)).contains("no jti"));
        let mut no_aud = claims();
        no_aud["aud"] = json!([]);
        assert!(refusal(&jwt(json!({"alg": "RS256", "kid": "k"}), no_aud)).contains("no aud"));
        let unsigned = jwt(json!({"alg": "RS256", "kid": "k"}), claims());
        assert!(refusal(unsigned.trim_end_matches("c2ln")).contains("not signed"));
        assert!(refusal(&"a".repeat(MAX_TOKEN_BYTES + 1)).contains("not an ID token"));
    }

    #[test]
    fn times_have_a_minute_of_leeway_and_an_hour_of_age() {
        let c = |exp: i64, iat: i64, nbf: Option<i64>| {
            let mut v = json!({"exp": exp, "iat": iat});
            if let Some(n) = nbf {
                v["nbf"] = json!(n);
            }
            v.as_object().unwrap().clone()
        };
        assert!(check_times(&c(2000, 1000, Some(1000)), 1500).is_ok());
        assert!(check_times(&c(2000, 1000, None), 2060).is_ok(), "within the leeway");
        assert!(check_times(&c(2000, 1000, None), 2061).unwrap_err().0.contains("expired"));
        assert!(check_times(&c(9000, 1000, Some(1200)), 1139).unwrap_err().0.contains("nbf"));
        assert!(check_times(&c(9000, 1100, None), 1039).unwrap_err().0.contains("future"));
        assert!(check_times(&c(9000, 1000, None), 4600).is_ok());
        assert!(check_times(&c(9000, 1000, None), 4601).unwrap_err().0.contains("more than an hour old"));
    }
}
