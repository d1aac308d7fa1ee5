//! Access tokens through the web UI: generate and show once, use on the API,
//! rotate, revoke, the admin list and the expiration policy, project API keys,
//! and CSRF on every form, one submodule per theme. The page helpers they
//! share are here.

mod admin_list;
mod csrf;
mod expiry;
mod own_tokens;
mod project_keys;

use reqwest::{Client, Response, StatusCode};

use crate::helpers::*;

const PAT_RE: &str = r"prc_pat_[0-9A-Za-z]{38}";
const KEY_RE: &str = r"prc_key_[0-9A-Za-z]{38}";

/// The secret in the show-once page's `<input id="new-token">`.
fn secret_on(page: &str, pattern: &str) -> String {
    let at = page.find("id=\"new-token\"").unwrap_or_else(|| panic!("no secret field:\n{page}"));
    let tag = &page[at..at + page[at..].find('>').unwrap()];
    let re = regex_lite::Regex::new(&format!("value=\"({pattern})\"")).unwrap();
    re.captures(tag).unwrap_or_else(|| panic!("no secret in {tag}"))[1].to_string()
}

/// `prc_pat_a1B2…x9Y8`, as the tables show a secret.
fn preview_of(secret: &str) -> String {
    let (prefix, rest) = secret.split_at(8);
    format!("{prefix}{}…{}", &rest[..4], &rest[rest.len() - 4..])
}

/// Ids in `action="{before}{id}{after}"` form targets, in page order.
fn ids_in(page: &str, before: &str, after: &str) -> Vec<String> {
    let re = regex_lite::Regex::new(&format!(
        "{}([0-9a-f-]{{36}}){}",
        regex_lite::escape(before),
        regex_lite::escape(after)
    ))
    .unwrap();
    re.captures_iter(page).map(|c| c[1].to_string()).collect()
}

/// Generates a token through the form; returns the response (200 + page, or the error page).
async fn generate(app: &TestApp, client: &Client, fields: &[(&str, &str)]) -> Response {
    app.submit(client, "/settings/tokens/new", "/settings/tokens", fields).await
}

/// Generates a token that must succeed; returns its secret.
async fn generate_ok(app: &TestApp, client: &Client, fields: &[(&str, &str)]) -> String {
    let response = generate(app, client, fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    secret_on(&response.text().await.unwrap(), PAT_RE)
}

async fn whoami(app: &TestApp, header: &str, secret: &str) -> StatusCode {
    let value = if header == "authorization" { format!("Bearer {secret}") } else { secret.to_string() };
    let response =
        reqwest::Client::new().get(app.url("/api/v1/whoami")).header(header, value).send().await.expect("whoami");
    response.status()
}

async fn body(app: &TestApp, client: &Client, path: &str) -> String {
    let response = app.get(client, path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.text().await.unwrap()
}

async fn create_project(app: &TestApp, admin: &Client, slug: &str) {
    let response = app.submit(admin, "/projects", "/projects", &[("name", slug), ("slug", slug)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}
