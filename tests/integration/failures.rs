//! Failure context and failure groups (API.md section 9, issue 10): since
//! when a failure has been failing, whether its test is known flaky or
//! quarantined, in the run's tests API and on the run page; failures that
//! share a normalized message grouped on the run page and the Errors tab.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;
use crate::results_api::{id, Reader};

/// One finished run on main of `cases`: (name, failure message or `None` for a pass).
async fn run(r: &Reader, commit: &str, cases: &[(&str, Option<&str>)]) -> Value {
    let mut xml = String::from("<testsuite name=\"unit\">");
    for (name, failure) in cases {
        let inner = failure.map(|m| format!("<failure message=\"{m}\">at /home/ci/app/{name}.py:12</failure>"));
        xml.push_str(&format!(
            "<testcase classname=\"app.T\" name=\"{name}\">{}</testcase>",
            inner.unwrap_or_default()
        ));
    }
    xml.push_str("</testsuite>");
    let path = format!("/api/v1/projects/web/results?branch=main&name=ci&commit={commit}");
    let request = api(&r.app, Method::POST, &path, &r.token).header("content-type", "application/xml").body(xml);
    send(request).await.expect(StatusCode::CREATED)
}

fn by_name<'a>(tests: &'a Value, name: &str) -> &'a Value {
    tests["tests"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} in {tests}"))
}

#[tokio::test]
async fn failures_carry_their_streak_flakiness_quarantine_and_group() {
    let r = Reader::start().await;
    run(&r, "c1", &[("a", None), ("b", None), ("c", None), ("flake", None)]).await;
    let second = run(&r, "c2", &[("a", Some("timeout after 5000 ms")), ("b", None), ("c", None)]).await;
    // `flake` passed and failed on c2: known flaky by same_commit.
    run(&r, "c2", &[("flake", Some("race"))]).await;
    run(&r, "c2", &[("flake", None)]).await;
    let third = run(
        &r,
        "c3",
        &[
            ("a", Some("timeout after 7000 ms")),
            ("b", Some("timeout after 3000 ms")),
            ("c", Some("KeyError: 'user'")),
            ("flake", Some("race")),
        ],
    )
    .await;
    let test_id = |tests: &Value, name: &str| by_name(tests, name)["test_id"].as_str().unwrap().to_string();
    let tests = r.get(&format!("/api/v1/projects/web/runs/{}/tests", id(&third))).await;
    let body =
        json!({"test_id": test_id(&tests, "c"), "reason": "tracked upstream", "issue_url": "https://example.com/9"});
    post(&r.app, "/api/v1/projects/web/quarantine", &r.token, body).await.expect(StatusCode::CREATED);

    let tests = r.get(&format!("/api/v1/projects/web/runs/{}/tests", id(&third))).await;
    let a = by_name(&tests, "a");
    assert_eq!(a["failing_since"]["run_id"], second["id"], "{a}");
    assert_eq!(a["failing_since"]["runs"], 2);
    assert_eq!(a["first_failed_at"], second["created_at"]);
    assert_eq!(a["known_flaky"], Value::Null);
    assert_eq!(a["quarantine"], Value::Null);
    let b = by_name(&tests, "b");
    assert_eq!(b["failing_since"], Value::Null, "new: it passed in the run before");
    assert_eq!(b["first_failed_at"], third["created_at"]);
    assert_eq!(a["fingerprint"], b["fingerprint"], "same error, other numbers");
    let c = by_name(&tests, "c");
    assert_ne!(c["fingerprint"], a["fingerprint"]);
    assert_eq!(c["quarantine"]["reason"], "tracked upstream");
    assert_eq!(c["quarantine"]["issue_url"], "https://example.com/9");
    let flake = by_name(&tests, "flake");
    assert_eq!(flake["known_flaky"]["state"], "flaky", "{flake}");
    assert_eq!(flake["known_flaky"]["signals"]["same_commit"], 1);
    let pass = by_name(&r.get(&format!("/api/v1/projects/web/runs/{}/tests", id(&second))).await, "b").clone();
    for field in ["failing_since", "first_failed_at", "known_flaky", "quarantine", "fingerprint"] {
        assert_eq!(pass[field], Value::Null, "{field} of a pass");
    }

    // The run page: the group, each failure's context.
    let (admin, _) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = r.app.get(&admin, &format!("/projects/web/runs/{}", id(&third))).await.text().await.unwrap();
    assert!(page.contains("2 tests failed with the same error: <code>timeout after &#60;N&#62; ms</code>"), "{page}");
    assert!(page.contains("new failure"), "{page}");
    assert!(page.contains("(2 runs)"), "{page}");
    assert!(page.contains("known flaky (1 signal, flaky)"), "{page}");
    assert!(page.contains("quarantined until"), "{page}");
    assert!(page.contains("<summary>Show the 0 passed") || !page.contains("<summary>Show the"), "no passes here");

    // The Errors tab: the timeout group first (3 failures in 2 tests).
    let errors = r.app.get(&admin, "/projects/web/errors").await.text().await.unwrap();
    let timeout = errors.find("timeout after &#60;N&#62; ms").expect("the timeout group");
    let key_error = errors.find("KeyError: &#39;user&#39;").expect("the KeyError group");
    assert!(timeout < key_error, "most failures first");
    let row = &errors[timeout..key_error];
    assert!(row.contains("<td class=\"num\">3</td>") && row.contains("<td class=\"num\">2</td>"), "{row}");
    assert!(row.contains(">a</a>") && row.contains(">b</a>"), "{row}");
    let api = r.get("/api/v1/projects/web/errors?days=7").await;
    let first = &api["errors"][0];
    assert_eq!(first["message"], "timeout after <N> ms", "{api}");
    assert_eq!((first["failures"].as_i64(), first["tests"].as_i64()), (Some(3), Some(2)));
    assert_eq!(first["fingerprint"], a["fingerprint"]);
    assert_eq!(first["examples"][0]["name"], "a");
    unix(first["first_seen"].as_str().unwrap());
}

#[tokio::test]
async fn passed_and_skipped_tests_are_collapsed_behind_their_count() {
    let r = Reader::start().await;
    let cases: Vec<(String, Option<&str>)> = (0..30).map(|i| (format!("t{i:02}"), None)).collect();
    let mut cases: Vec<(&str, Option<&str>)> = cases.iter().map(|(n, f)| (n.as_str(), *f)).collect();
    cases.push(("broken", Some("boom")));
    let made = run(&r, "c1", &cases).await;
    let (admin, _) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = r.app.get(&admin, &format!("/projects/web/runs/{}", id(&made))).await.text().await.unwrap();
    let failures = page.find("id=\"failures\"").unwrap();
    let collapsed = page.find("<details class=\"others\">\n  <summary>Show the 30 passed and skipped tests</summary>");
    assert!(collapsed.is_some_and(|at| at > failures), "failures first, passes collapsed: {page}");
}
