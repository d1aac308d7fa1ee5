//! Quarantine rules over the API (API.md section 9): made by test id or by
//! pattern, listed active first, released by hand or by time, audited;
//! every bad input a 400 naming the field; `tests:manage` to change them.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api_helpers::*;
use crate::helpers::*;
use crate::results_api::{id, Reader};

const RULES: &str = "/api/v1/projects/web/quarantine";

/// A project `web` with one run of tests `login` (failed) and `cart`, and
/// the test id of `login`.
async fn project_with_tests() -> (Reader, String) {
    let r = Reader::start().await;
    let run = id(&r.run_of("web", "branch=main&commit=a1", &[("login", "failed", 5), ("cart", "passed", 3)]).await);
    let tests = r.get(&format!("/api/v1/projects/web/runs/{run}/tests")).await;
    let login = tests["tests"].as_array().unwrap().iter().find(|t| t["name"] == "login").expect("login listed");
    let test_id = login["test_id"].as_str().unwrap().to_string();
    (r, test_id)
}

#[tokio::test]
async fn rules_by_test_or_pattern_are_made_listed_released_and_audited() {
    let (r, login) = project_with_tests().await;
    let body = json!({"test_id": login, "reason": "flaky on CI since the runner upgrade",
                      "issue_url": "https://github.com/acme/web/issues/7", "release_after_passes": 5});
    let by_test = post(&r.app, RULES, &r.token, body).await.expect(StatusCode::CREATED);
    assert_eq!(by_test["test_id"], login.as_str());
    assert_eq!(by_test["pattern"], Value::Null);
    assert_eq!(by_test["issue_url"], "https://github.com/acme/web/issues/7");
    assert_eq!(by_test["created_by"]["type"], "token");
    assert_eq!((by_test["active"].as_bool(), by_test["consecutive_passes"].as_i64()), (Some(true), Some(0)));
    assert_eq!(by_test["release_after_passes"], 5);
    let days = (unix(by_test["expires_at"].as_str().unwrap()) - unix(by_test["created_at"].as_str().unwrap())) / 86_400;
    assert_eq!(days, 30, "30 days by default");
    for field in ["released_at", "released_by", "release_reason"] {
        assert_eq!(by_test[field], Value::Null, "{field}");
    }

    let pattern =
        json!({"pattern": {"classname": "app.*", "name": "c?rt"}, "reason": "cart is flaky", "expires_in_days": 7});
    let by_pattern = post(&r.app, RULES, &r.token, pattern).await.expect(StatusCode::CREATED);
    assert_eq!(by_pattern["test_id"], Value::Null);
    assert_eq!(by_pattern["pattern"], json!({"suite": null, "classname": "app.*", "name": "c?rt", "file": null}));

    delete(&r.app, &format!("{RULES}/{}", id(&by_test)), &r.token).await.expect(StatusCode::NO_CONTENT);
    // Releasing again changes nothing.
    delete(&r.app, &format!("{RULES}/{}", id(&by_test)), &r.token).await.expect(StatusCode::NO_CONTENT);
    let listed = r.get(RULES).await;
    let rules = listed["quarantine"].as_array().unwrap();
    assert_eq!(
        rules.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(),
        [by_pattern["id"].clone(), by_test["id"].clone()],
        "active first"
    );
    let released = &rules[1];
    assert_eq!((released["active"].as_bool(), released["release_reason"].as_str()), (Some(false), Some("manual")));
    assert_eq!(released["released_by"]["type"], "token");
    assert!(released["released_at"].is_string());

    // Pages of one: the cursor carries on across the active/released boundary.
    let first = r.get(&format!("{RULES}?limit=1")).await;
    assert_eq!(first["quarantine"][0]["id"], by_pattern["id"]);
    let cursor = first["next_cursor"].as_str().expect("a next page").to_string();
    let second = r.get(&format!("{RULES}?limit=1&cursor={cursor}")).await;
    assert_eq!(second["quarantine"][0]["id"], by_test["id"]);
    assert_eq!(second["next_cursor"], Value::Null);

    let quarantined = audit_events(&r.app, &r.token, "&action=test.quarantined").await;
    assert_eq!(quarantined.len(), 2);
    let released = audit_events(&r.app, &r.token, "&action=test.released").await;
    assert_eq!(released.len(), 1, "released once, however often asked: {released:?}");
    assert_eq!(released[0]["target"]["id"], by_test["id"]);

    // Eight days on, the 7-day rule is no longer active, whether or not
    // anything recorded it.
    let r = Reader { app: r.app.restart_with(later(8 * 86_400)).await, token: r.token };
    let rules = r.get(RULES).await;
    let pattern_rule =
        rules["quarantine"].as_array().unwrap().iter().find(|x| x["id"] == by_pattern["id"]).unwrap().clone();
    assert_eq!(pattern_rule["active"], false);
    // Housekeeping (at start-up) records the expiry, as of expires_at, and audits it.
    let expired = poll(std::time::Duration::from_secs(10), "the expiry recorded", || async {
        let rules = r.get(RULES).await;
        let rule =
            rules["quarantine"].as_array().unwrap().iter().find(|x| x["id"] == by_pattern["id"]).unwrap().clone();
        (rule["release_reason"] == "expired").then_some(rule)
    })
    .await;
    assert_eq!(expired["released_at"], expired["expires_at"]);
    assert_eq!(expired["released_by"]["type"], "system");
    let released = audit_events(&r.app, &r.token, "&action=test.released").await;
    let reasons: Vec<&str> = released.iter().map(|e| e["details"]["release_reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["expired", "manual"], "newest first");
}

#[tokio::test]
async fn every_bad_rule_is_a_400_naming_the_field_and_stores_nothing() {
    let (r, login) = project_with_tests().await;
    let soon = rfc3339(now_unix() + 3 * 86_400);
    let far = rfc3339(now_unix() + 181 * 86_400);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"test_id": login, "reason": ""}), "reason is required"),
        (json!({"test_id": login, "reason": "   "}), "reason is required"),
        (json!({"test_id": login, "reason": "x".repeat(501)}), "reason is longer than 500"),
        (json!({"test_id": login, "reason": "r", "issue_url": "javascript:alert(1)"}), "issue_url must be an http"),
        (json!({"test_id": login, "reason": "r", "expires_in_days": 181}), "expires_in_days must be between 1 and 180"),
        (json!({"test_id": login, "reason": "r", "expires_in_days": 0}), "expires_in_days must be between 1 and 180"),
        (json!({"test_id": login, "reason": "r", "expires_at": far}), "at most 180 days ahead"),
        (
            json!({"test_id": login, "reason": "r", "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at must be in the future",
        ),
        (json!({"test_id": login, "reason": "r", "expires_at": "tomorrow"}), "expires_at must be an RFC 3339 time"),
        (json!({"test_id": login, "reason": "r", "expires_in_days": 3, "expires_at": soon}), "not both"),
        (
            json!({"test_id": login, "reason": "r", "release_after_passes": 0}),
            "release_after_passes must be between 1 and 100",
        ),
        (
            json!({"test_id": login, "reason": "r", "release_after_passes": 101}),
            "release_after_passes must be between 1 and 100",
        ),
        (json!({"reason": "r"}), "Give test_id or pattern"),
        (json!({"test_id": login, "pattern": {"name": "x"}, "reason": "r"}), "not both"),
        (json!({"pattern": {}, "reason": "r"}), "at least one of suite, classname, name, file"),
        (json!({"pattern": {"name": ""}, "reason": "r"}), "pattern.name must not be empty"),
        (json!({"test_id": "not-hex", "reason": "r"}), "test_id must be 32 hexadecimal characters"),
    ];
    for (body, says) in cases {
        let message =
            post(&r.app, RULES, &r.token, body.clone()).await.expect_code(StatusCode::BAD_REQUEST, "invalid_request");
        assert!(message.contains(says), "{body}: {message}");
    }
    let extra = json!({"test_id": login, "reason": "r", "owner": "me"});
    let message = post(&r.app, RULES, &r.token, extra).await.expect_code(StatusCode::BAD_REQUEST, "invalid_json");
    assert!(message.contains("unknown field `owner`"), "{message}");
    let unknown = json!({"test_id": "0".repeat(32), "reason": "r"});
    post(&r.app, RULES, &r.token, unknown).await.expect_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "No such test in this project.",
    );
    delete(&r.app, &format!("{RULES}/nope"), &r.token).await.expect_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "No such quarantine rule in this project.",
    );
    assert_eq!(r.get(RULES).await["quarantine"], json!([]), "nothing stored");
}

#[tokio::test]
async fn only_tests_manage_changes_rules_and_other_projects_see_nothing() {
    let (r, login) = project_with_tests().await;
    api_user(&r.app, &r.token, "vic@example.com", "viewer").await;
    let viewer = cli_token(&r.app, "vic@example.com", "vic", "projects:read,runs:read", &[]);
    let rule = json!({"test_id": login, "reason": "flaky"});
    post(&r.app, RULES, &viewer, rule.clone()).await.expect_403("tests:manage");
    get(&r.app, RULES, &viewer).await.expect(StatusCode::OK);
    let made = post(&r.app, RULES, &r.token, rule.clone()).await.expect(StatusCode::CREATED);
    delete(&r.app, &format!("{RULES}/{}", id(&made)), &viewer).await.expect_403("tests:manage");
    // A key of another project: the project is not there for it.
    create_project(&r.app, "other");
    let other = cli_key(&r.app, "other", "projects:read,runs:read,runs:write");
    get(&r.app, RULES, &other).await.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    post(&r.app, RULES, &other, rule).await.expect_code(StatusCode::NOT_FOUND, "project_not_found");
    // A rule id of one project is not found under another.
    let in_other = format!("/api/v1/projects/other/quarantine/{}", id(&made));
    delete(&r.app, &in_other, &r.token).await.expect_code(StatusCode::NOT_FOUND, "not_found");
}

/// The `(status, quarantined)` of each test of `run`, by name.
async fn results_of(r: &Reader, run: &str) -> Vec<(String, String, bool)> {
    let tests = r.get(&format!("/api/v1/projects/web/runs/{run}/tests")).await;
    let mut found: Vec<(String, String, bool)> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let field = |k: &str| t[k].as_str().unwrap().to_string();
            (field("name"), field("status"), t["quarantined"].as_bool().expect("quarantined"))
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn a_run_whose_every_failure_is_quarantined_passes_and_one_with_another_failure_fails() {
    let (r, login) = project_with_tests().await;
    post(&r.app, RULES, &r.token, json!({"test_id": login, "reason": "flaky login"})).await.expect(StatusCode::CREATED);
    let pattern = json!({"pattern": {"name": "pay_*"}, "reason": "payment sandbox is down"});
    post(&r.app, RULES, &r.token, pattern).await.expect(StatusCode::CREATED);

    let cases = [("login", "failed", 5), ("pay_card", "error", 2), ("cart", "passed", 3), ("skip", "skipped", 0)];
    let forgiven = r.run_of("web", "branch=main&commit=b2", &cases).await;
    assert_eq!(forgiven["status"], "passed", "every failure quarantined: {forgiven}");
    assert_eq!((forgiven["failed"].as_i64(), forgiven["errors"].as_i64()), (Some(1), Some(1)), "still counted");
    assert_eq!(forgiven["quarantined"], 2);
    let results = results_of(&r, &id(&forgiven)).await;
    assert_eq!(
        results,
        [
            ("cart".into(), "passed".into(), false),
            ("login".into(), "failed".into(), true),
            ("pay_card".into(), "error".into(), true),
            ("skip".into(), "skipped".into(), false),
        ]
    );

    // The run page lists them in their own section, not as failures.
    let (browser, _) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = r.app.get(&browser, &format!("/projects/web/runs/{}", id(&forgiven))).await.text().await.unwrap();
    let section = |id: &str| {
        let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("section {id}"));
        page[start..].split("</section>").next().unwrap().to_string()
    };
    assert!(section("failures").contains("No failures in this run."), "{}", section("failures"));
    let quarantined = section("quarantined");
    assert!(quarantined.contains("login") && quarantined.contains("pay_card"), "{quarantined}");

    let cases = [("login", "failed", 5), ("cart", "failed", 3)];
    let red = r.run_of("web", "branch=main&commit=c3", &cases).await;
    assert_eq!((red["status"].as_str(), red["quarantined"].as_i64()), (Some("failed"), Some(1)), "{red}");
    // A passing result is never marked.
    let green = r.run_of("web", "branch=main&commit=d4", &[("login", "passed", 5)]).await;
    assert_eq!((green["status"].as_str(), green["quarantined"].as_i64()), (Some("passed"), Some(0)));
    assert_eq!(results_of(&r, &id(&green)).await, [("login".into(), "passed".into(), false)]);
}

#[tokio::test]
async fn a_rule_releases_itself_after_consecutive_passes_on_the_default_branch() {
    let (r, login) = project_with_tests().await;
    let body = json!({"test_id": login, "reason": "flaky login", "release_after_passes": 2});
    let rule = post(&r.app, RULES, &r.token, body).await.expect(StatusCode::CREATED);
    let rule_path = format!("{RULES}?limit=200");
    let state = || async {
        let listed = r.get(&rule_path).await;
        let found = listed["quarantine"].as_array().unwrap().iter().find(|x| x["id"] == rule["id"]).unwrap().clone();
        (found["consecutive_passes"].as_i64().unwrap(), found["active"].as_bool().unwrap())
    };
    r.run_of("web", "branch=main&commit=e1", &[("login", "passed", 5)]).await;
    assert_eq!(state().await, (1, true));
    // Passes elsewhere do not count; a skip neither counts nor resets.
    r.run_of("web", "branch=feature&commit=e2", &[("login", "passed", 5)]).await;
    r.run_of("web", "branch=main&commit=e3", &[("login", "skipped", 0)]).await;
    assert_eq!(state().await, (1, true));
    // A failure (forgiven, since the rule is active) starts the count again.
    let forgiven = r.run_of("web", "branch=main&commit=e4", &[("login", "failed", 5)]).await;
    assert_eq!(forgiven["status"], "passed");
    assert_eq!(state().await, (0, true));
    r.run_of("web", "branch=main&commit=e5", &[("login", "passed", 5)]).await;
    r.run_of("web", "branch=main&commit=e6", &[("login", "passed", 5)]).await;
    assert_eq!(state().await, (2, false), "released by the second pass in a row");
    let listed = r.get(&rule_path).await;
    let released = listed["quarantine"].as_array().unwrap().iter().find(|x| x["id"] == rule["id"]).unwrap().clone();
    assert_eq!(
        (released["release_reason"].as_str(), released["released_by"]["type"].as_str()),
        (Some("passes"), Some("system"))
    );
    let events = audit_events(&r.app, &r.token, "&action=test.released").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["details"]["release_reason"], "passes");
    // Released: the next failure fails its run again.
    let red = r.run_of("web", "branch=main&commit=e7", &[("login", "failed", 5)]).await;
    assert_eq!((red["status"].as_str(), red["quarantined"].as_i64()), (Some("failed"), Some(0)));
}

/// The Quarantine tab lists the rules with what they cover and why; people
/// with `tests:manage` release one there (CSRF-checked, audited), others
/// only read.
#[tokio::test]
async fn the_quarantine_tab_lists_rules_and_releases_one() {
    let (r, login) = project_with_tests().await;
    let body = json!({"test_id": login, "reason": "times out <sometimes>", "issue_url": "https://example.com/i/7"});
    let rule = post(&r.app, RULES, &r.token, body).await.expect(StatusCode::CREATED);
    let (admin, _) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let page = r.app.get(&admin, "/projects/web/quarantine").await.text().await.unwrap();
    assert!(page.contains("times out &#60;sometimes&#62;") && !page.contains("<sometimes>"), "escaped: {page}");
    assert!(page.contains("href=\"https://example.com/i/7\""));
    assert!(page.contains(&format!("/projects/web/tests/{login}")));
    let release = format!("/projects/web/quarantine/{}/release", id(&rule));
    assert!(page.contains(&release) && page.contains("aria-current=\"page\">Quarantine"));

    let viewer = r.app.user_session(&admin, "vic@example.com", "viewer").await;
    let seen = r.app.get(&viewer, "/projects/web/quarantine").await.text().await.unwrap();
    assert!(seen.contains("times out") && !seen.contains(&release), "a viewer reads but cannot release");
    let refused = r.app.submit(&viewer, "/projects/web/quarantine", &release, &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let done = r.app.submit(&admin, "/projects/web/quarantine", &release, &[]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/projects/web/quarantine?notice=rule_released");
    let after = r.app.get(&admin, &location(&done)).await.text().await.unwrap();
    assert!(
        after.contains("Quarantine rule released") && after.contains("released by hand") && !after.contains(&release)
    );
    let events = audit_events(&r.app, &r.token, "&action=test.released").await;
    assert_eq!(events.len(), 1);
}

/// From the flaky list to a rule: the row links to the quarantine form,
/// which makes the rule (or comes back naming what is wrong); only
/// `tests:manage` sees the link or may use the form.
#[tokio::test]
async fn a_flaky_test_is_quarantined_from_the_flaky_page() {
    let r = Reader::start().await;
    // Passed and failed on one commit: flaky.
    r.run_of("web", "branch=main&commit=f1", &[("login", "passed", 5)]).await;
    r.run_of("web", "branch=main&commit=f1", &[("login", "failed", 5)]).await;
    let (admin, _) = r.app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let flaky = r.app.get(&admin, "/projects/web/flaky").await.text().await.unwrap();
    let start = flaky.find("/projects/web/quarantine/new?test_id=").expect("a quarantine link");
    let link = flaky[start..].split('"').next().unwrap().to_string();
    let test_id = link.rsplit('=').next().unwrap().to_string();
    let form = r.app.get(&admin, &link).await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("login"));

    let fields = |reason: &'static str, days: &'static str| {
        vec![
            ("test_id", test_id.clone()),
            ("reason", reason.to_string()),
            ("issue_url", String::new()),
            ("expires_in_days", days.to_string()),
            ("release_after_passes", "3".to_string()),
        ]
    };
    for (reason, days, says) in
        [("", "30", "reason is required"), ("flaky", "181", "expires_in_days must be between 1 and 180")]
    {
        let owned = fields(reason, days);
        let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = r.app.submit(&admin, &link, "/projects/web/quarantine", &pairs).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let page = refused.text().await.unwrap();
        assert!(page.contains(says), "{says}");
        // The field at fault is marked and tied to the error (tests/integration/form_errors.rs).
        let field = says.split(' ').next().unwrap();
        let at = page.find(r#"id="invalid-field""#).expect("a field marked");
        let tag = &page[page[..at].rfind('<').unwrap()..at + page[at..].find('>').unwrap()];
        assert!(tag.contains(&format!(r#"name="{field}""#)) && tag.contains("form-error"), "{tag}");
    }
    let owned = fields("flaky on CI", "14");
    let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let made = r.app.submit(&admin, &link, "/projects/web/quarantine", &pairs).await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&made), "/projects/web/quarantine?notice=rule_created");
    let rules = r.get(RULES).await;
    let rule = &rules["quarantine"][0];
    assert_eq!((rule["test_id"].as_str(), rule["reason"].as_str()), (Some(test_id.as_str()), Some("flaky on CI")));
    assert_eq!(rule["release_after_passes"], 3);
    assert_eq!((unix(rule["expires_at"].as_str().unwrap()) - unix(rule["created_at"].as_str().unwrap())) / 86_400, 14);

    let viewer = r.app.user_session(&admin, "vic@example.com", "viewer").await;
    let seen = r.app.get(&viewer, "/projects/web/flaky").await.text().await.unwrap();
    assert!(seen.contains("login") && !seen.contains("/quarantine/new"), "no link for a viewer");
    assert_eq!(r.app.get(&viewer, &link).await.status(), StatusCode::FORBIDDEN);
}
