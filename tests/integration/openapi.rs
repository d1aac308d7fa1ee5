//! `GET /api/openapi.json`: the API's description, generated from the
//! routes (docs/api.md, "The API's description"). schemathesis checks the
//! answers against it in CI (.ci/schemathesis.sh); these tests check the
//! description itself, and that no route escapes it.

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::api_helpers::{client, send};
use crate::helpers::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn description(app: &TestApp) -> Value {
    let r = send(client().get(app.url("/api/openapi.json"))).await;
    assert_eq!(r.status, StatusCode::OK, "served without a token: {}", r.text);
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    r.json()
}

/// (method, path template, operation) of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                found.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    found
}

#[tokio::test]
async fn every_operation_is_described_with_its_errors_and_security() {
    let app = TestApp::spawn().await;
    let doc = description(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        (schemes["api_key"]["in"].as_str(), schemes["api_key"]["name"].as_str()),
        (Some("header"), Some("X-Api-Key"))
    );
    assert_eq!(schemes["project_token"]["name"], "Project-Token");
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error", "message"]), "{error}");

    let ops = operations(&doc);
    assert!(ops.len() >= 53, "{} operations", ops.len());
    let mut ids = BTreeSet::new();
    for (method, path, op) in &ops {
        let at = format!("{method} {path}");
        assert!(path.starts_with("/api/v1/"), "{at}: absolute paths");
        for field in ["summary", "description", "operationId"] {
            let text = op[field].as_str().unwrap_or_default();
            assert!(!text.trim().is_empty(), "{at} has no {field}: every handler needs a doc comment");
        }
        assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()), "{at}: operationId repeated");
        assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{at}: no tag");
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|s| s.starts_with('2')), "{at}: no success response");
        for (status, response) in responses {
            let described = response.get("description").or_else(|| response.get("$ref")).and_then(Value::as_str);
            assert!(described.is_some_and(|d| !d.is_empty()), "{at} {status}: no description");
        }
        // Every parameter in the template is declared, with a schema.
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            let declared =
                op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == name && p["in"] == "path");
            assert!(declared, "{at}: path parameter {name} not declared");
        }
        let public = op["security"] == serde_json::json!([{}]);
        if public {
            assert!(["/api/v1/tokens/revoke", "/api/v1/oidc/exchange"].contains(&path.as_str()), "{at}: no token?");
        } else {
            for status in ["401", "403", "429"] {
                assert!(responses.contains_key(status), "{at}: authenticated, but no {status}");
            }
        }
        if path.contains("{project}") {
            assert!(responses.contains_key("404"), "{at}: a project's route without 404");
        }
        if op.get("requestBody").is_some() {
            for status in ["413", "415"] {
                assert!(responses.contains_key(status), "{at}: takes a body, but no {status}");
            }
        }
    }
    assert_eq!(doc["security"].as_array().map(Vec::len), Some(3), "any one of the three headers");
}

/// Each described operation is routed: the server answers it (here 401,
/// as no token is sent), never "No such API route" or 405.
#[tokio::test]
async fn every_described_operation_is_served() {
    let app = TestApp::spawn().await;
    let doc = description(&app).await;
    for (method, path, _) in operations(&doc) {
        let concrete: String =
            path.split('/').map(|s| if s.starts_with('{') { "x1" } else { s }).collect::<Vec<_>>().join("/");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = send(client().request(method.clone(), app.url(&concrete))).await;
        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status),
            "{method} {path} is described but not served: {} {}",
            r.status,
            r.text
        );
    }
}

/// The other direction: a route registered without a description. Routes
/// under `/api/v1` go through `utoipa_actix_web`'s `service`, which takes
/// only a handler with `#[utoipa::path]` (it does not compile otherwise);
/// a route added with plain `.route(…)` or `web::resource(…)` would bypass
/// that, so none may be in the API's sources.
#[test]
fn no_api_route_is_registered_without_a_description() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/api");
    let mut handlers = 0;
    let mut described = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for (n, line) in source.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let serves_the_description = name == "mod.rs" && code.contains("\"/api/openapi.json\"");
            for bypass in [
                ".route(",
                "web::resource(",
                "web::get()",
                "web::post()",
                "web::patch()",
                "web::delete()",
                "web::put()",
            ] {
                assert!(
                    !code.contains(bypass) || serves_the_description,
                    "{name}:{}: `{bypass}` registers a route without a description; use #[utoipa::path] and `service`",
                    n + 1
                );
            }
            if ["#[get(", "#[post(", "#[put(", "#[patch(", "#[delete("].iter().any(|m| code.starts_with(m)) {
                handlers += 1;
            }
            if code.starts_with("#[utoipa::path(") {
                described += 1;
            }
        }
    }
    assert!(handlers >= 53, "found {handlers} handlers");
    assert_eq!(handlers, described, "every routed handler has #[utoipa::path]");
}
