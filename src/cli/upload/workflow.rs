//! The GitHub Actions workflow commands of a CI job's feedback (API.md
//! section 12): an `::error` per new failure (an `::warning` for one a
//! quarantine rule covers), at most [`MAX_ANNOTATIONS`], and an
//! `::warning` for a token about to expire; each part escaped by GitHub's
//! rules, so that a test name with `::` or a line break cannot start a
//! command of its own. Pure, like `summary.rs`, whose answers it reads.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::summary::{cut, is_quarantined, location, SummaryInput, TestChange, MAX_TITLE};

/// New failures annotated at most (API.md section 12). GitHub itself shows
/// only the first 10 error annotations of a step and 50 of a job.
pub const MAX_ANNOTATIONS: usize = 50;
/// Tokens that expire sooner than this get a warning.
pub const EXPIRY_HORIZON: Duration = Duration::days(7);
/// The longest failure message an annotation carries, in characters.
const MAX_ANNOTATION_MESSAGE: usize = 2000;

/// The workflow commands for GitHub Actions, one line each: the token's
/// warning, then an `::error` per new failure (an `::warning` for one a
/// quarantine rule covers), at most [`MAX_ANNOTATIONS`], then one
/// `::notice` saying how many more there are.
pub fn annotations(input: &SummaryInput) -> Vec<String> {
    let mut lines: Vec<String> = input.token_warning.iter().map(|w| command("warning", &[], w)).collect();
    let Ok(findings) = &input.findings else { return lines };
    let new = &findings.comparison.new_failures;
    let workspace = input.workspace.as_deref();
    for test in new.iter().take(MAX_ANNOTATIONS) {
        lines.push(failure_annotation(test, is_quarantined(findings, &test.test_id), workspace));
    }
    if new.len() > MAX_ANNOTATIONS {
        let more = new.len() - MAX_ANNOTATIONS;
        let what = if more == 1 { "new failure is" } else { "new failures are" };
        let text = format!("{more} more {what} not annotated (at most {MAX_ANNOTATIONS} are): {}", input.url);
        lines.push(command("notice", &[], &text));
    }
    lines
}

/// The warning for a personal access token or project API key that
/// expires within [`EXPIRY_HORIZON`] of `now`. Never for `oidc` tokens,
/// which live minutes by design, nor for a token that never expires.
pub fn expiry_warning(kind: &str, expires_at: Option<OffsetDateTime>, now: OffsetDateTime) -> Option<String> {
    if !matches!(kind, "pat" | "key") {
        return None;
    }
    let at = expires_at?;
    let left = at - now;
    if left >= EXPIRY_HORIZON {
        return None;
    }
    let when = at.to_offset(UtcOffset::UTC).format(&Rfc3339).unwrap_or_default();
    Some(format!("the token expires at {when} ({}); rotate it", in_words(left)))
}

/// "in 3 days", "in 5 hours", "in less than an hour".
fn in_words(left: Duration) -> String {
    let unit = |n: i64, word: &str| if n == 1 { format!("in 1 {word}") } else { format!("in {n} {word}s") };
    match (left.whole_days(), left.whole_hours()) {
        (days, _) if days >= 1 => unit(days, "day"),
        (_, hours) if hours >= 1 => unit(hours, "hour"),
        _ => "in less than an hour".to_string(),
    }
}

/// A workflow command line: `::name k=v,k=v::message`, each part escaped;
/// properties that are None are left out.
pub fn command(name: &str, properties: &[(&str, Option<&str>)], message: &str) -> String {
    let props: Vec<String> =
        properties.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", escape_property(v)))).collect();
    let space = if props.is_empty() { "" } else { " " };
    format!("::{name}{space}{}::{}", props.join(","), escape_data(message))
}

/// Escapes workflow-command data (after the second `::`) by GitHub's rules:
/// `%`, CR and LF percent-encoded, so the message stays on its one line
/// and cannot start a command of its own.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow-command property value: as data, and `:` and `,`
/// too, which would end the value or the properties.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=…,line=…,title=New failure: …::message` (a warning for a
/// quarantined test).
fn failure_annotation(test: &TestChange, quarantined: bool, workspace: Option<&str>) -> String {
    let (file, line) = location(test, workspace);
    let line = line.map(|l| l.to_string());
    let mut title = format!("New failure: {}", cut(&test.title(), MAX_TITLE));
    let level = if quarantined {
        title.push_str(" (quarantined)");
        "warning"
    } else {
        "error"
    };
    let properties = [("file", file.as_deref()), ("line", line.as_deref()), ("title", Some(title.as_str()))];
    command(level, &properties, &annotation_message(test))
}

/// The failure message (cut), then what the test did in the base run.
fn annotation_message(test: &TestChange) -> String {
    let before = match test.base_status.as_deref() {
        Some(status) => format!("{status} in the base run"),
        None => "not in the base run".to_string(),
    };
    let status = if test.status.is_empty() { "failed" } else { test.status.as_str() };
    match test.message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        Some(message) => format!("{}\n({status}; {before})", cut(message, MAX_ANNOTATION_MESSAGE)),
        None => format!("{status}; {before}"),
    }
}

#[cfg(test)]
#[path = "workflow_tests.rs"]
mod tests;
