//! An event as a chat message (API.md section 12's `slack`, `teams` and
//! `discord` formats): a title, a colour for the outcome, a few lines
//! (counts, the new failures with their messages shortened) and a link.
//! Text is sent as each service's plain text or escaped for its markup.

use serde_json::{json, Value};

/// Failures listed in a message; more are counted.
const MAX_FAILURES: usize = 5;
/// A failure's message is cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 140;

/// The parts every format shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub title: String,
    /// `#rrggbb`.
    pub color: &'static str,
    pub lines: Vec<String>,
    pub link: Option<String>,
}

const GREEN: &str = "#1a7f4b";
const RED: &str = "#b42318";
const AMBER: &str = "#9a6700";
const GREY: &str = "#667085";

fn text(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn shorten(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    if line.chars().count() > MAX_MESSAGE_CHARS {
        format!("{}…", line.chars().take(MAX_MESSAGE_CHARS - 1).collect::<String>())
    } else {
        line.to_string()
    }
}

/// What `event` with `data` says, in words.
pub fn message(event: &str, data: &Value) -> Message {
    let link = data.get("url").and_then(Value::as_str).filter(|u| u.starts_with("http")).map(str::to_string);
    match event {
        "run.finished" => run_finished(data, link),
        "test.flaky" | "test.quarantined" | "test.released" => {
            let verb = &event["test.".len()..];
            let title = format!("{} {verb} in {}", text(data, "/test/name"), text(data, "/project"));
            let reason = text(data, "/reason");
            Message { title, color: AMBER, lines: (!reason.is_empty()).then_some(reason).into_iter().collect(), link }
        }
        "token.expiring" | "token.revoked" => {
            let verb = if event == "token.revoked" { "revoked" } else { "expires soon" };
            let title = format!("Token {} ({}) {verb}", text(data, "/token/name"), text(data, "/token/preview"));
            let when = text(data, "/token/expires_at");
            let lines = if when.is_empty() { vec![] } else { vec![format!("Expires {when}")] };
            Message { title, color: if event == "token.revoked" { GREY } else { AMBER }, lines, link }
        }
        other => Message { title: format!("Proctor: {other}"), color: GREY, lines: vec![], link },
    }
}

fn run_finished(data: &Value, link: Option<String>) -> Message {
    let status = text(data, "/run/status");
    let color = match status.as_str() {
        "passed" => GREEN,
        "failed" | "errored" => RED,
        _ => GREY,
    };
    let title = format!(
        "{} {} on {}: {status}",
        text(data, "/project"),
        text(data, "/run/name"),
        text(data, "/run/branch").trim().to_string().chars().take(100).collect::<String>()
    );
    let mut lines = vec![format!(
        "{} tests: {} passed, {} failed, {} errors, {} skipped",
        text(data, "/run/tests"),
        text(data, "/run/passed"),
        text(data, "/run/failed"),
        text(data, "/run/errors"),
        text(data, "/run/skipped"),
    )];
    let failures = data.get("new_failures").and_then(Value::as_array).cloned().unwrap_or_default();
    for f in failures.iter().take(MAX_FAILURES) {
        let message = shorten(&text(f, "/message"));
        let name = text(f, "/test");
        lines.push(if message.is_empty() {
            format!("New failure: {name}")
        } else {
            format!("New failure: {name}: {message}")
        });
    }
    if failures.len() > MAX_FAILURES {
        lines.push(format!("…and {} more new failures", failures.len() - MAX_FAILURES));
    }
    Message { title, color, lines, link }
}

/// Slack's mrkdwn: `&`, `<` and `>` escaped.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Discord's and Teams' markdown: its control characters escaped.
fn markdown_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' | '<') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The request body for `format` (`slack`, `teams` or `discord`).
pub fn render(format: &str, event: &str, data: &Value) -> Value {
    let m = message(event, data);
    match format {
        "slack" => {
            let text = m.lines.iter().map(|l| slack_escape(l)).collect::<Vec<_>>().join("\n");
            let mut attachment = json!({"color": m.color, "title": slack_escape(&m.title), "text": text,
                                        "fallback": slack_escape(&m.title)});
            if let Some(link) = &m.link {
                attachment["title_link"] = json!(link);
            }
            json!({"text": slack_escape(&m.title), "attachments": [attachment]})
        }
        "discord" => {
            let color = u32::from_str_radix(&m.color[1..], 16).unwrap_or(0);
            let description = m.lines.iter().map(|l| markdown_escape(l)).collect::<Vec<_>>().join("\n");
            let mut embed = json!({"title": m.title.chars().take(256).collect::<String>(), "color": color,
                                   "description": description.chars().take(4000).collect::<String>()});
            if let Some(link) = &m.link {
                embed["url"] = json!(link);
            }
            json!({"username": "Proctor", "embeds": [embed]})
        }
        _ => {
            // Microsoft Teams' incoming-webhook MessageCard.
            let mut card = json!({
                "@type": "MessageCard", "@context": "https://schema.org/extensions",
                "themeColor": &m.color[1..], "summary": m.title, "title": markdown_escape(&m.title),
                "text": m.lines.iter().map(|l| markdown_escape(l)).collect::<Vec<_>>().join("<br>"),
            });
            if let Some(link) = &m.link {
                card["potentialAction"] = json!([{"@type": "OpenUri", "name": "Open in Proctor", "targets": [{"os": "default", "uri": link}]}]);
            }
            card
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: &str, failures: usize) -> Value {
        let new_failures: Vec<Value> = (0..failures)
            .map(|i| json!({"test": format!("Checkout › pays {i}"), "message": format!("expected <200> but was 500 {}\nat Pay.card", "x".repeat(300))}))
            .collect();
        json!({"project": "web", "url": "https://proctor.example.com/projects/web/runs/1",
               "run": {"name": "unit", "branch": "main", "status": status, "tests": 10, "passed": 9, "failed": 1,
                       "errors": 0, "skipped": 0},
               "new_failures": new_failures})
    }

    #[test]
    fn a_finished_run_reads_as_title_colour_counts_and_new_failures() {
        let m = message("run.finished", &run("failed", 7));
        assert_eq!(m.title, "web unit on main: failed");
        assert_eq!(m.color, RED);
        assert_eq!(m.lines[0], "10 tests: 9 passed, 1 failed, 0 errors, 0 skipped");
        assert!(m.lines[1].starts_with("New failure: Checkout › pays 0: expected <200>"), "{:?}", m.lines);
        assert!(m.lines[1].chars().count() < 200 && m.lines[1].ends_with('…'), "shortened to one line");
        assert_eq!(m.lines.last().unwrap(), "…and 2 more new failures");
        assert_eq!(m.link.as_deref(), Some("https://proctor.example.com/projects/web/runs/1"));
        assert_eq!(message("run.finished", &run("passed", 0)).color, GREEN);
    }

    #[test]
    fn each_service_gets_its_own_shape_with_markup_escaped() {
        let data = run("failed", 1);
        let slack = render("slack", "run.finished", &data);
        assert_eq!(slack["attachments"][0]["color"], RED);
        assert!(slack["attachments"][0]["text"].as_str().unwrap().contains("expected &lt;200&gt;"));
        assert_eq!(slack["attachments"][0]["title_link"], "https://proctor.example.com/projects/web/runs/1");
        let discord = render("discord", "run.finished", &data);
        assert_eq!(discord["embeds"][0]["color"], 0xb42318);
        assert!(discord["embeds"][0]["description"].as_str().unwrap().contains("expected \\<200"));
        let teams = render("teams", "run.finished", &data);
        assert_eq!((teams["@type"].as_str(), teams["themeColor"].as_str()), (Some("MessageCard"), Some("b42318")));
        assert_eq!(teams["potentialAction"][0]["targets"][0]["uri"], "https://proctor.example.com/projects/web/runs/1");
    }

    #[test]
    fn only_http_links_are_linked() {
        let m = message("run.finished", &json!({"url": "javascript:alert(1)"}));
        assert_eq!(m.link, None);
    }
}
