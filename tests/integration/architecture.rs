//! The layers of `src/` and the one-way arrows between them, in one place,
//! checked by reading every `crate::…` path in every file (a `use` line or a
//! path written inline). docs/architecture.md explains them; this is what
//! keeps that page true.
//!
//! ```text
//!   cli ──► app ──► routes::api ─┐            (api and ui never import each other)
//!                   routes::ui ──┼──► views ──┐
//!                                ├──► auth ───┼──► state ──► auth's stores
//!                                └──► ops ────┴──► db ──► domain
//!   error ──► domain;   config: imports nothing of the crate
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A layer (a module path prefix), what it must not import, and why.
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "domain",
        &["db", "auth", "ops", "routes", "views", "state", "app", "cli", "config", "error"],
        "domain holds pure rules: no storage, no HTTP, no I/O",
    ),
    ("db", &["auth", "ops", "routes", "views", "state", "app", "cli"], "storage knows only domain types"),
    ("ops", &["routes", "views", "auth", "app", "cli"], "state changes are called by the edges and never call them"),
    ("auth", &["routes", "views", "ops", "app", "cli"], "extractors sit below the handlers that use them"),
    ("views", &["routes", "ops", "app", "cli"], "view builders read; they neither route nor change state"),
    ("state", &["routes", "views", "ops", "app", "cli"], "the state sits below everything that uses it"),
    (
        "error",
        &["db", "auth", "ops", "routes", "views", "state", "app", "cli", "config"],
        "errors map refusals; they call nothing",
    ),
    (
        "config",
        &["domain", "db", "auth", "ops", "routes", "views", "state", "app", "cli", "error"],
        "config defines plain settings; the CLI fills them",
    ),
    ("routes::api", &["routes::ui", "app", "cli"], "the API and the pages share code only through lower layers"),
    ("routes::ui", &["routes::api", "app", "cli"], "the API and the pages share code only through lower layers"),
    ("routes::input", &["routes::api", "routes::ui", "app", "cli"], "middleware below both edges"),
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

/// Every `crate::` path in `text`, with `crate::a::{b, c::d}` expanded to
/// `a::b` and `a::c::d`; comments are skipped.
fn crate_paths(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let prefix: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
        let after = &rest[prefix.len()..];
        let prefix = prefix.trim_end_matches(':').to_string();
        if after.starts_with('{') {
            let group = &after[1..after.find('}').unwrap_or(after.len())];
            for item in group.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let item = item.trim_start_matches('{').split(" as ").next().unwrap_or(item);
                let item: String =
                    item.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
                match (prefix.is_empty(), item.as_str()) {
                    (_, "self") | (_, "") => paths.push(prefix.clone()),
                    (true, item) => paths.push(item.to_string()),
                    (false, item) => paths.push(format!("{prefix}::{item}")),
                }
            }
        } else if !prefix.is_empty() {
            paths.push(prefix);
        }
    }
    paths
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
        let targets = crate_paths(&text)
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
            if within(target, "app") && !MAY_IMPORT_APP.iter().any(|l| within(module, l)) && module != "lib" {
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
fn paths_are_read_from_use_lines_groups_and_inline_code() {
    let text = "use crate::db::{self, tokens::Token};\nuse crate::{config, error::AppError};\n\
                // crate::routes in a comment\nfn f() { crate::ops::ingest::run(); }";
    assert_eq!(crate_paths(text), ["db", "db::tokens::Token", "config", "error::AppError", "ops::ingest::run"]);
}
