//! Every page the other flows do not reach, with realistic content, checked
//! by axe-core like every page a browser test looks at (`screenshot` runs
//! it): the Errors tab, quarantine rules, a project's settings (with a
//! project key listed),
//! people and service accounts, roles, the audit log and the instance's
//! webhooks. (A form sent back with its errors is the login page's, in
//! `first_run`.)

use std::path::PathBuf;

use fantoccini::Client;
use reqwest::{Method, StatusCode};

use super::harness::{log_in_as_admin, must, run_in_browser, screenshot, wait_for, wait_for_path};
use super::results::{baseline_report, failing_report, SLUG};
use crate::api_helpers::{api, cli_key, cli_ok, create_admin, create_project, send};
use crate::helpers::TestApp;

#[tokio::test]
async fn every_other_page_passes_axe_core() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, SLUG);
    cli_ok(&app, &["admin", "create-user", "--email", "bea@example.com", "--name", "Bea Viewer", "--role", "viewer"]);
    cli_ok(&app, &["admin", "create-service-account", "--name", "nightly", "--role", "member"]);
    // A project key (listed in the project's settings) uploads the runs.
    let token = cli_key(&app, SLUG, "runs:write,runs:read");
    // A failing run, so the Errors tab and the project have something to show.
    for (xml, commit) in [(baseline_report(), "aaa111"), (failing_report(), "bbb222")] {
        let path = format!("/api/v1/projects/{SLUG}/results?commit={commit}&branch=main&name=ci");
        let request = api(&app, Method::POST, &path, &token).header("content-type", "application/xml").body(xml);
        send(request).await.expect(StatusCode::CREATED);
    }
    run_in_browser(&app, "tour", tour).await;
}

async fn tour(c: Client, base: String, shots: PathBuf) {
    log_in_as_admin(&c, &base).await;
    let pages = [
        (format!("/projects/{SLUG}/errors"), "tour-errors.png"),
        (format!("/projects/{SLUG}/quarantine"), "tour-quarantine.png"),
        (format!("/projects/{SLUG}/settings"), "tour-project-settings.png"),
        ("/settings/admin/users".to_string(), "tour-users.png"),
        ("/settings/admin/service-accounts".to_string(), "tour-service-accounts.png"),
        ("/settings/admin/roles".to_string(), "tour-roles.png"),
        ("/settings/admin/roles/viewer".to_string(), "tour-role.png"),
        ("/settings/admin/audit".to_string(), "tour-audit.png"),
        ("/settings/admin/webhooks".to_string(), "tour-webhooks.png"),
    ];
    for (path, shot) in &pages {
        must(c.goto(&format!("{base}{path}")).await, &format!("open {path}"));
        wait_for_path(&c, path).await;
        wait_for(&c, "main").await;
        screenshot(&c, &shots, shot).await;
    }
}
