//! The results of a finished run, read page by page from
//! `GET …/runs/{run}/tests?status=…`: the failed and errored ones that
//! `proctor run` lists as forgiven when every one of them is quarantined,
//! and the flaky and quarantined ones the CI summary shows.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::http::Api;

/// Retries per page: the run is already stored and judged, so a server that
/// stops answering now costs a warning, not another full back-off.
const RETRIES: u32 = 1;
/// The largest page the API serves.
const PAGE: &str = "200";

/// One failed or errored test result of a run.
#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    #[serde(default)]
    pub suite: String,
    #[serde(default)]
    pub classname: String,
    #[serde(default)]
    pub name: String,
    /// `failed` or `error`.
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
    /// An active quarantine rule covered it when it was stored.
    #[serde(default)]
    pub quarantined: bool,
}

impl Failure {
    /// `suite › classname › name`, leaving out empty parts and a classname
    /// that only repeats the suite.
    pub fn title(&self) -> String {
        let classname = Some(self.classname.as_str()).filter(|c| *c != self.suite);
        let parts = [Some(self.suite.as_str()), classname, Some(self.name.as_str())];
        parts.into_iter().flatten().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" › ")
    }

    /// The status and the first line of the message, cut at 200 characters:
    /// `failed: timeout after 30 s`.
    pub fn outcome(&self) -> String {
        let first_line = self.message.as_deref().and_then(|m| m.lines().find(|l| !l.trim().is_empty()));
        match first_line {
            Some(line) => format!("{}: {}", self.status, line.trim().chars().take(200).collect::<String>()),
            None => self.status.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Page<T> {
    tests: Vec<T>,
    next_cursor: Option<String>,
}

/// Every `failed`, then every `error` result of the run, at most `max` in
/// all, and whether that is all of them.
pub fn list(api: &Api, project: &str, run: &str, max: usize) -> Result<(Vec<Failure>, bool), String> {
    results(api, project, run, &["failed", "error"], max)
}

/// The run's results of each status in turn (as `T`: a [`Failure`], or the
/// summary's `TestResult`), at most `max` in all, and whether that is all
/// of them.
pub fn results<T: DeserializeOwned>(
    api: &Api,
    project: &str,
    run: &str,
    statuses: &[&str],
    max: usize,
) -> Result<(Vec<T>, bool), String> {
    let mut found = Vec::new();
    for status in statuses {
        let mut cursor: Option<String> = None;
        while found.len() <= max {
            let mut query = vec![("status", *status), ("limit", PAGE)];
            query.extend(cursor.as_deref().map(|c| ("cursor", c)));
            let page = api.get::<Page<T>>(&["projects", project, "runs", run, "tests"], &query, RETRIES)?.body;
            found.extend(page.tests);
            cursor = match page.next_cursor {
                Some(next) => Some(next),
                None => break,
            };
        }
    }
    let complete = found.len() <= max;
    found.truncate(max);
    Ok((found, complete))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(suite: &str, classname: &str, name: &str, message: Option<&str>) -> Failure {
        let message = message.map(str::to_string);
        let (suite, classname, name) = (suite.to_string(), classname.to_string(), name.to_string());
        Failure { suite, classname, name, status: "failed".into(), message, quarantined: true }
    }

    #[test]
    fn titles_join_the_parts_that_say_something() {
        assert_eq!(failure("unit", "a.B", "login", None).title(), "unit › a.B › login");
        assert_eq!(failure("", "a.B", "login", None).title(), "a.B › login");
        assert_eq!(failure("unit", "unit", "login", None).title(), "unit › login");
        assert_eq!(failure("unit", "", "login", None).title(), "unit › login");
    }

    #[test]
    fn outcomes_show_the_first_line_of_the_message() {
        assert_eq!(failure("s", "c", "n", None).outcome(), "failed");
        assert_eq!(
            failure("s", "c", "n", Some("\n  timeout after 30 s\nat x.rs:3")).outcome(),
            "failed: timeout after 30 s"
        );
        assert_eq!(failure("s", "c", "n", Some(&"x".repeat(500))).outcome().len(), "failed: ".len() + 200);
    }
}
