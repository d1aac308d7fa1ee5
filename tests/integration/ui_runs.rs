//! The test-results pages: a project's runs with its charts, one run
//! (failures first, the baseline comparison, attachments), flaky and slowest
//! tests and a test's history; escaping of hostile names everywhere (SVG
//! included), permissions (viewer, a role without `runs:read`, no session)
//! and 404s.

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;

const XSS: &str = "<script>alert(1)</script>";
const XSS_XML: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

/// A JUnit report of five tests in suite `Suite`: `passing_one` (failed
/// when `first_fails`), the hostile-named test (failed unless `xss_passes`),
/// `flaky_one` (flaky), `skipped_one` and `slow` (`slow_secs`).
fn report(first_fails: bool, xss_passes: bool, slow_secs: &str) -> String {
    let first = if first_fails {
        r#"<testcase classname="Suite" name="passing_one" time="0.010"><failure message="expected 1, got 2">at passing_one (suite.js:10)</failure></testcase>"#
    } else {
        r#"<testcase classname="Suite" name="passing_one" time="0.010"/>"#
    };
    let xss = if xss_passes {
        format!(r#"<testcase classname="Suite" name="{XSS_XML}" time="0.020"/>"#)
    } else {
        format!(
            r#"<testcase classname="Suite" name="{XSS_XML}" time="0.020"><failure message="{XSS_XML} boom">stack &lt;b&gt;trace&lt;/b&gt;
second line {XSS_XML}</failure></testcase>"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="Suite" tests="5">
{first}
{xss}
<testcase classname="Suite" name="flaky_one" time="0.030"><flakyFailure message="flaked once"/></testcase>
<testcase classname="Suite" name="skipped_one"><skipped/></testcase>
<testcase classname="Suite" name="slow" time="{slow_secs}"/>
</testsuite></testsuites>"#
    )
}

/// Uploads `xml` through the one-call API; returns the run.
async fn upload(app: &TestApp, token: &str, slug: &str, xml: &str, query: &str) -> Value {
    let request = api(app, Method::POST, &format!("/api/v1/projects/{slug}/results?{query}"), token)
        .header("content-type", "application/xml")
        .body(xml.to_string());
    send(request).await.expect(StatusCode::CREATED)
}

async fn page(app: &TestApp, client: &Client, path: &str) -> (StatusCode, String) {
    let response = app.get(client, path).await;
    (response.status(), response.text().await.unwrap())
}

/// A page that must render: 200, and no hostile name unescaped.
/// Rows of the runs table.
fn run_rows(body: &str) -> usize {
    body.matches("<td><span class=\"badge").count()
}

async fn ok_page(app: &TestApp, client: &Client, path: &str) -> String {
    let (status, body) = page(app, client, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert!(!body.contains("<script>alert"), "unescaped on {path}");
    assert!(!body.contains("<b>trace"), "unescaped on {path}");
    body
}

/// Every `<svg>…</svg>` of a page, each checked to be well-formed XML.
fn svgs(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("an <svg> without </svg>") + start + "</svg>".len();
        let svg = &rest[start..end];
        let mut reader = quick_xml::Reader::from_str(svg);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("SVG not well-formed ({e}): {svg}"),
            }
        }
        assert!(svg.contains("role=\"img\"") && svg.contains("<title>") && svg.contains("aria-label="), "{svg}");
        found.push(svg.to_string());
        rest = &rest[end..];
    }
    found
}

/// The test ids of a run by test name, from the API.
async fn test_id(app: &TestApp, token: &str, run: &str, name: &str) -> String {
    let body =
        get(app, &format!("/api/v1/projects/web/runs/{run}/tests?limit=200"), token).await.expect(StatusCode::OK);
    let tests = body["tests"].as_array().unwrap();
    tests.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} not in {body}"))["test_id"]
        .as_str()
        .unwrap()
        .to_string()
}

struct Seeded {
    app: TestApp,
    token: String,
    /// Oldest first: `ci` on main twice, then `other` on a hostile branch.
    runs: Vec<String>,
}

async fn seeded() -> Seeded {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    create_project(&app, "web");
    let a = upload(&app, &token, "web", &report(false, false, "0.100"), "commit=c0ffee01aa&branch=main&name=ci").await;
    let b = upload(
        &app,
        &token,
        "web",
        &report(true, true, "2.000"),
        "commit=c0ffee02bb&branch=main&name=ci&build_url=https://ci.example.com/build/7&build_id=7",
    )
    .await;
    let c = upload(
        &app,
        &token,
        "web",
        &report(false, false, "0.100"),
        "commit=c0ffee03cc&branch=%3Cscript%3Ealert(1)%3C%2Fscript%3E&name=other&build_url=javascript:alert(1)",
    )
    .await;
    let runs = [a, b, c].iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    Seeded { app, token, runs }
}

#[tokio::test]
async fn results_pages_render_with_failures_first_charts_and_escaping() {
    let Seeded { app, token, runs } = seeded().await;
    let (admin, status) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // The project page: tabs, charts of the default branch, the runs table.
    let body = ok_page(&app, &admin, "/projects/web").await;
    for text in ["Runs", "Flaky tests", "Slowest tests", "/projects/web/settings", "c0ffee02", "c0ffee03"] {
        assert!(body.contains(text), "{text} on the runs page");
    }
    assert!(!body.contains("c0ffee02bb<"), "commits are shortened to 8 characters");
    let charts = svgs(&body);
    assert_eq!(charts.len(), 2, "pass rate and duration");
    assert!(charts[0].contains("Pass rate of the last 2 runs"), "{}", charts[0]);
    assert!(charts[0].contains(&format!("href=\"/projects/web/runs/{}\"", runs[1])));
    assert!(charts[0].contains("fill=\"#b42318\""), "the failed run is red");
    let table = &body[body.find("<table class=\"table runs").unwrap()..];
    assert!(table.find(&runs[2]).unwrap() < table.find(&runs[1]).unwrap(), "newest first");
    assert!(table.find(&runs[1]).unwrap() < table.find(&runs[0]).unwrap());

    // Filters: a branch (the charts follow it) and a status.
    let body = ok_page(&app, &admin, "/projects/web?branch=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert!(body.contains(&runs[2]) && !body.contains(&format!("/runs/{}\"", runs[0])));
    let body = ok_page(&app, &admin, "/projects/web?status=passed").await;
    assert!(body.contains("No runs match"), "every run has a failure");

    // The second run: failures first, then the comparison, then the rest.
    let body = ok_page(&app, &admin, &format!("/projects/web/runs/{}", runs[1])).await;
    let at = |needle: &str| body.find(needle).unwrap_or_else(|| panic!("{needle} not on the run page"));
    assert!(at("id=\"failures\"") < at("passing_one"));
    assert!(at("passing_one") < at("expected 1, got 2"));
    assert!(at("expected 1, got 2") < at("id=\"compare\""));
    assert!(at("id=\"compare\"") < at("id=\"results\""));
    assert!(body[at("id=\"results\"")..].contains("Suite › slow"), "passed tests after the failures");
    let compare = &body[at("id=\"compare\"")..at("id=\"results\"")];
    assert!(compare.contains(&format!("/projects/web/runs/{}", runs[0])), "the first run is the baseline");
    for (section, name) in [("New failures", "passing_one"), ("Fixed", "alert(1)"), ("Slower", "Suite › slow")] {
        let from = compare.find(section).unwrap();
        assert!(compare[from..].contains(name), "{name} under {section}");
    }
    assert!(compare.contains("100 ms → 2.0 s"), "{compare}");
    assert!(body.contains("Flaky in this run") && body.contains("flaky_one"));
    assert!(body.contains("href=\"https://ci.example.com/build/7\" rel=\"noopener noreferrer\""));

    // The first run: the hostile failure, its message and details escaped.
    let body = ok_page(&app, &admin, &format!("/projects/web/runs/{}", runs[0])).await;
    assert!(body.contains("Suite › &#60;script&#62;alert(1)&#60;/script&#62;"), "escaped name");
    assert!(body.contains("<details class=\"failure-details\">"));
    assert!(body.contains("stack &#60;b&#62;trace&#60;/b&#62;"));

    // The third: no baseline (no other run of its name), no javascript: link.
    let body = ok_page(&app, &admin, &format!("/projects/web/runs/{}", runs[2])).await;
    assert!(body.contains("No baseline yet"));
    assert!(!body.contains("href=\"javascript:") && body.contains("javascript:alert(1)"));

    // Flaky and slowest tests, with their windows.
    let body = ok_page(&app, &admin, "/projects/web/flaky").await;
    assert!(body.contains("flaky_one") && body.contains("aria-current=\"page\">30 days"));
    assert!(ok_page(&app, &admin, "/projects/web/flaky?days=7").await.contains("aria-current=\"page\">7 days"));
    let body = ok_page(&app, &admin, "/projects/web/slowest?days=90").await;
    let slow = body.find(">slow<").expect("slow listed");
    assert!(slow < body.find(">passing_one<").unwrap(), "slowest first");

    // The hostile test's history: identity, strip, duration chart, table.
    let id = test_id(&app, &token, &runs[0], XSS).await;
    let body = ok_page(&app, &admin, &format!("/projects/web/tests/{id}")).await;
    let charts = svgs(&body);
    assert_eq!(charts.len(), 2, "status strip and duration chart");
    let escaped_in_svg = format!("results of Suite › {}", XSS.replace('<', "&lt;").replace('>', "&gt;"));
    assert!(charts[0].contains(&escaped_in_svg), "{}", charts[0]);
    assert!(charts[1].contains("class=\"p50\""));
    assert!(
        charts[0].contains("@ c0ffee03") && charts[0].contains("&lt;script&gt;alert(1)&lt;/script&gt; @"),
        "branch"
    );
    for run in &runs {
        assert!(body.contains(&format!("/projects/web/runs/{run}")));
    }

    // Unknown things are 404 pages; no session goes to the login.
    for path in [
        "/projects/web/runs/01000000-0000-7000-8000-000000000000".to_string(),
        "/projects/web/tests/0123456789abcdef".to_string(),
        "/projects/nope".to_string(),
        "/projects/nope/flaky".to_string(),
        format!("/projects/nope/runs/{}", runs[0]),
    ] {
        let (status, body) = page(&app, &admin, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body.contains("Not found"));
    }
    let anonymous = app.browser();
    for path in ["/projects/web", "/projects/web/slowest", &format!("/projects/web/runs/{}", runs[0])] {
        let response = app.get(&anonymous, path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/login");
    }
}

#[tokio::test]
async fn viewers_read_and_a_role_without_runs_read_is_refused() {
    let Seeded { app, token, runs } = seeded().await;
    let id = test_id(&app, &token, &runs[0], "slow").await;
    let pages = [
        "/projects/web".to_string(),
        format!("/projects/web/runs/{}", runs[1]),
        "/projects/web/flaky".to_string(),
        "/projects/web/slowest".to_string(),
        format!("/projects/web/tests/{id}"),
    ];
    api_user(&app, &token, "viewer@example.com", "viewer").await;
    let (viewer, _) = app.login("viewer@example.com", PASSWORD).await;
    for path in &pages {
        ok_page(&app, &viewer, path).await;
    }
    post(&app, "/api/v1/roles", &token, json!({"name": "lookers", "permissions": ["projects:read", "audit:read"]}))
        .await
        .expect(StatusCode::CREATED);
    api_user(&app, &token, "looker@example.com", "lookers").await;
    let (looker, _) = app.login("looker@example.com", PASSWORD).await;
    for path in &pages {
        let (status, body) = page(&app, &looker, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("runs:read"), "{body}");
    }
}

#[tokio::test]
async fn an_empty_project_explains_how_to_upload() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, "web");
    let (admin, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let body = ok_page(&app, &admin, "/projects/web").await;
    assert!(body.contains("No runs yet"));
    assert!(body.contains("/api/v1/projects/web/results?commit="));
    assert!(body.contains("proctor upload --project web"));
    assert!(!body.contains("<svg"));
    assert!(ok_page(&app, &admin, "/projects/web/flaky").await.contains("No flaky tests"));
    assert!(ok_page(&app, &admin, "/projects/web/slowest").await.contains("No durations yet"));
}

#[tokio::test]
async fn runs_are_paged_fifty_at_a_time() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    create_project(&app, "web");
    let xml = r#"<testsuite name="s"><testcase classname="s" name="t" time="0.5"/></testsuite>"#;
    let mut ids = Vec::new();
    for i in 0..52 {
        let branch = if i % 2 == 0 { "main" } else { "dev" };
        let run = upload(&app, &token, "web", xml, &format!("commit=c{i:03}&branch={branch}&name=ci")).await;
        ids.push(run["id"].as_str().unwrap().to_string());
    }
    let (admin, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let body = ok_page(&app, &admin, "/projects/web").await;
    assert_eq!(run_rows(&body), 50);
    assert!(body.contains(&ids[51]) && body.contains(&format!("runs/{}\"><strong", ids[2])));
    assert!(!body.contains(&format!("runs/{}\"><strong", ids[1])));
    assert!(svgs(&body)[0].contains("Pass rate of the last 26 runs"), "the default branch only");
    let older = format!("/projects/web?before={}", ids[2]);
    assert!(body.contains(&format!("href=\"{older}\"")), "Older link");
    let body = ok_page(&app, &admin, &older).await;
    assert_eq!(run_rows(&body), 2);
    assert!(body.contains(&ids[1]) && body.contains(&ids[0]) && body.contains(">Newest<"));
    assert!(!body.contains("Older →"));
    // A filter narrows the table and the charts.
    let body = ok_page(&app, &admin, "/projects/web?branch=dev").await;
    assert_eq!(run_rows(&body), 26);
    assert!(svgs(&body)[0].contains("Pass rate of the last 26 runs"));
    assert!(!body.contains("Older →"));
}

/// A run where hundreds of tests still fail shows the first 100 of each
/// comparison list and says how many more the API has, instead of them all.
#[tokio::test]
async fn long_comparison_lists_are_cut_on_the_page() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    create_project(&app, "web");
    let failing: String = (0..250)
        .map(|i| format!(r#"<testcase classname="s" name="t{i:03}" time="0.1"><failure message="no"/></testcase>"#))
        .collect();
    let xml = format!(r#"<testsuite name="s">{failing}<testcase classname="s" name="ok"/></testsuite>"#);
    upload(&app, &token, "web", &xml, "commit=a&branch=main&name=ci").await;
    let run = upload(&app, &token, "web", &xml, "commit=b&branch=main&name=ci").await;
    let run_id = run["id"].as_str().unwrap();
    let (admin, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let body = ok_page(&app, &admin, &format!("/projects/web/runs/{run_id}")).await;
    let still = body.split("<h3>Still failing").nth(1).and_then(|rest| rest.split("</div>").next()).unwrap_or("");
    assert!(still.contains(">250</span>"), "the badge counts them all: {still:.200}");
    assert_eq!(still.matches("<li>").count(), 100, "100 listed");
    assert!(
        still.contains(&format!(
            "And 150 more; the API lists them all: <code>GET /api/v1/projects/web/runs/{run_id}/compare</code>"
        )),
        "{still:.300}"
    );
    assert!(still.contains("s › t000") && !still.contains("s › t100"), "the first by name");
}

#[tokio::test]
async fn attachments_download_with_a_session() {
    let Seeded { app, token, runs } = seeded().await;
    let path = format!("/api/v1/projects/web/runs/{}/attachments?filename=page.html", runs[1]);
    let stored = send(api(&app, Method::POST, &path, &token).header("content-type", "text/html").body(XSS))
        .await
        .expect(StatusCode::CREATED);
    let id = stored["id"].as_str().unwrap();
    let (admin, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let body = ok_page(&app, &admin, &format!("/projects/web/runs/{}", runs[1])).await;
    let link = format!("/projects/web/runs/{}/attachments/{id}", runs[1]);
    assert!(body.contains(&format!("href=\"{link}\"")) && body.contains("page.html"));
    let response = app.get(&admin, &link).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"page.html\"");
    assert_eq!(response.headers()["content-type"], "application/octet-stream", "never served as HTML");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.text().await.unwrap(), XSS);
    let (status, _) = page(&app, &admin, &format!("/projects/web/runs/{}/attachments/{id}", runs[0])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only under its own run");
    let response = app.get(&app.browser(), &link).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "no session, no file");
}

#[tokio::test]
async fn a_runs_failures_are_grouped_by_class_errors_first() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    create_project(&app, "web");
    // Listed in an order that is neither by name nor by test id.
    let cases = [
        ("b.Cart", "removes", "failure"),
        ("a.Api", "lists", "failure"),
        ("b.Cart", "adds", "failure"),
        ("c.Db", "connects", "error"),
        ("a.Api", "creates", "failure"),
        ("a.Api", "boots", "error"),
    ];
    let body: String = cases
        .iter()
        .map(|(class, name, kind)| {
            format!(r#"<testcase classname="{class}" name="{name}"><{kind} message="no"/></testcase>"#)
        })
        .collect();
    let run = upload(&app, &token, "web", &format!("<testsuite name=\"s\">{body}</testsuite>"), "name=ci").await;
    let (admin, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = ok_page(&app, &admin, &format!("/projects/web/runs/{}", run["id"].as_str().unwrap())).await;
    let failures = page.split("class=\"result-list failures\"").nth(1).and_then(|s| s.split("</ol>").next()).unwrap();
    let titles: Vec<&str> =
        failures.split("class=\"test-name\">").skip(1).map(|s| s.split('<').next().unwrap()).collect();
    assert_eq!(
        titles,
        ["a.Api › boots", "c.Db › connects", "a.Api › creates", "a.Api › lists", "b.Cart › adds", "b.Cart › removes"]
    );
}

/// Projects with several CI jobs filter the runs page by run name: the table,
/// the charts and the paging links all follow it.
#[tokio::test]
async fn the_runs_page_filters_by_run_name() {
    let app = TestApp::spawn().await;
    let token = admin_token(&app).await;
    create_project(&app, "web");
    let xml = r#"<testsuite name="s"><testcase classname="s" name="t" time="0.5"/></testsuite>"#;
    for i in 0..60 {
        let name = if i % 10 == 0 { "unit" } else { "e2e" };
        upload(&app, &token, "web", xml, &format!("commit=c{i:03}&branch=main&name={name}")).await;
    }
    let (admin, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let all = ok_page(&app, &admin, "/projects/web").await;
    assert!(all.contains(r#"<option value="e2e"></option>"#) && all.contains(r#"<option value="unit"></option>"#));
    let unit = ok_page(&app, &admin, "/projects/web?name=unit").await;
    assert_eq!(run_rows(&unit), 6);
    assert!(unit.contains("Last 30 finished <code>unit</code> runs on <code>main</code>"), "{unit:.3000}");
    assert!(svgs(&unit)[0].contains("Pass rate of the last 6 runs"));
    assert!(unit.contains(r#"name="name" value="unit""#) && unit.contains(">Clear</a>"));
    // 54 e2e runs: the next page keeps the filter.
    let e2e = ok_page(&app, &admin, "/projects/web?name=e2e").await;
    assert_eq!(run_rows(&e2e), 50);
    assert!(svgs(&e2e)[0].contains("Pass rate of the last 30 runs"));
    let older = e2e.split("href=\"/projects/web?name=e2e&#38;before=").nth(1).and_then(|s| s.split('"').next());
    let older = older.unwrap_or_else(|| panic!("no Older link keeping the filter"));
    let rest = ok_page(&app, &admin, &format!("/projects/web?name=e2e&before={older}")).await;
    assert_eq!(run_rows(&rest), 4);
    let none = ok_page(&app, &admin, "/projects/web?name=lint").await;
    assert!(none.contains("No runs match"));
}
