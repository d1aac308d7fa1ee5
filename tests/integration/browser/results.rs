//! The test-results pages in a real browser: three JUnit reports uploaded
//! over the API (a green baseline on `main`, a run with a flaky test, and a
//! run where `Checkout › pays` fails with a stack trace while the flaky test
//! fails and then passes), then the project's runs with its charts, the
//! newest run (failures first, the stack trace behind "Details", the new
//! failure against the baseline), the failing test's history, and the Flaky
//! and Slowest tests tabs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::harness::{
    assert_styled, assert_text, body_text, click, describe, log_in_as_admin, must, run_in_browser, screenshot,
    wait_for, wait_for_path, PAGE_TIMEOUT,
};
use crate::api_helpers::{api, cli_token, create_admin, create_project, get, send};
use crate::helpers::{TestApp, ADMIN_EMAIL};

pub(super) const SLUG: &str = "shop";
/// The commits of the three runs, oldest first.
const COMMITS: [&str; 3] = [
    "1a2b3c4d5e6f708192a3b4c5d6e7f80911223344",
    "2b3c4d5e6f708192a3b4c5d6e7f8091122334455",
    "3c4d5e6f708192a3b4c5d6e7f809112233445566",
];
/// The failure of `Checkout › pays` in the newest run.
const MESSAGE: &str = "expected status 200, got 402 Payment Required";
const STACK_LINE: &str = "at PaymentGateway.charge (src/payments/gateway.ts:118:9)";
/// A long class and test name, to see how the pages cope with one.
const LONG_CLASS: &str = "com.example.shop.checkout.PaymentIntegrationSpec";
const LONG_NAME: &str =
    "applies_the_loyalty_discount_and_free_shipping_when_the_basket_has_more_than_ten_items_and_a_coupon";
/// Chart colours (`domain::charts::Tone`).
const GREEN: &str = "#1a7f4b";
const RED: &str = "#b42318";
const AMBER: &str = "#d08c00";

/// The first of the three reports: everything passes (the baseline).
pub(super) fn baseline_report() -> String {
    report(
        r#"<testcase classname="Checkout" name="pays" time="0.412" file="tests/checkout.spec.ts"/>"#,
        r#"<testcase classname="Search" name="finds_by_name" time="0.150"/>"#,
        "2.500",
    )
}

/// The second: still green, but `Search › finds_by_name` needed a retry.
fn flaky_report() -> String {
    report(
        r#"<testcase classname="Checkout" name="pays" time="0.398" file="tests/checkout.spec.ts"/>"#,
        r#"<testcase classname="Search" name="finds_by_name" time="0.180">
  <flakyFailure message="timed out after 100 ms waiting for the results list" type="TimeoutError">TimeoutError: timed out
    at waitFor (tests/search.spec.ts:12:3)</flakyFailure>
</testcase>"#,
        "2.700",
    )
}

/// The newest: `Checkout › pays` fails with a multi-line stack trace, and
/// `Search › finds_by_name` is reported failed, then passed (a retry).
pub(super) fn failing_report() -> String {
    let pays = format!(
        r#"<testcase classname="Checkout" name="pays" time="1.240" file="tests/checkout.spec.ts">
  <failure message="{MESSAGE}" type="AssertionError">AssertionError: {MESSAGE}
    at Object.&lt;anonymous&gt; (tests/checkout.spec.ts:42:17)
    {STACK_LINE}
    at processTicksAndRejections (node:internal/process/task_queues:95:5)</failure>
</testcase>"#
    );
    report(
        &pays,
        r#"<testcase classname="Search" name="finds_by_name" time="0.210"><failure message="no element matches .result">Error: no element matches .result</failure></testcase>
<testcase classname="Search" name="finds_by_name" time="0.160"/>"#,
        "3.100",
    )
}

/// Six tests: `pays` and `finds_by_name` as given, two more that pass, one
/// skipped, and the long-named one taking `long_secs`.
fn report(pays: &str, search: &str, long_secs: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="web shop">
<testsuite name="checkout" tests="3">
{pays}
<testcase classname="Checkout" name="refunds" time="0.220"/>
<testcase classname="{LONG_CLASS}" name="{LONG_NAME}" time="{long_secs}"/>
</testsuite>
<testsuite name="cart" tests="2">
<testcase classname="Cart" name="adds_item" time="0.031"/>
<testcase classname="Cart" name="applies_gift_card"><skipped message="gift cards are off in CI"/></testcase>
</testsuite>
<testsuite name="search" tests="1">
{search}
</testsuite>
</testsuites>"#
    )
}

/// What the browser flow needs to know about the seeded data.
struct Seeded {
    /// Run ids, oldest first.
    runs: Vec<String>,
    /// The test id of `Checkout › pays`.
    pays: String,
}

#[tokio::test]
async fn a_real_browser_reads_runs_a_failure_its_history_and_the_flaky_and_slowest_tests() {
    let app = TestApp::spawn().await;
    create_admin(&app);
    create_project(&app, SLUG);
    let token = cli_token(&app, ADMIN_EMAIL, "ci upload", "runs:write,runs:read", &[]);
    let reports = [baseline_report(), flaky_report(), failing_report()];
    let mut runs = Vec::new();
    for (xml, commit) in reports.iter().zip(COMMITS) {
        let path = format!("/api/v1/projects/{SLUG}/results?commit={commit}&branch=main&name=ci");
        let request =
            api(&app, Method::POST, &path, &token).header("content-type", "application/xml").body(xml.clone());
        let run = send(request).await.expect(StatusCode::CREATED);
        runs.push(run["id"].as_str().unwrap_or_else(|| panic!("no run id in {run}")).to_string());
    }
    // What the pages should show, as the API sees it.
    let newest = get(&app, &format!("/api/v1/projects/{SLUG}/runs/{}", runs[2]), &token).await.expect(StatusCode::OK);
    assert_eq!(
        (&newest["status"], &newest["tests"], &newest["failed"], &newest["flaky"], &newest["skipped"]),
        (&json!("failed"), &json!(6), &json!(1), &json!(1), &json!(1)),
        "the newest run: {newest}"
    );
    let tests = get(&app, &format!("/api/v1/projects/{SLUG}/runs/{}/tests?limit=200", runs[2]), &token)
        .await
        .expect(StatusCode::OK);
    let pays = tests["tests"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["classname"] == "Checkout" && t["name"] == "pays"))
        .and_then(|t| t["test_id"].as_str())
        .unwrap_or_else(|| panic!("Checkout.pays is not in {tests}"))
        .to_string();
    let seeded = Seeded { runs, pays };
    run_in_browser(&app, "results", move |c, base, shots| results_flow(c, base, shots, seeded)).await;
}

/// Log in → project (runs table, charts) → newest run (failure, details,
/// comparison) → the failing test's history → Flaky tests → Slowest tests.
async fn results_flow(c: Client, base: String, shots: PathBuf, seeded: Seeded) {
    let Seeded { runs, pays } = seeded;
    let run_path = |i: usize| format!("/projects/{SLUG}/runs/{}", runs[i]);

    log_in_as_admin(&c, &base).await;

    // The project list leads to the project's runs.
    click(&c, &format!("table a[href='/projects/{SLUG}']")).await;
    wait_for_path(&c, &format!("/projects/{SLUG}")).await;
    wait_for(&c, "table.runs").await;
    assert_styled(&c).await;
    assert_current_tab(&c, "Runs").await;
    assert_text(&c, &["Last 30 finished runs on main", "each point opens its run"]).await;
    assert_eq!(captions(&c).await, ["Pass rate", "Duration"], "the charts' captions");
    let rows = table_rows(&c, "table.runs").await;
    assert_eq!(rows.len(), 3, "three runs: {rows:#?}");
    let expected =
        [("failed", "1", "1", COMMITS[2]), ("passed", "0", "1", COMMITS[1]), ("passed", "0", "0", COMMITS[0])];
    for (row, (status, failed, flaky, commit)) in rows.iter().zip(expected) {
        assert_eq!(cell(row, "Status"), status, "newest first: {rows:#?}");
        assert_eq!(cell(row, "Run"), "ci", "{row:#?}");
        assert_eq!(cell(row, "Branch"), "main", "{row:#?}");
        assert_eq!(cell(row, "Commit"), &commit[..8], "{row:#?}");
        assert_eq!(cell(row, "Tests"), "6", "{row:#?}");
        assert_eq!(cell(row, "Failed"), failed, "{row:#?}");
        assert_eq!(cell(row, "Flaky"), flaky, "{row:#?}");
        assert_eq!(cell(row, "Skipped"), "1", "{row:#?}");
    }
    let pass_rate = assert_chart(&c, "svg.chart.pass-rate", "circle.pt", 3, 600.0, 100.0).await;
    assert!(pass_rate.starts_with("Pass rate of the last 3 runs") && pass_rate.contains("1 failed"), "{pass_rate}");
    assert!(pass_rate.ends_with("the axis runs from 50% to 100%"), "scaled to the data: {pass_rate}");
    // Oldest first; the passed run with a flaky test is amber.
    assert_eq!(point_fills(&c, "svg.chart.pass-rate circle.pt").await, [GREEN, AMBER, RED], "oldest first");
    let durations = assert_chart(&c, "svg.chart.durations", "rect.pt", 3, 600.0, 60.0).await;
    assert!(durations.starts_with("Duration of the last 3 runs"), "{durations}");
    screenshot(&c, &shots, "results-project.png").await;

    // A chart's point opens its run when clicked (a convenience of app.js:
    // the table has the same links).
    click(&c, "svg.chart.pass-rate circle.pt:last-of-type").await;
    wait_for_path(&c, &run_path(2)).await;
    must(c.back().await, "go back");
    wait_for_path(&c, &format!("/projects/{SLUG}")).await;
    // The charts' text alternative: their data as a table, behind a disclosure.
    click(&c, "details.chart-data summary").await;
    let links = must(c.find_all(Locator::Css("details.chart-data tbody a")).await, "find the chart data's runs");
    let mut hrefs = Vec::new();
    for link in links {
        assert!(must(link.is_displayed().await, "look at a run link"), "the disclosure opened");
        hrefs.push(must(link.attr("href").await, "read a run link").unwrap_or_default());
    }
    assert_eq!(hrefs, [run_path(0), run_path(1), run_path(2)], "the charts' runs, oldest first");
    assert_text(&c, &["The charts' data as a table", "80%"]).await;
    screenshot(&c, &shots, "results-chart-data.png").await;

    // The newest run: its failure first, with the message.
    click(&c, &format!("table.runs tbody tr:first-child a[href='{}']", run_path(2))).await;
    wait_for_path(&c, &run_path(2)).await;
    wait_for(&c, "section#failures").await;
    assert_styled(&c).await;
    let heading = must(wait_for(&c, "main h1").await.text().await, "read the run heading");
    assert_eq!(heading, "ci failed", "the run's heading");
    let sections = texts(&c, "main section h2").await;
    assert!(sections.first().is_some_and(|h| h.starts_with("Failures")), "failures come first: {sections:?}");
    assert_eq!(sections[0], "Failures 1", "{sections:?}");
    let failures = must(c.find_all(Locator::Css("#failures li.result-item")).await, "find the failures");
    assert_eq!(failures.len(), 1, "one failure {}", describe(&c).await);
    let failure = must(failures[0].text().await, "read the failure");
    for needle in ["failed", "Checkout › pays", "1.2 s", "tests/checkout.spec.ts", MESSAGE] {
        assert!(failure.contains(needle), "{needle:?} is not in the failure:\n{failure}");
    }
    let message = must(wait_for(&c, "#failures li.result-item p.message").await.text().await, "read the message");
    assert_eq!(message, MESSAGE, "the failure's headline");
    assert_text(&c, &["Flaky in this run", "Search › finds_by_name", "Passed and skipped"]).await;
    let flaky_here = texts(&c, "#flaky li.result-item a.test-name").await;
    assert_eq!(flaky_here, ["Search › finds_by_name"], "flaky in this run");

    // The stack trace is behind "Details" until it is opened.
    let trace = "#failures details.failure-details pre.output";
    assert!(!must(wait_for(&c, trace).await.is_displayed().await, "look at the trace"), "the trace shows unopened");
    assert!(!body_text(&c).await.contains(STACK_LINE), "the stack trace is visible before opening Details");
    click(&c, "#failures details.failure-details summary").await;
    wait_displayed(&c, trace).await;
    let stack = must(wait_for(&c, trace).await.text().await, "read the stack trace");
    assert!(stack.contains(STACK_LINE) && stack.contains("at processTicksAndRejections"), "the trace:\n{stack}");
    assert!(stack.lines().count() >= 4, "the trace keeps its lines:\n{stack}");
    assert_text(&c, &[STACK_LINE]).await;

    // Against the baseline (the run before, on main) it is a new failure.
    let compare = must(wait_for(&c, "section#compare").await.text().await, "read the comparison");
    assert!(compare.contains(&format!("Baseline: ci at {}", &COMMITS[1][..8])), "the baseline:\n{compare}");
    let baseline = must(wait_for(&c, "section#compare p a").await.attr("href").await, "read the baseline link");
    assert_eq!(baseline.as_deref(), Some(run_path(1).as_str()), "the baseline is the run before");
    let new_failures = change_list(&c, "New failures").await;
    assert_eq!(new_failures, ["Checkout › pays passed → failed"], "{compare}");
    assert!(compare.contains("New failures 1") && compare.contains("Still failing 0"), "{compare}");
    assert_eq!(change_list(&c, "Slower").await, ["Checkout › pays 398 ms → 1.2 s"], "{compare}");
    screenshot(&c, &shots, "results-run.png").await;

    // The failing test's name leads to its history.
    let test_path = format!("/projects/{SLUG}/tests/{pays}");
    click(&c, &format!("#failures a.test-name[href='{test_path}']")).await;
    wait_for_path(&c, &test_path).await;
    wait_for(&c, "table.history").await;
    assert_styled(&c).await;
    let heading = must(wait_for(&c, "main h1.test-title").await.text().await, "read the test heading");
    assert_eq!(heading, "Checkout › pays");
    assert_text(&c, &["Recent results", "tests/checkout.spec.ts", &pays]).await;
    assert_eq!(captions(&c).await, ["Status, oldest first", "Duration"], "the charts' captions");
    let strip = assert_chart(&c, "svg.chart.strip", "rect.pt", 3, 40.0, 10.0).await;
    assert_eq!(
        strip, "Status of the last 3 results of Checkout › pays, oldest first: 2 passed, 1 failed, 0 flaky, 0 other",
        "the status strip"
    );
    assert_eq!(point_fills(&c, "svg.chart.strip rect.pt").await, [GREEN, GREEN, RED], "oldest first");
    let chart = assert_chart(&c, "svg.chart.test-durations", "rect.pt", 3, 600.0, 80.0).await;
    assert!(chart.starts_with("Duration of Checkout › pays in its last 3 results; median (p50)"), "{chart}");
    let p50 = must(wait_for(&c, "svg.chart.test-durations text[fill='#2f5bd3']").await.text().await, "read p50");
    assert!(p50.starts_with("p50 "), "the median line is labelled: {p50:?}");
    let rows = table_rows(&c, "table.history").await;
    let history: Vec<(&str, &str, &str)> =
        rows.iter().map(|r| (cell(r, "Status"), cell(r, "Commit"), cell(r, "Branch"))).collect();
    assert_eq!(
        history,
        [
            ("failed", &COMMITS[2][..8], "main"),
            ("passed", &COMMITS[1][..8], "main"),
            ("passed", &COMMITS[0][..8], "main")
        ],
        "history, newest first"
    );
    let links = must(c.find_all(Locator::Css("table.history tbody tr td:first-child a")).await, "find run links");
    let mut hrefs = Vec::new();
    for link in links {
        hrefs.push(must(link.attr("href").await, "read a run link").unwrap_or_default());
    }
    assert_eq!(hrefs, [run_path(2), run_path(1), run_path(0)], "each row links to its run");
    screenshot(&c, &shots, "results-test-history.png").await;

    // Flaky tests: the search test, flaky in two runs.
    click(&c, &format!("nav.tabs a[href='/projects/{SLUG}/flaky']")).await;
    wait_for_path(&c, &format!("/projects/{SLUG}/flaky")).await;
    wait_for(&c, "table.flaky").await;
    assert_styled(&c).await;
    assert_current_tab(&c, "Flaky tests").await;
    assert_text(&c, &["Flaky tests", "Window:", "in runs of the last 30 days"]).await;
    let rows = table_rows(&c, "table.flaky").await;
    assert_eq!(rows.len(), 1, "only the search test is flaky: {rows:#?}");
    assert_eq!(cell(&rows[0], "Test"), "finds_by_name\nsearch · Search", "{rows:#?}");
    assert_eq!(cell(&rows[0], "Retry"), "● 2", "flaky within two runs: {rows:#?}");
    assert_eq!(cell(&rows[0], "Same commit"), "0", "{rows:#?}");
    assert_eq!(cell(&rows[0], "Flips"), "0", "a retry is not a change: {rows:#?}");
    assert!(cell(&rows[0], "State").starts_with("flaky"), "{rows:#?}");
    assert_eq!(cell(&rows[0], "Runs"), "3", "{rows:#?}");
    assert_eq!(cell(&rows[0], "Failure rate"), "66.7%", "{rows:#?}");
    screenshot(&c, &shots, "results-flaky.png").await;

    // Slowest tests: the long-named test first, by p95.
    click(&c, &format!("nav.tabs a[href='/projects/{SLUG}/slowest']")).await;
    wait_for_path(&c, &format!("/projects/{SLUG}/slowest")).await;
    wait_for(&c, "table.slowest").await;
    assert_styled(&c).await;
    assert_current_tab(&c, "Slowest tests").await;
    let rows = table_rows(&c, "table.slowest").await;
    assert_eq!(rows.len(), 5, "every test with a duration (not the skipped one): {rows:#?}");
    let order: Vec<&str> = rows.iter().map(|r| cell(r, "Test")).collect();
    assert_eq!(order, [LONG_NAME, "pays", "refunds", "finds_by_name", "adds_item"], "slowest first");
    assert_eq!(cell(&rows[0], "Suite / class"), format!("checkout · {LONG_CLASS}"), "{rows:#?}");
    assert_eq!((cell(&rows[0], "p50"), cell(&rows[0], "p95")), ("2.7 s", "3.1 s"), "{rows:#?}");
    assert_eq!(cell(&rows[0], "Runs"), "3", "{rows:#?}");
    screenshot(&c, &shots, "results-slowest.png").await;
}

/// The project tab marked current is `name`, and only that one.
async fn assert_current_tab(c: &Client, name: &str) {
    let current = texts(c, "nav.tabs a[aria-current='page']").await;
    assert_eq!(current, [name], "the current tab {}", describe(c).await);
}

/// The visible text of every element matching `css`, in page order.
async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for element in must(c.find_all(Locator::Css(css)).await, &format!("find {css}")) {
        out.push(must(element.text().await, &format!("read {css}")));
    }
    out
}

/// The captions of the page's charts as written (the stylesheet shows them in capitals).
async fn captions(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for caption in must(c.find_all(Locator::Css("figure.chart-box figcaption")).await, "find the chart captions") {
        out.push(must(caption.prop("textContent").await, "read a caption").unwrap_or_default().trim().to_string());
    }
    out
}

/// Polls until the element matching `css` is displayed.
async fn wait_displayed(c: &Client, css: &str) {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        if must(wait_for(c, css).await.is_displayed().await, &format!("look at {css}")) {
            return;
        }
        if Instant::now() > deadline {
            panic!("`{css}` never became visible {}", describe(c).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The chart matching `css` is shown at least `min_w`×`min_h` CSS pixels,
/// with `points` elements matching `point` (each opening a run when
/// clicked, `data-href`: no link inside the chart's image); returns its
/// `aria-label`.
async fn assert_chart(c: &Client, css: &str, point: &str, points: usize, min_w: f64, min_h: f64) -> String {
    let chart = wait_for(c, css).await;
    assert!(must(chart.is_displayed().await, &format!("look at {css}")), "{css} is hidden {}", describe(c).await);
    let script = "const [css, point] = arguments; const svg = document.querySelector(css);\
                  const box = svg.getBoundingClientRect();\
                  const links = [...svg.querySelectorAll(point)].map(p => p.closest('a') ? 'a link' : p.getAttribute('data-href'));\
                  return { width: box.width, height: box.height, label: svg.getAttribute('aria-label'), links };";
    let seen = must(c.execute(script, vec![json!(css), json!(point)]).await, &format!("measure {css}"));
    let (width, height) = (seen["width"].as_f64().unwrap_or(0.0), seen["height"].as_f64().unwrap_or(0.0));
    assert!(width >= min_w && height >= min_h, "{css} is only {width}×{height}: {seen}");
    let links = seen["links"].as_array().cloned().unwrap_or_default();
    assert_eq!(links.len(), points, "{css} has {} points, not {points}: {seen}", links.len());
    let prefix = format!("/projects/{SLUG}/runs/");
    assert!(links.iter().all(|l| l.as_str().is_some_and(|h| h.starts_with(&prefix))), "points link to runs: {seen}");
    seen["label"].as_str().unwrap_or_default().to_string()
}

/// The `fill` of each chart point matching `css`, in document order.
async fn point_fills(c: &Client, css: &str) -> Vec<String> {
    let mut fills = Vec::new();
    for element in must(c.find_all(Locator::Css(css)).await, &format!("find {css}")) {
        fills.push(must(element.attr("fill").await, "read a fill").unwrap_or_default());
    }
    fills
}

/// The entries of the comparison's list titled `title` ("New failures"…).
async fn change_list(c: &Client, title: &str) -> Vec<String> {
    let script = "const [title] = arguments;\
        const list = [...document.querySelectorAll('#compare .change-list')]\
            .find(d => d.querySelector('h3').firstChild.textContent.trim() === title);\
        return list ? [...list.querySelectorAll('li')].map(li => li.innerText.trim()) : null;";
    let items = must(c.execute(script, vec![json!(title)]).await, "read the comparison");
    match items.as_array() {
        Some(items) => items.iter().map(|i| i.as_str().unwrap_or_default().to_string()).collect(),
        None => panic!("no {title:?} list in the comparison {}", describe(c).await),
    }
}

/// The body rows of the table matching `css`, each as `{column heading: cell text}`.
pub(super) async fn table_rows(c: &Client, css: &str) -> Vec<Value> {
    let script = "const table = document.querySelector(arguments[0]);\
        if (!table) return null;\
        const heads = [...table.tHead.rows[0].cells].map(th => th.textContent.trim());\
        return [...table.tBodies[0].rows].map(tr =>\
            Object.fromEntries([...tr.cells].map((td, i) => [heads[i], td.innerText.trim()])));";
    let rows = must(c.execute(script, vec![json!(css)]).await, &format!("read {css}"));
    match rows.as_array() {
        Some(rows) => rows.clone(),
        None => panic!("no {css} on the page {}", describe(c).await),
    }
}

pub(super) fn cell<'a>(row: &'a Value, column: &str) -> &'a str {
    row[column].as_str().unwrap_or_else(|| panic!("no column {column:?} in {row}"))
}
