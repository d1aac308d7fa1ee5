//! Uploading without a stored secret (API.md section 11): with no
//! `PROCTOR_TOKEN`, a CI job that can present an OpenID Connect ID token
//! trades it at `POST /api/v1/oidc/exchange` for a short-lived token of the
//! project. GitHub Actions hands one out on request
//! (`ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN`, with `permissions:
//! id-token: write`); GitLab (`id_tokens:`) and others put one in
//! `PROCTOR_ID_TOKEN`.

use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::Url;
use serde::Deserialize;

/// Where this job's ID token comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum IdTokenSource {
    /// GitHub Actions: ask `url` (with `&audience=`), presenting `bearer`.
    GitHub { url: String, bearer: String },
    /// Given as it is (`PROCTOR_ID_TOKEN`).
    Given(String),
}

impl IdTokenSource {
    pub fn describe(&self) -> &'static str {
        match self {
            IdTokenSource::GitHub { .. } => "GitHub Actions' OpenID Connect ID token",
            IdTokenSource::Given(_) => "the OpenID Connect ID token in PROCTOR_ID_TOKEN",
        }
    }
}

/// The ID token this environment offers, if any.
pub fn source(env: &dyn Fn(&str) -> Option<String>) -> Option<IdTokenSource> {
    let non_empty = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if let Some(token) = non_empty("PROCTOR_ID_TOKEN") {
        return Some(IdTokenSource::Given(token));
    }
    let url = non_empty("ACTIONS_ID_TOKEN_REQUEST_URL")?;
    let bearer = non_empty("ACTIONS_ID_TOKEN_REQUEST_TOKEN")?;
    Some(IdTokenSource::GitHub { url, bearer })
}

/// The audience to request: `PROCTOR_OIDC_AUDIENCE`, or the server's URL
/// without a trailing slash (what a publisher expects by default).
pub fn audience(env: &dyn Fn(&str) -> Option<String>, base: &Url) -> String {
    env("PROCTOR_OIDC_AUDIENCE")
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| base.as_str().trim_end_matches('/').to_string())
}

#[derive(Deserialize)]
struct GitHubAnswer {
    value: String,
}

#[derive(Deserialize)]
pub struct Exchanged {
    pub token: String,
    pub expires_at: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    message: String,
}

fn client() -> Result<Client, String> {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("proctor-upload/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The ID token itself: asked of GitHub, or as given.
fn id_token(client: &Client, source: IdTokenSource, audience: &str) -> Result<String, String> {
    match source {
        IdTokenSource::Given(token) => Ok(token),
        IdTokenSource::GitHub { url, bearer } => {
            let mut url = Url::parse(&url).map_err(|_| "ACTIONS_ID_TOKEN_REQUEST_URL is not a URL".to_string())?;
            url.query_pairs_mut().append_pair("audience", audience);
            let response = client
                .get(url)
                .bearer_auth(bearer)
                .send()
                .map_err(|e| format!("could not request the ID token from GitHub Actions: {}", e.without_url()))?;
            if !response.status().is_success() {
                return Err(format!(
                    "GitHub Actions refused the ID token request ({}); does the job have `permissions: id-token: write`?",
                    response.status()
                ));
            }
            let answer: GitHubAnswer = response
                .json()
                .map_err(|_| "GitHub Actions answered the ID token request with no token".to_string())?;
            Ok(answer.value)
        }
    }
}

/// Trades this job's ID token for a token of `project` on the server at `base`.
pub fn exchange(base: &Url, project: &str, source: IdTokenSource, audience: &str) -> Result<Exchanged, String> {
    let client = client()?;
    let id_token = id_token(&client, source, audience)?;
    let url = base.join("api/v1/oidc/exchange").map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .json(&serde_json::json!({"project": project, "token": id_token}))
        .send()
        .map_err(|e| format!("could not reach the server to exchange the ID token: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        let reason = response.json::<ErrorAnswer>().map(|e| e.message).unwrap_or_else(|_| status.to_string());
        return Err(format!("the server refused the ID token: {reason}"));
    }
    response.json().map_err(|_| "the server's answer to the exchange is not a token".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_source_is_the_given_token_or_github_s_request_endpoint() {
        assert_eq!(source(&env(&[])), None);
        assert_eq!(source(&env(&[("PROCTOR_ID_TOKEN", " eyJ.a.b ")])), Some(IdTokenSource::Given("eyJ.a.b".into())));
        assert_eq!(source(&env(&[("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/x?a=1")])), None, "no request token");
        assert_eq!(
            source(&env(&[
                ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/x?a=1"),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t")
            ])),
            Some(IdTokenSource::GitHub { url: "https://gh/x?a=1".into(), bearer: "t".into() })
        );
        let base = Url::parse("https://proctor.example.com/").unwrap();
        assert_eq!(audience(&env(&[]), &base), "https://proctor.example.com");
        assert_eq!(audience(&env(&[("PROCTOR_OIDC_AUDIENCE", "proctor")]), &base), "proctor");
    }
}
