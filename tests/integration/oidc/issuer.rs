//! A real OpenID Connect issuer for the tests: a discovery document and a
//! JWKS over HTTPS on 127.0.0.1, with a certificate from a test CA that the
//! server under test trusts through `--extra-ca-file`; ES256 keys it signs
//! ID tokens with; a request counter, a switch that takes it down, and key
//! rotation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::{json, Value};

/// One signing key: its `kid`, its algorithm, its private half, its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub pem: String,
    pub jwk: Value,
}

/// The modulus of `rsa_test_key.pem` (a key made for these tests only,
/// with `openssl genrsa 2048`), base64url.
const RSA_TEST_N: &str = "oIltfocoOlRsZOPqHc_HUODto-9oSsedWPccl7UCLlk9AvBuqvflFfhRBmuztkJ4O1Qi-1qa9EVbaYShdnFxuwJJDzxic5lQe4drKVr0uWO6DXSQm6Oj2YbYY1l8z4qx1sC2z85XBtawCHVlCYOmtZxAqUp_Hxv1PMjd41gPfM-giZCPsDZivDStHeIkgJxGNCwstmgv25_3kCnKU14ukLWNpGUBZOsWmEqx7pqjYJeFSjacWlza3T8zU7M7DdQwB3w336tw191GKppSBl8TUBoW17CT9SKQ-CRe8PtXPf1qfBATl612QT0vrPCnBV2xfZibgCNERfUZx57pj9tw2w";

impl SigningKey {
    pub fn generate(kid: &str) -> SigningKey {
        let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = pair.public_key_raw(); // 0x04 || x || y
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]), "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
        });
        SigningKey { kid: kid.to_string(), alg: Algorithm::ES256, pem: pair.serialize_pem(), jwk }
    }

    /// The fixed RS256 test key (RSA keys are slow to generate).
    pub fn rsa(kid: &str) -> SigningKey {
        let pem = include_str!("rsa_test_key.pem").to_string();
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": RSA_TEST_N, "e": "AQAB"});
        SigningKey { kid: kid.to_string(), alg: Algorithm::RS256, pem, jwk }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        let key = match self.alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(self.pem.as_bytes()),
            _ => EncodingKey::from_ec_pem(self.pem.as_bytes()),
        };
        jsonwebtoken::encode(&header, claims, &key.unwrap()).unwrap()
    }
}

#[derive(Default)]
struct Shared {
    keys: Mutex<Vec<Value>>,
    requests: AtomicUsize,
    down: AtomicBool,
    /// Pad the key set to this many bytes (a hostile or broken issuer).
    padding: AtomicUsize,
    /// Where the discovery document sends for the keys, if not to the issuer.
    jwks_uri: Mutex<Option<String>>,
}

pub struct Issuer {
    pub url: String,
    pub ca_file: PathBuf,
    pub key: SigningKey,
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

impl Issuer {
    /// Starts the issuer on its own thread and actix system, at `https://127.0.0.1:…`.
    pub fn start() -> Issuer {
        Issuer::start_at("127.0.0.1")
    }

    /// The same, naming itself `host` (`127.0.0.1` or `localhost`) in its URL.
    pub fn start_at(host: &str) -> Issuer {
        let dir = tempfile::tempdir().unwrap();
        let (tls, ca_file) = crate::test_ca::server_tls(dir.path());
        let key = SigningKey::generate("key-1");
        let shared = Arc::new(Shared::default());
        shared.keys.lock().unwrap().push(key.jwk.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{host}:{}", listener.local_addr().unwrap().port());
        let (state, base) = (shared.clone(), url.clone());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new((state.clone(), base.clone())))
                        .route("/.well-known/openid-configuration", web::get().to(discovery))
                        .route("/jwks", web::get().to(jwks))
                })
                .workers(1)
                .listen_rustls_0_23(listener, tls)
                .unwrap()
                .run()
                .await
                .unwrap();
            });
        });
        Issuer { url, ca_file, key, shared, _dir: dir }
    }

    /// Requests the issuer has answered (or refused while down).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Publishes `key` beside the current ones (a key rotation).
    pub fn publish(&self, key: &SigningKey) {
        self.shared.keys.lock().unwrap().push(key.jwk.clone());
    }

    /// Makes the discovery document name `uri` as its `jwks_uri`.
    pub fn send_for_keys_to(&self, uri: &str) {
        *self.shared.jwks_uri.lock().unwrap() = Some(uri.to_string());
    }

    pub fn pad_key_set_to(&self, bytes: usize) {
        self.shared.padding.store(bytes, Ordering::SeqCst);
    }

    /// Claims of an ID token as GitHub Actions issues them, valid now.
    pub fn claims(&self, audience: &str, now: i64) -> Value {
        json!({
            "iss": self.url, "aud": audience, "sub": "repo:acme/web:ref:refs/heads/main",
            "repository": "acme/web", "ref": "refs/heads/main", "sha": "9f2c1e0", "run_id": "4711",
            "iat": now, "nbf": now, "exp": now + 300, "jti": uuid::Uuid::now_v7().to_string(),
        })
    }
}

type State = web::Data<(Arc<Shared>, String)>;

async fn discovery(state: State) -> HttpResponse {
    let (shared, base) = state.get_ref();
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if shared.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let jwks_uri = shared.jwks_uri.lock().unwrap().clone().unwrap_or_else(|| format!("{base}/jwks"));
    HttpResponse::Ok().json(json!({"issuer": base, "jwks_uri": jwks_uri}))
}

async fn jwks(state: State) -> HttpResponse {
    let (shared, _) = state.get_ref();
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if shared.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let mut body = json!({"keys": shared.keys.lock().unwrap().clone()});
    let padding = shared.padding.load(Ordering::SeqCst);
    if padding > 0 {
        body["padding"] = Value::String("x".repeat(padding));
    }
    HttpResponse::Ok().insert_header(("cache-control", "max-age=3600")).json(body)
}
