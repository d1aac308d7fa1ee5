//! The Markdown summary a CI job shows about its run (API.md section 12),
//! which `proctor upload` and `proctor run` append to `$GITHUB_STEP_SUMMARY`
//! or `--summary FILE`, the server's answers it is made from, and the
//! escaping that keeps test names from breaking out of it (the workflow
//! commands are `workflow.rs`'s). Pure: the caller reads the server and
//! writes the output, so every case, hostile names included, is tested.

use serde::Deserialize;
use time::OffsetDateTime;

/// Rows of the new-failures table.
const MAX_NEW_ROWS: usize = 50;
/// Items of the quarantined and flaky lists.
const MAX_LISTED: usize = 20;
/// Rows of the slower table.
const MAX_SLOWER: usize = 10;
/// The longest test title, file or run name shown, in characters.
pub(super) const MAX_TITLE: usize = 300;
/// The longest message line, reason or warning shown, in characters.
const MAX_LINE: usize = 200;

/// A run as the server returns it (the API's run object, only what the
/// clients use). Counts are absent while a run is open.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Run {
    pub id: String,
    pub status: Option<String>,
    pub name: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    /// Why an errored run errored.
    pub reason: Option<String>,
    pub tests: Option<u64>,
    pub passed: Option<u64>,
    pub failed: Option<u64>,
    pub errors: Option<u64>,
    pub skipped: Option<u64>,
    pub flaky: Option<u64>,
    /// Failed or errored tests that a quarantine rule covered (counted in
    /// `failed` and `errors` too).
    pub quarantined: Option<u64>,
}

/// One test of `GET …/runs/{run}/compare`: its result now and in the base.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TestChange {
    #[serde(default)]
    pub test_id: String,
    #[serde(default)]
    pub suite: String,
    #[serde(default)]
    pub classname: String,
    #[serde(default)]
    pub name: String,
    pub file: Option<String>,
    /// Not served by the API yet: reports carry a line, the server does not
    /// store it. Read when present.
    pub line: Option<u32>,
    #[serde(default)]
    pub status: String,
    pub base_status: Option<String>,
    pub duration_ms: Option<i64>,
    pub base_duration_ms: Option<i64>,
    pub message: Option<String>,
}

/// `GET …/runs/{run}/compare`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Comparison {
    /// None: no earlier finished run of this name on the default branch,
    /// so every failure counts as new.
    pub base_run: Option<Run>,
    #[serde(default)]
    pub new_failures: Vec<TestChange>,
    #[serde(default)]
    pub fixed: Vec<TestChange>,
    #[serde(default)]
    pub still_failing: Vec<TestChange>,
    /// Biggest slowdown first.
    #[serde(default)]
    pub slower: Vec<TestChange>,
}

/// One result of `GET …/runs/{run}/tests`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TestResult {
    #[serde(default)]
    pub test_id: String,
    #[serde(default)]
    pub suite: String,
    #[serde(default)]
    pub classname: String,
    #[serde(default)]
    pub name: String,
    pub message: Option<String>,
    /// An active quarantine rule covered it when it was stored.
    #[serde(default)]
    pub quarantined: bool,
}

/// `GET /api/v1/whoami`, as far as the feedback needs it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WhoAmI {
    #[serde(default)]
    pub token: TokenInfo,
}

/// The presented token: its kind (`pat`, `key`, `oidc`), expiry and
/// effective permissions.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenInfo {
    pub kind: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Absent from an answer that does not list them.
    pub permissions: Option<Vec<String>>,
}

impl TokenInfo {
    /// Whether the token may read runs (`runs:read`); None when whoami did
    /// not say, so that the caller tries and reads the refusal.
    pub fn can_read_runs(&self) -> Option<bool> {
        self.permissions.as_ref().map(|p| p.iter().any(|p| p == "runs:read"))
    }
}

/// What the summary and the annotations are made of.
#[derive(Debug, Clone)]
pub struct SummaryInput {
    /// The run as the upload left it (finalized, or open for other shards).
    pub run: Run,
    /// The run's page on the server.
    pub url: String,
    /// What the token could read about the run, or why nothing was read
    /// (a token with only `runs:write`, an unreachable server).
    pub findings: Result<Findings, String>,
    /// From [`expiry_warning`].
    pub token_warning: Option<String>,
    /// `GITHUB_WORKSPACE`: report paths under it are annotated relative to it.
    pub workspace: Option<String>,
}

/// What the run's results say beyond its counts.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub comparison: Comparison,
    /// Its results with status `flaky` (perhaps only the first page).
    pub flaky: Vec<TestResult>,
    /// Its failed and errored results that a quarantine rule covered
    /// (perhaps only the first ones).
    pub quarantined: Vec<TestResult>,
}

/// The summary: status, counts, link, then the new failures against the
/// base run, the quarantined and flaky tests and the slowest regressions,
/// or why those are missing. Every list is capped, so the summary stays far
/// below GitHub's 1 MiB per step.
pub fn markdown(input: &SummaryInput) -> String {
    let run = &input.run;
    let mut blocks = vec![heading(run), counts(run), where_line(input)];
    if run.status.as_deref() == Some("errored") {
        blocks.extend(run.reason.as_deref().map(|r| format!("> **Errored:** {}", md(&cut(r, MAX_LINE)))));
    }
    blocks.extend(input.token_warning.as_deref().map(|w| format!("> **Warning:** {}", md(w))));
    match &input.findings {
        Ok(findings) => blocks.extend(sections(input, findings)),
        Err(why) => blocks.push(format!("_New failures, flaky and quarantined tests are not shown: {}_", md(why))),
    }
    let mut out = blocks.into_iter().filter(|b| !b.is_empty()).collect::<Vec<_>>().join("\n\n");
    out.push('\n');
    out
}

/// Escapes text for Markdown, in a paragraph, a list item or a table cell:
/// every ASCII punctuation character that means something to GitHub's
/// Markdown backslash-escaped (so `|`, `*`, `` ` ``, `<`, `[`, `&`, `:` …
/// are literal: no table break, no emphasis, no HTML, no entity, no
/// autolink), line breaks and tabs as spaces, other control characters and
/// bidirectional overrides as U+FFFD. `' " , ; ? / %` mean nothing there
/// and stay as they are, for a readable file.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        match c {
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => out.push('\u{FFFD}'),
            c if c.is_ascii_punctuation() && !"'\",;?/%".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` fit for one log line on stderr, where GitHub also reads workflow
/// commands: line breaks and other control characters become spaces, so a
/// test name cannot start a line with `::`.
pub fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() || is_bidi_control(c) { ' ' } else { c }).collect()
}

/// The characters that reorder text on screen ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn md(text: &str) -> String {
    escape_markdown(text)
}

/// `text` cut to `max` characters, the last one an ellipsis when cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The first line of a message that says something, trimmed.
fn first_line(message: Option<&str>) -> Option<&str> {
    message?.lines().map(str::trim).find(|l| !l.is_empty())
}

/// `suite › classname › name`, leaving out empty parts and a classname
/// that only repeats the suite (as `proctor run` names its failures).
pub fn title(suite: &str, classname: &str, name: &str) -> String {
    let classname = Some(classname).filter(|c| *c != suite);
    let parts = [Some(suite), classname, Some(name)];
    let joined = parts.into_iter().flatten().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" › ");
    if joined.is_empty() {
        "(unnamed test)".to_string()
    } else {
        joined
    }
}

impl TestChange {
    pub fn title(&self) -> String {
        title(&self.suite, &self.classname, &self.name)
    }
}

impl TestResult {
    pub fn title(&self) -> String {
        title(&self.suite, &self.classname, &self.name)
    }
}

pub(super) fn is_quarantined(findings: &Findings, test_id: &str) -> bool {
    !test_id.is_empty() && findings.quarantined.iter().any(|q| q.test_id == test_id)
}

fn heading(run: &Run) -> String {
    let status = run.status.as_deref().unwrap_or("unknown");
    let (icon, said) = match status {
        "passed" => ("✅", "passed".to_string()),
        "failed" => ("❌", "failed".to_string()),
        "errored" => ("⚠️", "errored".to_string()),
        "running" => ("⏳", "still running (left open for other shards)".to_string()),
        other => ("❔", md(&cut(other, 40))),
    };
    let name = run.name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or("run");
    format!("### {icon} Proctor: {} {said}", md(&cut(name, MAX_TITLE)))
}

/// `**812 tests**: 790 passed, 2 failed, 1 errored, 5 flaky …` (zero counts
/// beyond passed and failed left out); empty while the run is open, whose
/// counts are those of when it was created.
fn counts(run: &Run) -> String {
    let Some(tests) = run.tests.filter(|_| run.status.as_deref() != Some("running")) else { return String::new() };
    let always = [("passed", run.passed), ("failed", run.failed)];
    let if_any =
        [("errored", run.errors), ("skipped", run.skipped), ("flaky", run.flaky), ("quarantined", run.quarantined)];
    let parts: Vec<String> = always
        .into_iter()
        .chain(if_any.into_iter().filter(|(_, n)| n.unwrap_or(0) > 0))
        .filter_map(|(label, n)| n.map(|n| format!("{n} {label}")))
        .collect();
    let noun = if tests == 1 { "test" } else { "tests" };
    if parts.is_empty() {
        format!("**{tests} {noun}**")
    } else {
        format!("**{tests} {noun}**: {}", parts.join(", "))
    }
}

/// The run's link, branch and commit.
fn where_line(input: &SummaryInput) -> String {
    let mut parts = vec![link("Open the run in Proctor", &input.url)];
    if let Some(branch) = input.run.branch.as_deref().filter(|b| !b.is_empty()) {
        parts.push(format!("branch {}", md(&cut(branch, MAX_LINE))));
    }
    if let Some(commit) = input.run.commit.as_deref().filter(|c| !c.is_empty()) {
        parts.push(format!("commit {}", md(&short_commit(commit))));
    }
    parts.join(" · ")
}

/// A hex commit id shortened to 10 digits; anything else cut to 40.
fn short_commit(commit: &str) -> String {
    if commit.len() > 10 && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        commit[..10].to_string()
    } else {
        cut(commit, 40)
    }
}

/// `[text](url)` for an http(s) URL, with the destination percent-encoded
/// where Markdown would end it; any other URL as plain text.
fn link(text: &str, url: &str) -> String {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return md(text);
    }
    let mut destination = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&*+,;=%".contains(c) {
            destination.push(c);
        } else {
            let mut bytes = [0; 4];
            c.encode_utf8(&mut bytes).bytes().for_each(|b| destination.push_str(&format!("%{b:02X}")));
        }
    }
    format!("[{}]({destination})", md(text))
}

/// The page of run `other` next to `url`, the page of run `id`.
fn sibling(url: &str, id: &str, other: &str) -> Option<String> {
    let prefix = url.strip_suffix(id).filter(|_| !id.is_empty())?;
    let encoded: String = other
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    Some(format!("{prefix}{encoded}"))
}

/// The comparison line and the lists.
fn sections(input: &SummaryInput, findings: &Findings) -> Vec<String> {
    vec![
        comparison_line(input, &findings.comparison),
        new_failures_table(input, findings),
        listed("Quarantined failures", &findings.quarantined, input.run.quarantined, &input.url),
        listed("Flaky tests", &findings.flaky, input.run.flaky, &input.url),
        slower_table(&findings.comparison.slower, &input.url),
    ]
}

/// "Against the base run: **2 new failures**, 1 still failing, 3 fixed,
/// 4 slower", or why every failure counts as new.
fn comparison_line(input: &SummaryInput, c: &Comparison) -> String {
    let tally = format!(
        "**{}**, {} still failing, {} fixed, {} slower",
        new_failures(c.new_failures.len()),
        c.still_failing.len(),
        c.fixed.len(),
        c.slower.len()
    );
    let Some(base) = &c.base_run else {
        return format!(
            "No base run to compare with (no earlier finished run of this name on the default branch), \
             so every failure counts as new: {tally}"
        );
    };
    let text = match base.commit.as_deref().filter(|c| !c.is_empty()) {
        Some(commit) => format!("the base run (commit {})", short_commit(commit)),
        None => "the base run".to_string(),
    };
    let base_link = match sibling(&input.url, &input.run.id, &base.id) {
        Some(url) => link(&text, &url),
        None => md(&text),
    };
    format!("Against {base_link}: {tally}")
}

fn new_failures(n: usize) -> String {
    if n == 1 {
        "1 new failure".to_string()
    } else {
        format!("{n} new failures")
    }
}

/// | Test | File | Message |, a row per new failure, at most [`MAX_NEW_ROWS`]
/// (the file as annotated: relative to the workspace, with its line).
fn new_failures_table(input: &SummaryInput, findings: &Findings) -> String {
    let new = &findings.comparison.new_failures;
    if new.is_empty() {
        return String::new();
    }
    let mut lines = vec![format!("#### New failures ({})", new.len()), String::new()];
    lines.push("| Test | File | Message |".to_string());
    lines.push("|---|---|---|".to_string());
    for test in new.iter().take(MAX_NEW_ROWS) {
        let mut name = md(&cut(&test.title(), MAX_TITLE));
        if is_quarantined(findings, &test.test_id) {
            name.push_str(" (quarantined)");
        }
        let file = match location(test, input.workspace.as_deref()) {
            (Some(file), Some(line)) => md(&cut(&format!("{file}:{line}"), MAX_TITLE)),
            (file, _) => md(&cut(file.as_deref().unwrap_or(""), MAX_TITLE)),
        };
        let message = md(&cut(first_line(test.message.as_deref()).unwrap_or(&test.status), MAX_LINE));
        lines.push(format!("| {name} | {file} | {message} |"));
    }
    lines.extend(more(new.len(), MAX_NEW_ROWS, &input.url));
    lines.join("\n")
}

/// A titled list of results, `- title: first message line`, at most
/// [`MAX_LISTED`]; `total` (the run's count) says how many there are in all.
/// Nothing when none was read: the counts line has the number.
fn listed(heading: &str, tests: &[TestResult], total: Option<u64>, url: &str) -> String {
    if tests.is_empty() {
        return String::new();
    }
    let total = total.map_or(tests.len(), |t| (t as usize).max(tests.len()));
    let mut lines = vec![format!("#### {heading} ({total})"), String::new()];
    for test in tests.iter().take(MAX_LISTED) {
        let name = md(&cut(&test.title(), MAX_TITLE));
        match first_line(test.message.as_deref()) {
            Some(line) => lines.push(format!("- {name}: {}", md(&cut(line, MAX_LINE)))),
            None => lines.push(format!("- {name}")),
        }
    }
    lines.extend(more(total, tests.len().min(MAX_LISTED), url));
    lines.join("\n")
}

/// | Test | Before | Now |, the biggest slowdowns, at most [`MAX_SLOWER`].
fn slower_table(slower: &[TestChange], url: &str) -> String {
    if slower.is_empty() {
        return String::new();
    }
    let mut lines = vec![format!("#### Slower ({})", slower.len()), String::new()];
    lines.push("| Test | Before | Now |".to_string());
    lines.push("|---|---:|---:|".to_string());
    for test in slower.iter().take(MAX_SLOWER) {
        let (before, now) = (test.base_duration_ms.map(duration), test.duration_ms.map(duration));
        let name = md(&cut(&test.title(), MAX_TITLE));
        lines.push(format!("| {name} | {} | {} |", before.unwrap_or_default(), now.unwrap_or_default()));
    }
    lines.extend(more(slower.len(), MAX_SLOWER, url));
    lines.join("\n")
}

/// "… and 12 more on the run's page." when `shown` of `total` were listed.
fn more(total: usize, shown: usize, url: &str) -> Option<String> {
    (total > shown).then(|| format!("\n… and {} more on {}.", total - shown, link("the run's page", url)))
}

/// "850 ms", "1.4 s", "2 min 5 s".
fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// Where a failure is: its file relative to the workspace, and its line
/// as the server gives it or as the message names it.
pub(super) fn location(test: &TestChange, workspace: Option<&str>) -> (Option<String>, Option<u32>) {
    let file = test.file.as_deref().map(|f| relative(f, workspace)).filter(|f| !f.is_empty());
    let line = test.line.or_else(|| line_in(test.message.as_deref()?, file.as_deref()?));
    (file, line)
}

/// A report's path as GitHub wants it: relative to the workspace when
/// under it, without a leading `./`.
pub(super) fn relative(file: &str, workspace: Option<&str>) -> String {
    let under = workspace
        .map(|w| w.trim_end_matches('/'))
        .filter(|w| !w.is_empty())
        .and_then(|w| file.strip_prefix(w)?.strip_prefix('/'));
    let path = under.unwrap_or(file);
    path.strip_prefix("./").unwrap_or(path).to_string()
}

/// The line a message points at in `file`: the number after the first
/// `<file name>:` in it (`checkout_test.py:42: AssertionError`).
pub(super) fn line_in(message: &str, file: &str) -> Option<u32> {
    let name = file.rsplit(&['/', '\\'][..]).next().filter(|n| !n.is_empty())?;
    let pattern = format!("{name}:");
    message.match_indices(&pattern).find_map(|(at, _)| {
        let digits: String = message[at + pattern.len()..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().filter(|line| *line > 0)
    })
}

#[cfg(test)]
#[path = "summary_tests.rs"]
pub(super) mod tests;
