//! Trusted publishers in a real browser: from a project's settings to its
//! Trusted publishers page, the GitLab preset and back to GitHub's, the
//! repository and ref filled in, added, and listed (and stored as asked).

use std::path::PathBuf;

use fantoccini::Client;
use reqwest::StatusCode;
use serde_json::json;

use super::harness::{
    assert_styled, assert_text, click, fill, log_in_as_admin, screenshot, submit, wait_for, wait_for_path,
};
use crate::api_helpers::{cli_token, create_admin, create_project, get};
use crate::helpers::{TestApp, ADMIN_EMAIL};

const PAGE: &str = "/projects/web/settings/publishers";

#[tokio::test]
async fn a_publisher_is_added_from_the_github_preset_in_a_real_browser() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, "web");
    super::harness::run_in_browser(&app, "publishers", flow).await;
    let token = cli_token(&app, ADMIN_EMAIL, "check", "projects:manage,projects:read", &[]);
    let listed = get(&app, "/api/v1/projects/web/trusted-publishers", &token).await.expect(StatusCode::OK);
    let publisher = &listed["trusted_publishers"][0];
    assert_eq!(publisher["issuer"], "https://token.actions.githubusercontent.com");
    assert_eq!(publisher["claims"], json!({"repository": "acme/web", "ref": "refs/heads/main"}));
    assert_eq!(publisher["audience"], app.base.trim_end_matches('/'), "the server's own URL by default");
    assert_eq!(publisher["permissions"], json!(["runs:read", "runs:write"]));
}

async fn flow(c: Client, base: String, shots: PathBuf) {
    log_in_as_admin(&c, &base).await;
    super::harness::must(c.goto(&format!("{base}/projects/web/settings")).await, "open the settings");
    click(&c, "#trusted-publishers a[href$='/settings/publishers']").await;
    wait_for_path(&c, PAGE).await;
    assert_styled(&c).await;
    assert_text(&c, &["No trusted publishers", "Add a trusted publisher"]).await;

    click(&c, "nav.presets a[href*='preset=gitlab']").await;
    wait_for(&c, "input[name='claim_name'][value='project_path']").await;
    click(&c, "nav.presets a[href*='preset=github']").await;
    wait_for(&c, "input[name='claim_name'][value='repository']").await;
    let issuer = wait_for(&c, "input[name='issuer']").await;
    let issuer = super::harness::must(issuer.prop("value").await, "read the issuer");
    assert_eq!(issuer.as_deref(), Some("https://token.actions.githubusercontent.com"));
    // The first rows are the preset's claims: repository, then ref.
    fill(&c, ".claim:nth-of-type(1) input[name='claim_glob']", "acme/web").await;
    fill(&c, ".claim:nth-of-type(2) input[name='claim_glob']", "refs/heads/main").await;
    screenshot(&c, &shots, "publishers-form.png").await;
    submit(&c, "form.publisher-form").await;
    // The form posts back to the same path: wait for the publisher itself.
    wait_for(&c, "article.publisher").await;
    assert_text(&c, &["Trusted publisher added", "GitHub Actions", "acme/web", "refs/heads/main", "None yet."]).await;
    screenshot(&c, &shots, "publishers-list.png").await;
}
