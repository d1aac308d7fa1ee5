//! Where the server fetches issuers' keys from (`--oidc-allow-hosts`):
//! public addresses only by default, so a publisher naming an internal
//! address, or a discovery document pointing its keys there, cannot aim
//! the server at its own network. Names are resolved once and the checked
//! address is the one connected to.

use reqwest::StatusCode;
use serde_json::json;

use super::issuer::Issuer;
use super::{exchange, now, rejected, AUDIENCE};
use crate::api_helpers::*;
use crate::helpers::*;

/// A server trusting the issuer's CA, with `allow` as `--oidc-allow-hosts`
/// (none: the default), and a publisher of `issuer` on project `web`.
async fn server(issuer: &Issuer, allow: Option<&str>) -> (TestApp, String) {
    let ca = issuer.ca_file.display().to_string();
    let mut args: Vec<String> = ["--public-url", AUDIENCE, "--extra-ca-file", &ca].map(String::from).to_vec();
    if let Some(allow) = allow {
        args.extend(["--oidc-allow-hosts".to_string(), allow.to_string()]);
    }
    let app = TestApp::spawn_with(SpawnOptions { args, ..Default::default() }).await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    let publisher = json!({"issuer": issuer.url, "claims": {"repository": "acme/web"}});
    post(&app, "/api/v1/projects/web/trusted-publishers", &admin, publisher).await.expect(StatusCode::CREATED);
    (app, admin)
}

#[tokio::test]
async fn an_issuer_on_loopback_is_refused_by_default_without_a_request() {
    let issuer = Issuer::start();
    let (app, _) = server(&issuer, None).await;
    let refused = exchange(&app, "web", &issuer.key.sign(&issuer.claims(AUDIENCE, now()))).await;
    rejected(&refused, "127.0.0.1 is at an address this server may not reach (see --oidc-allow-hosts)");
    assert_eq!(issuer.requests(), 0, "no connection was made");
}

#[tokio::test]
async fn a_host_name_is_checked_by_the_addresses_it_resolves_to() {
    let issuer = Issuer::start_at("localhost");
    let (app, _) = server(&issuer, None).await;
    let id_token = || issuer.key.sign(&issuer.claims(AUDIENCE, now()));
    let refused = exchange(&app, "web", &id_token()).await;
    rejected(&refused, "localhost is at an address this server may not reach (see --oidc-allow-hosts)");
    assert!(!refused.text.contains("127.0.0.1"), "the address it resolved to is not told: {}", refused.text);
    assert_eq!(issuer.requests(), 0);

    // Allowing the loopback network, or the name itself, lets it through.
    for allow in ["127.0.0.0/8", "localhost"] {
        let (app, _) = server(&issuer, Some(allow)).await;
        exchange(&app, "web", &id_token()).await.expect(StatusCode::CREATED);
    }
    assert!(issuer.requests() >= 4, "discovery and keys, twice: {}", issuer.requests());
}

#[tokio::test]
async fn keys_the_discovery_document_places_on_a_private_address_are_not_fetched() {
    let issuer = Issuer::start();
    let cases =
        [("https://10.0.0.1/jwks", "10.0.0.1"), ("https://[::ffff:169.254.169.254]/jwks", "::ffff:169.254.169.254")];
    for (uri, host) in cases {
        issuer.send_for_keys_to(uri);
        // A fresh server each time: a failed fetch is retried a minute later.
        let (app, _) = server(&issuer, Some("loopback")).await;
        let refused = exchange(&app, "web", &issuer.key.sign(&issuer.claims(AUDIENCE, now()))).await;
        rejected(&refused, &format!("{host} is at an address this server may not reach (see --oidc-allow-hosts)"));
        assert!(!refused.text.contains("loopback"), "the allow-list is not told: {}", refused.text);
    }
}

#[tokio::test]
async fn a_bad_allow_list_stops_the_server_naming_the_entry() {
    let app = TestApp::spawn().await;
    let out = app.cli(&["serve", "--oidc-allow-hosts", "10.0.0.0/40", "--bind", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--oidc-allow-hosts") && stderr.contains("10.0.0.0/40"), "{stderr}");
}
