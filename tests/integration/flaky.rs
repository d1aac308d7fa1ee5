//! Flaky-test detection (API.md section 9) on crafted histories uploaded
//! through the real ingestion path: each signal and its threshold, the
//! regression that is fixed once (not flaky), marking a test fixed and
//! seeing it flake again, the quarantined state, and who may do what.

use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;
use crate::results_api::Reader;

/// Makes every commit of [`history`] new, across calls and tests.
static COMMITS: AtomicUsize = AtomicUsize::new(0);

const FLAKY: &str = "/api/v1/projects/web/tests/flaky";

/// Uploads one run per entry of `history` on `branch`, each on a new commit: `p` passes, `f` fails, `s` is skipped and `-` leaves the test
/// out, for test `t` beside an always-passing `steady`.
async fn history(r: &Reader, branch: &str, history: &str) {
    for (i, result) in history.chars().enumerate() {
        let status = match result {
            'p' => "passed",
            'f' => "failed",
            's' => "skipped",
            _ => "",
        };
        let mut cases = vec![("steady", "passed", 1)];
        if !status.is_empty() {
            cases.push(("t", status, 1));
        }
        let commit = COMMITS.fetch_add(1, Ordering::Relaxed);
        r.run_of("web", &format!("branch={branch}&name=ci&commit={branch}-{commit}-{i}"), &cases).await;
    }
}

/// The flaky list's entry for `name`, if listed.
async fn listed(r: &Reader, name: &str) -> Option<Value> {
    let body = r.get(FLAKY).await;
    body["tests"].as_array().unwrap().iter().find(|t| t["name"] == name).cloned()
}

/// The walk: 24 runs on main, one per commit, no retries, one test
/// failing at random in 10 of them. It used to say "No flaky tests".
#[tokio::test]
async fn a_test_failing_at_random_on_the_default_branch_is_flaky_by_its_flips() {
    let r = Reader::start().await;
    let runs = "ppfpppfpfppfppfpfpfpfpff";
    assert_eq!((runs.len(), runs.matches('f').count()), (24, 10));
    history(&r, "main", runs).await;
    let t = listed(&r, "t").await.expect("t is flaky");
    let changes = runs.as_bytes().windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(t["signals"], json!({"retry": 0, "same_commit": 0, "flips": changes}), "{t}");
    assert_eq!(t["fired"], json!(["flips"]));
    assert_eq!(t["state"], "flaky");
    assert_eq!(t["runs"], 24);
    assert!((t["failure_rate"].as_f64().unwrap() - 10.0 / 24.0).abs() < 0.001, "{t}");
    assert!(listed(&r, "steady").await.is_none(), "a test that always passes is not flaky");
}

#[tokio::test]
async fn a_regression_fixed_once_is_not_flaky_and_two_episodes_are() {
    let r = Reader::start().await;
    history(&r, "main", "pppfffppp").await;
    assert_eq!(listed(&r, "t").await, None, "2 changes, under the default threshold of 4");
    // Skipped results and runs without the test are transparent: fail
    // again (3 changes), then pass (4): two episodes are flaky.
    history(&r, "main", "sf-s").await;
    assert_eq!(listed(&r, "t").await, None, "3 changes");
    history(&r, "main", "-p").await;
    let t = listed(&r, "t").await.expect("4 changes");
    assert_eq!(t["signals"], json!({"retry": 0, "same_commit": 0, "flips": 4}), "{t}");
    assert_eq!(t["fired"], json!(["flips"]));
}

#[tokio::test]
async fn flips_count_against_the_projects_threshold() {
    let r = Reader::start().await;
    history(&r, "main", "pfpf").await;
    let t = listed(&r, "t").await;
    assert_eq!(t, None, "3 changes: flaky at 4, not at 3");
    // A threshold of 3, set on the project's settings page, applies to every read from then on.
    let (admin, status) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let form = [("name", "web"), ("default_branch", "main"), ("flaky_flip_threshold", "3")];
    let saved = r.app.submit(&admin, "/projects/web/settings", "/projects/web/settings", &form).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let t = listed(&r, "t").await.expect("3 changes reach a threshold of 3");
    assert_eq!((t["signals"]["flips"].as_i64(), t["fired"].clone()), (Some(3), json!(["flips"])));
}

#[tokio::test]
async fn changes_off_the_default_branch_are_not_flips() {
    let r = Reader::start().await;
    history(&r, "feature", "pfpfpfpf").await;
    assert_eq!(listed(&r, "t").await, None, "7 changes, but not on main");
}

#[tokio::test]
async fn retries_and_same_commit_results_fire_at_one() {
    let r = Reader::start().await;
    // Flaky within a run: retry. A flaky result is no change for flips.
    r.run_of("web", "branch=main&name=ci&commit=c1", &[("t", "passed", 1)]).await;
    r.run_of("web", "branch=main&name=ci&commit=c2", &[("t", "flaky", 1)]).await;
    let t = listed(&r, "t").await.expect("flaky within a run");
    assert_eq!(t["signals"], json!({"retry": 1, "same_commit": 0, "flips": 0}), "{t}");
    // A minute later, one commit, on any branch, passed in one run and
    // failed in a rerun: one same_commit, however many more reruns.
    let r = Reader { app: r.app.restart_with(later(60)).await, token: r.token };
    for status in ["passed", "failed", "failed", "passed"] {
        r.run_of("web", "branch=feature&name=ci&commit=x9", &[("u", status, 1)]).await;
    }
    let u = listed(&r, "u").await.expect("passed and failed on x9");
    assert_eq!(u["signals"], json!({"retry": 0, "same_commit": 1, "flips": 0}), "{u}");
    assert_eq!(u["fired"], json!(["same_commit"]));
    // The list ranks by signals fired: both fired one; the later event first.
    let body = r.get(FLAKY).await;
    let order: Vec<&str> = body["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(order, ["u", "t"]);
}

#[tokio::test]
async fn a_test_marked_fixed_counts_only_later_results_and_can_flake_again() {
    let r = Reader::start().await;
    history(&r, "main", "pfpfp").await;
    let t = listed(&r, "t").await.expect("4 changes");
    let test_id = t["test_id"].as_str().unwrap().to_string();
    let fixed = format!("/api/v1/projects/web/tests/{test_id}/fixed");

    let marked = post(&r.app, &fixed, &r.token, json!({})).await.expect(StatusCode::OK);
    assert_eq!(marked["state"], "fixed", "{marked}");
    assert_eq!(marked["signals"], json!({"retry": 0, "same_commit": 0, "flips": 0}));
    unix(marked["fixed_at"].as_str().unwrap());
    let events = audit_events(&r.app, &r.token, "&action=test.marked_fixed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"]["id"], test_id.as_str());
    assert_eq!(events[0]["details"]["state_before"], "flaky");

    // A second later: passes keep it fixed; results before the mark no longer count.
    let r = Reader { app: r.app.restart_with(later(2)).await, token: r.token };
    history(&r, "main", "pp").await;
    assert_eq!(listed(&r, "t").await.unwrap()["state"], "fixed");
    // It flakes again: a retry fires, and it is flaky once more.
    r.run_of("web", "branch=main&name=ci&commit=again", &[("t", "flaky", 1)]).await;
    let again = listed(&r, "t").await.unwrap();
    assert_eq!((again["state"].as_str(), again["signals"]["retry"].as_i64()), (Some("flaky"), Some(1)), "{again}");
    assert_eq!(again["signals"]["flips"], 0, "the changes before the mark stay forgotten");

    // Four changes after the mark make it flaky by flips again.
    history(&r, "main", "fpfp").await;
    assert_eq!(listed(&r, "t").await.unwrap()["signals"]["flips"], 4);
}

#[tokio::test]
async fn marking_fixed_needs_a_flaky_test_and_tests_manage() {
    let r = Reader::start().await;
    history(&r, "main", "pfpfp").await;
    let ids: Vec<(String, String)> = {
        let run = r.get("/api/v1/projects/web/runs?limit=1").await;
        let run_id = run["runs"][0]["id"].as_str().unwrap().to_string();
        let tests = r.get(&format!("/api/v1/projects/web/runs/{run_id}/tests")).await;
        tests["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t["test_id"].as_str().unwrap().to_string()))
            .collect()
    };
    let id_of = |name: &str| ids.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let fixed = |id: &str| format!("/api/v1/projects/web/tests/{id}/fixed");

    let not_flaky = post(&r.app, &fixed(&id_of("steady")), &r.token, json!({})).await;
    not_flaky.expect_code(StatusCode::NOT_FOUND, "not_found");
    post(&r.app, &fixed("00000000000000000000000000000000"), &r.token, json!({}))
        .await
        .expect_code(StatusCode::NOT_FOUND, "not_found");
    let malformed = post(&r.app, &fixed("not-hex"), &r.token, json!({})).await;
    let says = malformed.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
    assert!(says.contains("test_id"), "{says}");

    api_user(&r.app, &r.token, "vic@example.com", "viewer").await;
    let viewer = cli_token(&r.app, "vic@example.com", "vic", "projects:read,runs:read", &[]);
    post(&r.app, &fixed(&id_of("t")), &viewer, json!({})).await.expect_403("tests:manage");
    create_project(&r.app, "other");
    let other_key = cli_key(&r.app, "other", "runs:read,runs:write");
    let hidden = post(&r.app, &fixed(&id_of("t")), &other_key, json!({})).await;
    hidden.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    assert_eq!(listed(&r, "t").await.unwrap()["state"], "flaky", "nothing changed");
}

#[tokio::test]
async fn a_quarantined_flaky_test_shows_its_rule() {
    let r = Reader::start().await;
    history(&r, "main", "pfpfp").await;
    let t = listed(&r, "t").await.unwrap();
    let body = json!({"test_id": t["test_id"], "reason": "races the cache", "issue_url": "https://example.com/i/1"});
    let rule = post(&r.app, "/api/v1/projects/web/quarantine", &r.token, body).await.expect(StatusCode::CREATED);
    let t = listed(&r, "t").await.unwrap();
    assert_eq!(t["state"], "quarantined");
    assert_eq!(t["quarantine"]["id"], rule["id"]);
    assert_eq!(t["quarantine"]["reason"], "races the cache");
    // The test's own page and API show both.
    let test_id = t["test_id"].as_str().unwrap();
    let one = r.get(&format!("/api/v1/projects/web/tests/{test_id}")).await;
    assert_eq!(
        (one["flaky"]["state"].as_str(), one["quarantine"]["id"].clone()),
        (Some("quarantined"), rule["id"].clone())
    );
    let steady = r.get(&format!("/api/v1/projects/web/tests/{test_id}?limit=1")).await;
    assert_eq!(steady["history"].as_array().unwrap().len(), 1);
    let (admin, _) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = r.app.get(&admin, &format!("/projects/web/tests/{test_id}")).await.text().await.unwrap();
    assert!(page.contains("Flakiness and quarantine") && page.contains("races the cache"), "{page}");
    assert!(page.contains("flips 4") && page.contains(">Mark fixed</button>"), "{page}");
    delete(&r.app, &format!("/api/v1/projects/web/quarantine/{}", rule["id"].as_str().unwrap()), &r.token)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(listed(&r, "t").await.unwrap()["state"], "flaky", "released");
}

/// A row of the 90-day list can be marked fixed, though its signals are
/// older than the 30-day default.
#[tokio::test]
async fn a_test_flaky_only_in_a_longer_window_can_be_marked_fixed() {
    let r = Reader::start().await;
    history(&r, "main", "pfpfp").await;
    let r = Reader { app: r.app.restart_with(later(40 * 86_400)).await, token: r.token };
    assert_eq!(listed(&r, "t").await, None, "not in the last 30 days");
    let body = r.get(&format!("{FLAKY}?days=90")).await;
    let test_id = body["tests"][0]["test_id"].as_str().expect("listed over 90 days").to_string();
    let marked = post(&r.app, &format!("/api/v1/projects/web/tests/{test_id}/fixed"), &r.token, json!({})).await;
    assert_eq!(marked.expect(StatusCode::OK)["state"], "fixed");
}

/// A run created before the mark that closes after it changes nothing for
/// the test: only later results count.
#[tokio::test]
async fn a_run_open_across_the_mark_does_not_count_for_the_test() {
    let r = Reader::start().await;
    history(&r, "main", "pfpfp").await;
    let t = listed(&r, "t").await.unwrap();
    let run =
        post(&r.app, "/api/v1/projects/web/runs", &r.token, json!({"branch": "main", "name": "ci", "commit": "open"}))
            .await
            .expect(StatusCode::CREATED);
    let reports = format!("/api/v1/projects/web/runs/{}/reports", run["id"].as_str().unwrap());
    let xml = crate::results_api::junit(&[("steady", "passed", 1), ("t", "failed", 1)]);
    let upload = api(&r.app, reqwest::Method::POST, &reports, &r.token).header("content-type", "application/xml");
    send(upload.body(xml)).await.expect(StatusCode::CREATED);
    let fixed = format!("/api/v1/projects/web/tests/{}/fixed", t["test_id"].as_str().unwrap());
    post(&r.app, &fixed, &r.token, json!({})).await.expect(StatusCode::OK);

    let r = Reader { app: r.app.restart_with(later(2)).await, token: r.token };
    let finalize = format!("/api/v1/projects/web/runs/{}/finalize", run["id"].as_str().unwrap());
    post(&r.app, &finalize, &r.token, json!({})).await.expect(StatusCode::OK);
    history(&r, "main", "p").await;
    let after = listed(&r, "t").await.unwrap();
    assert_eq!((after["state"].as_str(), after["signals"]["flips"].as_i64()), (Some("fixed"), Some(0)), "{after}");
}

/// Flips count on the default branch: when it changes, the new branch's
/// first results are compared with nothing from the old one.
#[tokio::test]
async fn a_new_default_branch_starts_afresh() {
    let r = Reader::start().await;
    history(&r, "main", "pf").await;
    let (admin, _) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let form = [("name", "web"), ("default_branch", "dev"), ("flaky_flip_threshold", "2")];
    let saved = r.app.submit(&admin, "/projects/web/settings", "/projects/web/settings", &form).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    history(&r, "dev", "p").await;
    assert_eq!(listed(&r, "t").await, None, "one change on main; dev's first pass is not a second");
    history(&r, "dev", "f").await;
    let t = listed(&r, "t").await.expect("main's change and dev's: 2");
    assert_eq!(t["signals"]["flips"], 2, "{t}");
}

/// The flaky page's Mark fixed button: CSRF-checked, `tests:manage` only,
/// audited like the API's.
#[tokio::test]
async fn the_flaky_page_marks_a_test_fixed() {
    let r = Reader::start().await;
    history(&r, "main", "pfpfp").await;
    let t = listed(&r, "t").await.unwrap();
    let action = format!("/projects/web/tests/{}/fixed", t["test_id"].as_str().unwrap());
    let (admin, _) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = r.app.get(&admin, "/projects/web/flaky").await.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{action}\"")) && page.contains("● 4"), "{page}");

    let forged = admin.post(r.app.url(&action)).form(&[("csrf_token", "nope")]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "no change without the form's CSRF token");
    let viewer = r.app.user_session(&admin, "vic@example.com", "viewer").await;
    let seen = r.app.get(&viewer, "/projects/web/flaky").await.text().await.unwrap();
    assert!(!seen.contains(&action), "no button for a viewer");
    let refused = r.app.submit(&viewer, "/projects/web/flaky", &action, &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(listed(&r, "t").await.unwrap()["state"], "flaky", "nothing changed");

    let done = r.app.submit(&admin, "/projects/web/flaky", &action, &[]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/projects/web/flaky?notice=marked_fixed");
    let page = r.app.get(&admin, "/projects/web/flaky?notice=marked_fixed").await.text().await.unwrap();
    assert!(page.contains("Marked fixed: only results from now on count"), "{page}");
    assert!(page.contains(">fixed</span>") && !page.contains(&format!("action=\"{action}\"")), "{page}");
    let audit = r.app.audit_page(&admin, "?action=test.marked_fixed").await;
    assert!(audit.contains("test.marked_fixed"), "{audit}");
}
