//! The OIDC exchange (API.md section 11) against a real HTTPS issuer
//! (`issuer.rs`): a valid exchange and an upload with its token, and each
//! check that must refuse, as its own test.

mod issuer;
mod outbound;
mod pages;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;
use crate::ingest::junit_report;
use issuer::{Issuer, SigningKey};

const AUDIENCE: &str = "https://proctor.example.com";
const EXCHANGE: &str = "/api/v1/oidc/exchange";

struct Setup {
    app: TestApp,
    admin: String,
    issuer: Issuer,
}

/// A server that trusts the issuer's CA, with projects `web` and `other`
/// and a publisher on `web` for `acme/web` on `refs/heads/*`.
async fn setup() -> Setup {
    let issuer = Issuer::start();
    let app = TestApp::spawn_with(SpawnOptions { args: server_args(&issuer), ..Default::default() }).await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    create_project(&app, "other");
    let publisher = json!({"issuer": issuer.url, "claims": {"sub": "repo:acme/web:*", "ref": "refs/heads/*"}});
    post(&app, "/api/v1/projects/web/trusted-publishers", &admin, publisher).await.expect(StatusCode::CREATED);
    Setup { app, admin, issuer }
}

/// The public URL, trust in the issuer's CA, and leave to fetch keys from
/// loopback, where the test issuer listens (refused by default).
fn server_args(issuer: &Issuer) -> Vec<String> {
    let ca = issuer.ca_file.display().to_string();
    ["--public-url", AUDIENCE, "--extra-ca-file", &ca, "--oidc-allow-hosts", "loopback"].map(String::from).to_vec()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn exchange(app: &TestApp, project: &str, token: &str) -> Resp {
    send(client().post(app.url(EXCHANGE)).json(&json!({"project": project, "token": token}))).await
}

/// Asserts a 401 `oidc_rejected` whose message contains `says`.
fn rejected(r: &Resp, says: &str) {
    let message = r.expect_code(StatusCode::UNAUTHORIZED, "oidc_rejected");
    assert!(message.contains(says), "expected {says:?} in {message:?}");
}

#[tokio::test]
async fn a_valid_id_token_becomes_a_short_lived_token_that_uploads_to_its_project_only() {
    let s = setup().await;
    let id_token = s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now()));
    let r = exchange(&s.app, "web", &id_token).await;
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let body = r.expect(StatusCode::CREATED);
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("prc_oidc_") && token.len() == 47, "{token}");
    assert_eq!(
        (body["project"].as_str(), body["permissions"].clone()),
        (Some("web"), json!(["runs:read", "runs:write"]))
    );
    let expires = time::OffsetDateTime::parse(
        body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let minutes = (expires.unix_timestamp() - now()) as f64 / 60.0;
    assert!((14.0..=15.1).contains(&minutes), "15 minutes by default: {minutes}");

    let run = send(
        api(&s.app, reqwest::Method::POST, "/api/v1/projects/web/results?name=unit", &token)
            .header("content-type", "application/xml")
            .body(junit_report("oidc", 3)),
    )
    .await;
    assert_eq!(run.expect(StatusCode::CREATED)["tests"], 3);
    get(&s.app, "/api/v1/projects/other/runs", &token).await.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    let me = get(&s.app, "/api/v1/whoami", &token).await.expect(StatusCode::OK);
    assert_eq!((me["token"]["kind"].as_str(), me["project"]["slug"].as_str()), (Some("oidc"), Some("web")));

    let events = audit_events(&s.app, &s.admin, "&action=token.exchanged").await;
    assert_eq!(events.len(), 1);
    let details = &events[0]["details"];
    assert_eq!(
        (details["repository"].as_str(), details["ref"].as_str(), details["sha"].as_str()),
        (Some("acme/web"), Some("refs/heads/main"), Some("9f2c1e0"))
    );
    assert_eq!(details["run_id"], "4711");
    assert!(
        !events[0].to_string().contains(&token) && !events[0].to_string().contains(&id_token),
        "no secret in the trail"
    );

    // Listed with the project's tokens, revocable, never rotated.
    let id = me["token"]["id"].as_str().unwrap().to_string();
    post(&s.app, &format!("/api/v1/tokens/{id}/rotate"), &s.admin, json!({}))
        .await
        .expect_code(StatusCode::CONFLICT, "not_rotatable");
    delete(&s.app, &format!("/api/v1/tokens/{id}"), &s.admin).await.expect(StatusCode::NO_CONTENT);
    get(&s.app, "/api/v1/whoami", &token).await.expect_code(StatusCode::UNAUTHORIZED, "token_revoked");
}

#[tokio::test]
async fn an_id_token_is_exchanged_once() {
    let s = setup().await;
    let id_token = s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now()));
    exchange(&s.app, "web", &id_token).await.expect(StatusCode::CREATED);
    rejected(&exchange(&s.app, "web", &id_token).await, "exchanged already (jti)");
}

#[tokio::test]
async fn an_issuer_no_project_trusts_costs_no_request_to_any_issuer() {
    let s = setup().await;
    let mut claims = s.issuer.claims(AUDIENCE, now());
    claims["iss"] = json!("https://token.actions.githubusercontent.com");
    rejected(&exchange(&s.app, "web", &s.issuer.key.sign(&claims)).await, "no trusted publisher");
    // Malformed and stale tokens too are refused without the issuer.
    rejected(&exchange(&s.app, "web", "not-a-jwt").await, "not an ID token");
    let mut old = s.issuer.claims(AUDIENCE, now() - 7200);
    old["exp"] = json!(now() + 600);
    rejected(&exchange(&s.app, "web", &s.issuer.key.sign(&old)).await, "more than an hour old");
    assert_eq!(s.issuer.requests(), 0);
}

#[tokio::test]
async fn an_unknown_project_is_refused_like_one_without_a_matching_publisher() {
    let s = setup().await;
    let unknown = exchange(&s.app, "nowhere", &s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now()))).await;
    let untrusting = exchange(&s.app, "other", &s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now()))).await;
    rejected(&unknown, "no trusted publisher");
    assert_eq!(unknown.json(), untrusting.json(), "the same answer: projects are not disclosed");
}

#[tokio::test]
async fn each_claim_and_the_audience_must_match() {
    let s = setup().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = s.issuer.claims(AUDIENCE, now());
        change(&mut claims);
        s.issuer.key.sign(&claims)
    };
    rejected(
        &exchange(&s.app, "web", &with(&|c| c["ref"] = json!("refs/tags/v1"))).await,
        r#"claim ref "refs/tags/v1" does not match "refs/heads/*""#,
    );
    rejected(
        &exchange(&s.app, "web", &with(&|c| c["sub"] = json!("repo:evil/web:ref:refs/heads/main"))).await,
        "claim sub",
    );
    rejected(
        &exchange(
            &s.app,
            "web",
            &with(&|c| {
                c.as_object_mut().unwrap().remove("ref");
            }),
        )
        .await,
        "claim ref is missing",
    );
    rejected(&exchange(&s.app, "web", &with(&|c| c["aud"] = json!("https://elsewhere.example.com"))).await, "audience");
    rejected(&exchange(&s.app, "web", &with(&|c| c["exp"] = json!(now() - 120))).await, "expired");
    rejected(&exchange(&s.app, "web", &with(&|c| c["nbf"] = json!(now() + 600))).await, "not valid yet");
}

#[tokio::test]
async fn forged_signatures_are_refused() {
    let s = setup().await;
    let claims = s.issuer.claims(AUDIENCE, now());
    // Signed by a key the issuer never published, under its kid.
    let mut stranger = SigningKey::generate("key-1");
    stranger.kid = s.issuer.key.kid.clone();
    rejected(&exchange(&s.app, "web", &stranger.sign(&claims)).await, "signature does not verify");
    // `alg: none`, and HS256 keyed with the public key (the classic confusion).
    let enc = |v: &Value| {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, serde_json::to_vec(v).unwrap())
    };
    let none = format!("{}.{}.", enc(&json!({"alg": "none", "kid": "key-1"})), enc(&claims));
    rejected(&exchange(&s.app, "web", &none).await, "not signed");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("key-1".into());
    let public = serde_json::to_vec(&s.issuer.key.jwk).unwrap();
    let hs = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&public).unwrap()).unwrap();
    rejected(&exchange(&s.app, "web", &hs).await, "\"HS256\" is not accepted");
}

#[tokio::test]
async fn keys_are_cached_fetched_again_for_a_new_kid_and_kept_when_the_issuer_is_down() {
    let s = setup().await;
    let first = exchange(&s.app, "web", &s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now()))).await;
    first.expect(StatusCode::CREATED);
    let after_first = s.issuer.requests();
    assert_eq!(after_first, 2, "the discovery document and the key set");
    exchange(&s.app, "web", &s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now()))).await.expect(StatusCode::CREATED);
    assert_eq!(s.issuer.requests(), after_first, "warm keys: no request");

    // The issuer goes down: the cached key still works, a new kid fails cleanly.
    s.issuer.set_down(true);
    exchange(&s.app, "web", &s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now()))).await.expect(StatusCode::CREATED);
    let rotated = SigningKey::generate("key-2");
    s.issuer.publish(&rotated);
    // The keys were fetched less than a minute ago: a kid they lack is
    // refused without asking the issuer again (at most once a minute).
    let before = s.issuer.requests();
    rejected(&exchange(&s.app, "web", &rotated.sign(&s.issuer.claims(AUDIENCE, now()))).await, "no key \"key-2\"");
    assert_eq!(s.issuer.requests(), before, "at most one fetch per issuer per minute");
}

#[tokio::test]
async fn an_oversized_key_set_is_refused_as_it_arrives() {
    let s = setup().await;
    s.issuer.pad_key_set_to(10 * 1024 * 1024);
    let r = exchange(&s.app, "web", &s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now()))).await;
    rejected(&r, "larger than");
}

#[tokio::test]
async fn the_exchange_is_rate_limited_per_address() {
    let s = setup().await;
    let mut limited = None;
    for i in 0..70 {
        let r = exchange(&s.app, "web", "not-a-jwt").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, r));
            break;
        }
    }
    let (i, r) = limited.expect("limited within 70 requests");
    assert_eq!(i, 60, "60 a minute");
    r.expect_code(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(r.header("retry-after").is_some());
}

/// GitHub Actions' ID token endpoint, faked: answers `{"value": token}` to a
/// request bearing `bearer`, and keeps each request line it saw.
fn github_token_endpoint(
    token: String,
    bearer: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token?api-version=2.0", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut authorized = false;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                authorized |= line.to_ascii_lowercase().trim() == format!("authorization: bearer {bearer}");
            }
            log.lock().unwrap().push(request_line.trim().to_string());
            let (status, body) = if authorized {
                ("200 OK", json!({"value": token}).to_string())
            } else {
                ("403 Forbidden", String::new())
            };
            let response = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (url, seen)
}

#[tokio::test]
async fn proctor_upload_without_a_token_exchanges_github_actions_id_token() {
    let s = setup().await;
    // The audience is the server's URL, as `proctor upload` requests it by default.
    let audience = s.app.base.trim_end_matches('/').to_string();
    let publisher = json!({"issuer": s.issuer.url, "audience": audience, "claims": {"sub": "repo:acme/web:*"}});
    post(&s.app, "/api/v1/projects/other/trusted-publishers", &s.admin, publisher).await.expect(StatusCode::CREATED);
    let id_token = s.issuer.key.sign(&s.issuer.claims(&audience, now()));
    let (url, seen) = github_token_endpoint(id_token, "request-token");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("unit.xml"), junit_report("gh", 2)).unwrap();
    let mut command = std::process::Command::new(binary());
    command.current_dir(dir.path()).args(["upload", "--url", &s.app.base, "--project", "other", "unit.xml"]);
    for var in crate::upload::CI_VARS {
        command.env_remove(var);
    }
    command.env("ACTIONS_ID_TOKEN_REQUEST_URL", &url).env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token");
    let out = command.output().unwrap();
    let (stdout, stderr) = (crate::upload::text(&out.stdout), crate::upload::text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("exchanged GitHub Actions' OpenID Connect ID token for a token of other"), "{stderr}");
    assert!(stdout.contains("/projects/other/runs/"), "{stdout}");
    assert!(!stderr.contains("prc_oidc_") && !stdout.contains("prc_oidc_"), "the token is never printed");
    assert!(!stderr.contains("rotate it"), "a minutes-long exchanged token is not warned about: {stderr}");
    let requested = seen.lock().unwrap().clone();
    let expected_audience: String = url::form_urlencoded::byte_serialize(audience.as_bytes()).collect();
    assert!(requested[0].contains(&format!("&audience={expected_audience}")), "{requested:?}");
    let runs = get(&s.app, "/api/v1/projects/other/runs", &s.admin).await.expect(StatusCode::OK);
    assert_eq!(runs["runs"][0]["tests"], 2);
}

#[tokio::test]
async fn rs256_keys_verify_too_and_a_key_of_the_wrong_type_does_not() {
    let s = setup().await;
    let rsa = SigningKey::rsa("rsa-1");
    s.issuer.publish(&rsa);
    // The first exchange fetches the keys, the RSA one among them.
    exchange(&s.app, "web", &rsa.sign(&s.issuer.claims(AUDIENCE, now()))).await.expect(StatusCode::CREATED);
    // An ES256 token naming the RSA key's kid: the key does not fit the algorithm.
    let confused = SigningKey::generate("rsa-1");
    rejected(&exchange(&s.app, "web", &confused.sign(&s.issuer.claims(AUDIENCE, now()))).await, "not a key for ES256");
}

#[tokio::test]
async fn an_exchanged_token_expires_after_its_minutes() {
    let s = setup().await;
    let body = exchange(&s.app, "web", &s.issuer.key.sign(&s.issuer.claims(AUDIENCE, now())))
        .await
        .expect(StatusCode::CREATED);
    let token = body["token"].as_str().unwrap().to_string();
    get(&s.app, "/api/v1/whoami", &token).await.expect(StatusCode::OK);
    let listed = get(&s.app, "/api/v1/tokens?all=true", &s.admin).await.expect(StatusCode::OK);
    let kinds: Vec<&str> = listed["tokens"].as_array().unwrap().iter().filter_map(|t| t["kind"].as_str()).collect();
    assert!(kinds.contains(&"oidc"), "listed among all tokens: {kinds:?}");
    let mut args = server_args(&s.issuer);
    args.extend(later(16 * 60));
    let app = s.app.restart_with(args).await;
    get(&app, "/api/v1/whoami", &token).await.expect_code(StatusCode::UNAUTHORIZED, "token_expired");

    // A day past its expiry, housekeeping (at start) deletes it; the audit
    // log and the publisher's exchange list keep the record.
    let mut args = server_args(&s.issuer);
    args.extend(later(16 * 60 + 86_400 + 60));
    let app = app.restart_with(args).await;
    poll(std::time::Duration::from_secs(10), "the expired OIDC token deleted", || async {
        let listed = get(&app, "/api/v1/tokens?all=true", &s.admin).await.expect(StatusCode::OK);
        let tokens = listed["tokens"].as_array().unwrap().clone();
        (!tokens.iter().any(|t| t["kind"] == "oidc")).then_some(())
    })
    .await;
    get(&app, "/api/v1/whoami", &token).await.expect_code(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(audit_events(&app, &s.admin, "&action=token.exchanged").await.len(), 1);
    assert_eq!(sql_count(&app, "SELECT count(*) FROM oidc_exchanges WHERE token_id IS NULL"), 1);
}
