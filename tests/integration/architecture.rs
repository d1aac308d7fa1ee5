//! The layers of `src/` and the one-way arrows between them, in one place,
//! checked by reading every `crate::…` path in every file (a `use` line or a
//! path written inline). docs/architecture.md explains them; this is what
//! keeps that page true.
//!
//! ```text
//!   cli ──► app ──► routes::api ─┐            (api and ui never import each other)
//!                   routes::ui ──┼──► views ──┐
//!                                ├──► auth ───┼──► state ──► auth's stores
//!                                │     ▼      │
//!                                └──► ops ────┴──► db ──► domain
//!   error ──► ops, db (their errors), domain;   config: imports nothing of the crate
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A layer (a module path prefix), what it must not import, and why.
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "domain",
        &["delivery", "db", "auth", "ops", "outbound", "routes", "views", "state", "app", "cli", "config", "error"],
        "domain holds pure rules: no storage, no HTTP, no I/O",
    ),
    (
        "db",
        &["delivery", "auth", "ops", "outbound", "routes", "views", "state", "app", "cli", "error"],
        "storage knows only domain types; its own error says what failed, not how to answer",
    ),
    (
        "ops",
        &["delivery", "routes", "views", "auth", "app", "cli", "error"],
        "state changes are called by the edges and never call them; a refusal is an ops::Refusal, not a response",
    ),
    (
        "auth",
        &["delivery", "routes", "views", "app", "cli"],
        "who is asking sits below the handlers; login's rows (a session, its audit row) are written by ops::sessions",
    ),
    ("views", &["delivery", "routes", "ops", "app", "cli"], "view builders read; they neither route nor change state"),
    ("state", &["routes", "views", "ops", "delivery", "app", "cli"], "the state sits below everything that uses it"),
    ("delivery", &["routes", "views", "app", "cli"], "the delivery worker is a background task that app starts"),
    (
        "error",
        &["delivery", "auth", "outbound", "routes", "views", "state", "app", "cli", "config"],
        "errors map refusals (domain's, storage's and ops') to answers; they call nothing",
    ),
    (
        "config",
        &["delivery", "domain", "db", "auth", "ops", "outbound", "routes", "views", "state", "app", "cli", "error"],
        "config defines plain settings; the CLI fills them",
    ),
    (
        "spool",
        &["delivery", "db", "auth", "ops", "outbound", "routes", "views", "state", "app", "cli", "config", "error"],
        "the spool writes upload bodies to files and bounds their memory; it knows nothing of the server",
    ),
    (
        "outbound",
        &["delivery", "db", "auth", "ops", "routes", "views", "state", "app", "cli", "config", "error"],
        "the outbound client knows the host policy and HTTP, nothing of the server",
    ),
    (
        "routes::api",
        &["delivery", "routes::ui", "app", "cli"],
        "the API and the pages share code only through lower layers",
    ),
    (
        "routes::ui",
        &["delivery", "routes::api", "app", "cli"],
        "the API and the pages share code only through lower layers",
    ),
    ("routes::input", &["delivery", "routes::api", "routes::ui", "app", "cli"], "middleware below both edges"),
];

/// Only the CLI's `serve` starts the server.
const MAY_IMPORT_APP: &[&str] = &["cli"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `routes/api/tokens.rs` → `routes::api::tokens`; `db/mod.rs` → `db`.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every path into the crate that `text` (the file of `module`) names:
/// `crate::…` and `super::…` paths in `use` lines (groups expanded, to any
/// depth) and inline; whole-line comments are skipped. `super` is resolved
/// against `module`, so `super::super::api` is seen for what it is.
fn crate_paths(text: &str, module: &str) -> Vec<String> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while at < code.len() {
        let rest = &code[at..];
        let starts_path =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_' || bytes[at - 1] == b':');
        let root = if !starts_path {
            None
        } else if rest.starts_with("crate::") {
            Some((String::new(), "crate::".len()))
        } else if rest.starts_with("super::") {
            let mut base: Vec<&str> = module.split("::").collect();
            let mut len = 0;
            while rest[len..].starts_with("super::") {
                base.pop();
                len += "super::".len();
            }
            Some((base.join("::"), len))
        } else {
            None
        };
        match root {
            Some((prefix, len)) => at += len + use_tree(&code[at + len..], &prefix, &mut paths),
            None => at += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    paths
}

/// Reads one use tree (`a::b`, `a::{b, c::{d, self}}`) after `prefix`,
/// pushing every full path; returns how many bytes it read.
fn use_tree(text: &str, prefix: &str, out: &mut Vec<String>) -> usize {
    let segment: String = text.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
    let mut read = segment.len();
    let segment = segment.trim_end_matches(':');
    let path = match (prefix.is_empty(), segment) {
        (_, "") | (_, "self") => prefix.to_string(),
        (true, s) => s.to_string(),
        (false, s) => format!("{prefix}::{s}"),
    };
    if text[read..].starts_with('{') {
        read += 1;
        loop {
            read += text[read..].len() - text[read..].trim_start().len();
            if text[read..].starts_with('}') {
                return read + 1;
            }
            if read >= text.len() {
                return read;
            }
            read += use_tree(&text[read..], &path, out);
            // Skip ` as alias` and the comma.
            while read < text.len() && !text[read..].starts_with(',') && !text[read..].starts_with('}') {
                read += text[read..].chars().next().map_or(1, char::len_utf8);
            }
            if text[read..].starts_with(',') {
                read += 1;
            }
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
    read
}

/// The module a path names, as far as modules go (`db::tokens::Token` → `db::tokens`).
fn resolve(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|candidate| modules.contains(candidate))
}

fn within(module: &str, layer: &str) -> bool {
    module == layer || module.starts_with(&format!("{layer}::"))
}

/// Module → the modules it names.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        let text = std::fs::read_to_string(file).unwrap();
        let targets = crate_paths(&text, &module)
            .iter()
            .filter_map(|p| resolve(p, &modules))
            .filter(|t| *t != module)
            .collect::<BTreeSet<_>>();
        graph.insert(module, targets);
    }
    graph
}

/// Violations of [`RULES`] and [`MAY_IMPORT_APP`] in `graph`.
fn violations(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for (module, targets) in graph {
        for target in targets {
            for (layer, forbidden, why) in RULES {
                if within(module, layer) && !within(target, layer) {
                    if let Some(f) = forbidden.iter().find(|f| within(target, f)) {
                        found.push(format!("{module} imports {target}: {layer} must not import {f} ({why})"));
                    }
                }
            }
            // app's own parts (app::rollups) are app.
            let outside = !within(module, "app") && module != "lib";
            if within(target, "app") && outside && !MAY_IMPORT_APP.iter().any(|l| within(module, l)) {
                found.push(format!("{module} imports {target}: only the CLI's serve may start the server"));
            }
        }
    }
    found
}

/// Import cycles between modules (each printed once, from its smallest member).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = stack.iter().position(|n| n == node) {
            out.push(stack[at..].to_vec());
            return;
        }
        if done.contains(node) {
            return;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, stack, done, out);
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

#[test]
fn layers_import_only_downwards() {
    let graph = import_graph();
    assert!(graph.len() > 50 && graph.contains_key("db::tokens"), "the source tree was not read: {graph:?}");
    let found = violations(&graph);
    assert!(found.is_empty(), "imports against the layers (see docs/architecture.md):\n{}", found.join("\n"));
}

/// HTTP is the edge's business: only `routes`, the one error map and the
/// server itself (`app`) name actix or a status code. (The `upload` client
/// of the CLI speaks HTTP as a client, with reqwest, and may name its
/// status codes.)
#[test]
fn http_types_stay_at_the_edge() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let edge = |module: &str| {
        ["routes", "error", "app", "cli::upload"].iter().any(|e| module == *e || module.starts_with(&format!("{e}::")))
    };
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !edge(&module_of(f)))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.contains("actix_web") || text.contains("StatusCode")
        })
        .map(|f| module_of(f))
        .collect();
    assert!(offenders.is_empty(), "HTTP types below routes/: {offenders:?}");
}

/// SQLite is storage's business: only `db` names rusqlite (the compiler
/// already refuses SQL on a `Conn` or `Tx` outside it).
#[test]
fn sqlite_stays_in_db() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !(module_of(f) == "db" || module_of(f).starts_with("db::")))
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("rusqlite"))
        .map(|f| module_of(f))
        .collect();
    assert!(offenders.is_empty(), "rusqlite outside src/db/: {offenders:?}");
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let found = cycles(&import_graph());
    let shown: Vec<String> = found.iter().map(|c| c.join(" → ")).collect();
    assert!(found.is_empty(), "import cycles:\n{}", shown.join("\n"));
}

/// The rules above would catch each import the layering forbids (the ones
/// issue 9 found, among others), so that a passing test means something.
#[test]
fn the_rules_catch_what_they_forbid() {
    let forbidden = [
        ("domain::policy", "db::settings"),
        ("domain::token", "auth::token_cache"),
        ("domain::report", "ops::ingest"),
        ("domain::names", "routes::api"),
        ("db::tokens", "auth::last_used"),
        ("db::runs", "ops::ingest"),
        ("db::audit", "routes::ui"),
        ("ops::tokens", "routes::api::tokens"),
        ("ops::ingest", "auth"),
        ("ops::tokens", "error"),
        ("db::projects", "error"),
        ("routes::api::tokens", "routes::ui::tokens"),
        ("routes::ui::runs", "routes::api::results"),
        ("auth::api", "app"),
        ("ops::attachments", "app"),
        ("config", "cli"),
        ("state", "routes::api"),
    ];
    for (module, target) in forbidden {
        let graph = BTreeMap::from([(module.to_string(), BTreeSet::from([target.to_string()]))]);
        assert!(!violations(&graph).is_empty(), "{module} → {target} should be refused");
    }
    let allowed = [("routes::api::tokens", "ops::tokens"), ("ops::tokens", "db::tokens"), ("cli", "app")];
    for (module, target) in allowed {
        let graph = BTreeMap::from([(module.to_string(), BTreeSet::from([target.to_string()]))]);
        assert!(violations(&graph).is_empty(), "{module} → {target} should be allowed");
    }
    let looped = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(cycles(&looped).len(), 1);
}

#[test]
fn paths_are_read_from_use_lines_nested_groups_super_and_inline_code() {
    let text = "use crate::db::{self, tokens::Token};\nuse crate::{config, error::AppError};\n\
                use crate::{db::{self, tokens as t}, routes::api::x};\nuse super::super::api::json;\n\
                // crate::routes in a comment\nfn f() { crate::ops::ingest::run(); let s = \"a // b\"; }";
    assert_eq!(
        crate_paths(text, "routes::ui::tokens"),
        [
            "db",
            "db::tokens::Token",
            "config",
            "error::AppError",
            "db",
            "db::tokens",
            "routes::api::x",
            "routes::api::json",
            "ops::ingest::run"
        ]
    );
}
