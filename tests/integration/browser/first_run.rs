//! The first-run path: set up the admin, create a project, log out, fail a
//! login and log back in.

use std::path::PathBuf;

use fantoccini::Client;

use super::harness::{
    assert_at, assert_styled, assert_text, body_text, fill, must, run_in_browser, screenshot, submit, wait_for,
    wait_for_path,
};
use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn a_real_browser_sets_up_creates_a_project_logs_out_and_logs_back_in() {
    let app = TestApp::spawn().await;
    run_in_browser(&app, "first-run", first_run_flow).await;
}

/// Setup → empty projects → new project → projects table → log out → wrong password → log in.
async fn first_run_flow(c: Client, base: String, shots: PathBuf) {
    // `/` leads to first-run setup while no user exists.
    must(c.goto(&format!("{base}/")).await, "open /");
    wait_for_path(&c, "/setup").await;
    wait_for(&c, "form[action='/setup']").await;
    assert_text(&c, &["Welcome", "Create the first administrator"]).await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "setup.png").await;
    fill(&c, "input[name='email']", ADMIN_EMAIL).await;
    fill(&c, "input[name='name']", "Ada Admin").await;
    fill(&c, "input[name='password']", ADMIN_PASSWORD).await;
    fill(&c, "input[name='password_confirm']", ADMIN_PASSWORD).await;
    submit(&c, "form[action='/setup']").await;

    // Setup logs the admin in and shows the empty project list.
    wait_for_path(&c, "/projects").await;
    wait_for(&c, "form[action='/projects']").await;
    assert_text(&c, &["Projects", "No projects yet", "Ada Admin", "Log out"]).await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "projects-empty.png").await;

    // Creating a project lands on its page.
    fill(&c, "form[action='/projects'] input[name='name']", "Web App").await;
    fill(&c, "form[action='/projects'] input[name='slug']", "web-app").await;
    submit(&c, "form[action='/projects']").await;
    wait_for_path(&c, "/projects/web-app").await;
    let heading = must(wait_for(&c, "main h1").await.text().await, "read the project heading");
    assert_eq!(heading, "Web App", "project page heading");
    assert_text(&c, &["web-app", "No runs yet"]).await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "project.png").await;

    // The project list now has it in its table.
    must(c.goto(&format!("{base}/projects")).await, "open /projects");
    let link = wait_for(&c, "table a[href='/projects/web-app']").await;
    assert_eq!(must(link.text().await, "read the project link"), "Web App");
    let page = body_text(&c).await;
    assert!(!page.contains("No projects yet"), "empty state shown next to a project:\n{page}");
    screenshot(&c, &shots, "projects.png").await;

    // "Log out" in the top bar ends the session.
    submit(&c, "form[action='/logout']").await;
    wait_for_path(&c, "/login").await;
    wait_for(&c, "form[action='/login']").await;
    assert_text(&c, &["Log in"]).await;
    must(c.goto(&format!("{base}/projects")).await, "open /projects after logout");
    wait_for_path(&c, "/login").await;

    // A wrong password re-renders the login page with one message.
    fill(&c, "form[action='/login'] input[name='email']", ADMIN_EMAIL).await;
    fill(&c, "form[action='/login'] input[name='password']", "not the password").await;
    submit(&c, "form[action='/login']").await;
    let error = wait_for(&c, ".flash.err").await;
    assert_eq!(must(error.text().await, "read the login error"), "Wrong email or password.");
    let focused = must(
        c.execute("return document.activeElement.matches('.flash.err[role=alert]');", vec![]).await,
        "find the focus",
    );
    assert_eq!(focused, serde_json::json!(true), "the error takes the focus, to be announced");
    assert_at(&c, "/login").await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "login-error.png").await;

    // The right password gets back in.
    fill(&c, "form[action='/login'] input[name='email']", ADMIN_EMAIL).await;
    fill(&c, "form[action='/login'] input[name='password']", ADMIN_PASSWORD).await;
    submit(&c, "form[action='/login']").await;
    wait_for_path(&c, "/projects").await;
    wait_for(&c, "table a[href='/projects/web-app']").await;
    assert_text(&c, &["Web App", "Ada Admin", "Log out"]).await;
}
