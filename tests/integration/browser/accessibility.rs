//! The accessibility checks every page a browser test looks at goes
//! through (from `harness::screenshot`): axe-core's WCAG 2.1 A and AA rules,
//! the accessibility tree a screen reader is given, and the page at 200%
//! zoom (no sideways scroll; axe-core again at that width).

use std::path::{Path, PathBuf};
use std::process::Command;

use fantoccini::Client;
use serde_json::{json, Value};

use super::harness::{describe, must, Cdp};

/// The axe-core release the checks run (npm; `.ci/run` reads this line and
/// installs it, and so does [`axe_source`] when it is missing).
const AXE_VERSION: &str = "4.14.1";

/// Where axe-core is installed: `target/axe/`.
fn axe_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe")
}

/// axe-core's script, read once; installed with npm (under a lock, as
/// several tests may ask at once) when missing.
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let script = axe_dir().join("node_modules/axe-core/axe.min.js");
        if !script.is_file() {
            let dir = axe_dir();
            std::fs::create_dir_all(&dir).expect("create target/axe");
            let install = format!(
                "test -f {script} || npm install --silent --no-audit --no-fund --prefix {dir} axe-core@{AXE_VERSION}",
                script = script.display(),
                dir = dir.display()
            );
            let lock = dir.join(".install.lock");
            let status = Command::new("flock").arg(&lock).args(["sh", "-c", &install]).status();
            assert!(status.is_ok_and(|s| s.success()), "could not install axe-core {AXE_VERSION} with npm");
        }
        std::fs::read_to_string(&script).expect("read axe.min.js")
    })
}

/// Runs axe-core's WCAG 2.1 A and AA rules on the page and fails listing
/// every violation (rule, impact, the first elements and why). The script
/// goes in through WebDriver, so the page's CSP is untouched.
pub async fn assert_accessible(c: &Client, name: &str) {
    // Injected and run in one script: a page that reloads itself (a running
    // run's) cannot lose axe in between.
    let run = "const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
          .then(r => done({version: r.testEngine.version, passes: r.passes.length, incomplete: r.incomplete.map(v => v.id),
              violations: r.violations.map(v => `${v.id} (${v.impact}): ${v.help}\\n` +
                v.nodes.slice(0, 4).map(n => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\\n/g, ' ')}`).join('\\n'))}))
          .catch(e => done({error: String(e)}));";
    let script = format!("{}\n{run}", axe_source());
    let result = must(c.execute_async(&script, vec![]).await, "run axe-core");
    assert!(result["error"].is_null(), "{name}: axe-core failed: {result}");
    assert_eq!(result["version"], json!(AXE_VERSION), "{name}: axe-core's version");
    assert!(result["passes"].as_u64().unwrap_or(0) > 0, "{name}: axe-core checked nothing: {result}");
    let incomplete = &result["incomplete"];
    if incomplete.as_array().is_some_and(|a| !a.is_empty()) {
        eprintln!("{name}: axe-core could not decide {incomplete} (left to a person)");
    }
    let violations: Vec<String> = serde_json::from_value(result["violations"].clone())
        .unwrap_or_else(|e| panic!("{name}: axe-core answered {result} ({e})"));
    assert!(
        violations.is_empty(),
        "{name}: axe-core found {} violations:\n{}\n{}",
        violations.len(),
        violations.join("\n"),
        describe(c).await
    );
}

/// The page at 200% zoom in a 1280-pixel window (a 640-pixel-wide viewport
/// in CSS pixels) has no horizontal scroll: what is wider (a table, a
/// stack trace) wraps or scrolls inside its own box.
/// axe-core runs again at that width: a box that scrolls now must take the
/// focus and have a name (`app.js` sees to both).
pub async fn assert_reflows(c: &Client, name: &str) {
    let (width, height) = must(c.get_window_size().await, "read the window size");
    must(c.set_window_size(640, height as u32).await, "narrow the window");
    // Two frames: app.js's resize observers have run.
    let frames = "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(null)));";
    must(c.execute_async(frames, vec![]).await, "wait two frames");
    let script = "const d = document.documentElement;
        const scrolling = [...document.querySelectorAll('.table-box')]
          .filter(b => b.checkVisibility() && b.scrollWidth > b.clientWidth + 1);
        return [d.scrollWidth, d.clientWidth, window.innerWidth,
        [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > d.clientWidth + 1)
          .slice(0, 5).map(e => e.tagName.toLowerCase() + '.' + e.className).join(', '),
        scrolling.filter(b => b.tabIndex !== 0 || b.getAttribute('role') !== 'region' || !b.getAttribute('aria-label'))
          .map(b => b.outerHTML.slice(0, 80)), scrolling.length];";
    let seen = must(c.execute(script, vec![]).await, "measure the page");
    let unmarked = &seen[4];
    assert_eq!(unmarked, &json!([]), "{name}: a table box scrolls at 640 px without the focus and a name");
    if seen[5].as_u64().unwrap_or(0) > 0 {
        eprintln!("{name}: {} table box(es) scroll at 640 px, each a named, focusable region", seen[5]);
    }
    assert_accessible(c, &format!("{name} at 640 px")).await;
    must(c.set_window_size(width as u32, height as u32).await, "restore the window");
    let px = |i: usize| seen[i].as_i64().unwrap_or_else(|| panic!("{name}: no measure in {seen}"));
    let (scroll, client, viewport) = (px(0), px(1), px(2));
    assert!(viewport <= 640, "{name}: the window did not narrow ({viewport} px wide)");
    assert!(scroll <= client, "{name} scrolls sideways at 200% zoom ({scroll} > {client} px): {}", seen[3]);
}

/// What a screen reader is given: Chromium's accessibility tree (over CDP),
/// the tree assistive technology reads. Every page has one main landmark
/// and a level-1 heading; every control, link, table, image and region is
/// named. The tree's outline (landmarks, headings, tables, controls with
/// their names and descriptions) is written beside the screenshot
/// (`<name>.ax.txt`) for a person's reading.
pub async fn assert_reads_well(c: &Client, dir: &Path, name: &str) {
    let tree = Cdp { method: "Accessibility.getFullAXTree", params: json!({}) };
    let tree = must(c.issue_cmd(tree).await, "read the accessibility tree over CDP");
    let nodes = tree["nodes"].as_array().unwrap_or_else(|| panic!("{name}: no accessibility tree: {tree}"));
    let text = |node: &Value, key: &str| node[key]["value"].as_str().unwrap_or_default().trim().to_string();
    let property = |node: &Value, key: &str| {
        let properties = node["properties"].as_array().map(Vec::as_slice).unwrap_or_default();
        properties.iter().find(|p| p["name"] == key).map(|p| p["value"]["value"].clone())
    };
    const NAMED: [&str; 15] = [
        "link",
        "button",
        "textbox",
        "searchbox",
        "checkbox",
        "radio",
        "combobox",
        "spinbutton",
        "listbox",
        "slider",
        "switch",
        "table",
        "image",
        "region",
        "DisclosureTriangle",
    ];
    const OUTLINE: [&str; 7] = ["main", "navigation", "banner", "heading", "alert", "status", "group"];
    // In reading order: depth first from the root, through ignored nodes.
    let by_id: std::collections::HashMap<&str, &Value> =
        nodes.iter().filter_map(|n| Some((n["nodeId"].as_str()?, n))).collect();
    let (mut order, mut stack) = (Vec::new(), nodes.first().into_iter().collect::<Vec<_>>());
    while let Some(node) = stack.pop() {
        order.push(node);
        let children = node["childIds"].as_array().map(Vec::as_slice).unwrap_or_default();
        stack.extend(children.iter().rev().filter_map(|id| by_id.get(id.as_str()?).copied()));
    }
    let (mut outline, mut unnamed, mut mains, mut h1s) = (Vec::new(), Vec::new(), 0, 0);
    for node in order.into_iter().filter(|n| n["ignored"] != json!(true)) {
        let (role, label) = (text(node, "role"), text(node, "name"));
        mains += usize::from(role == "main");
        let level = property(node, "level").and_then(|l| l.as_u64());
        h1s += usize::from(role == "heading" && level == Some(1));
        if NAMED.contains(&role.as_str()) && label.is_empty() {
            unnamed.push(format!("{role} (node {})", node["nodeId"]));
        }
        if NAMED.contains(&role.as_str()) || OUTLINE.contains(&role.as_str()) {
            let level = level.map(|l| format!(" {l}")).unwrap_or_default();
            let description = text(node, "description");
            let about = if description.is_empty() { String::new() } else { format!(" — {description}") };
            let invalid =
                if property(node, "invalid").is_some_and(|v| v != json!("false")) { " (invalid)" } else { "" };
            outline.push(format!("{role}{level}: {label:?}{invalid}{about}"));
        }
    }
    let path = dir.join(format!("{}.ax.txt", name.trim_end_matches(".png")));
    std::fs::write(&path, outline.join("\n") + "\n").unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    assert_eq!(mains, 1, "{name}: one main landmark, not {mains}");
    assert!(h1s >= 1, "{name}: a level-1 heading names the page");
    assert!(unnamed.is_empty(), "{name}: nameless for a screen reader: {unnamed:?} (see {})", path.display());
}
