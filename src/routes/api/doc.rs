//! The API's own description: OpenAPI 3.1 at `GET /api/openapi.json`.
//!
//! It is assembled from the routes themselves. Every `/api/v1` handler is
//! registered through `utoipa_actix_web`'s `service`, which takes only a
//! handler annotated with `#[utoipa::path]`, so a route cannot be served
//! without being described; its request and response types are the ones the
//! handler uses (`ToSchema` on them). What every route shares is added here
//! once, after the routes are collected: the three token headers as
//! security schemes, and the error responses each kind of route can give
//! (401/403/429 for an authenticated route, 404 for a project's, 413/415
//! for one with a body), all in the one error shape.

use std::sync::OnceLock;

use actix_web::{App, HttpResponse};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Type};
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt;

use crate::error::ErrorBody;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Proctor API",
        description = "The HTTP API of Proctor, a self-hosted test-results server: upload test reports from CI, \
            read runs, failures, flaky and slow tests, quarantine tests, and manage projects, tokens, people and \
            roles. Present a token in any one of the three headers of the security schemes. Every error is \
            `{\"error\": \"<code>\", \"message\": \"<sentence>\"}`. Collections are paged with `limit` and \
            the `cursor` of the previous page's `next_cursor`. docs/api.md is the guide.",
        license(name = "MIT", identifier = "MIT"),
    ),
    security(("bearer" = []), ("api_key" = []), ("project_token" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "identity", description = "Who the presented token is."),
        (name = "projects", description = "Projects, and their API keys."),
        (name = "ingestion", description = "Runs and their reports and attachments, as CI sends them."),
        (name = "reading", description = "Runs, results, flaky and slow tests, failures."),
        (name = "quarantine", description = "Tests whose failures do not fail a run."),
        (name = "tokens", description = "Personal access tokens and the expiration policy."),
        (name = "people", description = "Users, service accounts and roles."),
        (name = "audit", description = "The audit trail."),
        (name = "webhooks", description = "Webhooks of a project or of the instance, and their deliveries."),
    )
)]
struct ApiDoc;

/// The description, built once from the routes `api::register` serves.
pub fn description() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, mut doc) =
            App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(super::register).split_for_parts();
        add_shared_parts(&mut doc);
        doc
    })
}

/// `GET /api/openapi.json`: no authentication, as the contract has it.
pub async fn openapi_json() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| description().to_pretty_json().unwrap_or_default());
    HttpResponse::Ok().content_type("application/json").body(body.as_str())
}

/// The methods the description has for a concrete `path` (its segments
/// matched against the templates'), upper-case; `None` for a path it lacks.
pub fn methods_of(path: &str) -> Option<Vec<&'static str>> {
    static TEMPLATES: OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        let methods = |item: &utoipa::openapi::PathItem| {
            [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ]
            .into_iter()
            .filter_map(|(name, op)| op.as_ref().map(|_| name))
            .collect::<Vec<_>>()
        };
        let paths = &description().paths.paths;
        paths.iter().map(|(template, item)| (template.split('/').map(String::from).collect(), methods(item))).collect()
    });
    let segments: Vec<&str> = path.split('/').collect();
    let fits = |template: &[String]| {
        template.len() == segments.len()
            && template.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
    };
    // The most literal templates the path fits, as the router prefers
    // them: `/tokens/revoke` is not `/tokens/{id}`.
    let literals = |t: &[String]| t.iter().filter(|s| !s.starts_with('{')).count();
    let matched: Vec<&(Vec<String>, Vec<&str>)> = templates.iter().filter(|(t, _)| fits(t)).collect();
    let most = matched.iter().map(|(t, _)| literals(t)).max()?;
    let mut all: Vec<&'static str> =
        matched.iter().filter(|(t, _)| literals(t) == most).flat_map(|(_, m)| m.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    Some(all)
}

/// The security schemes, the shared error responses, and those responses
/// on every operation they apply to (a route's own entry for a status wins).
fn add_shared_parts(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let schemes = [
        ("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer))),
        ("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key")))),
        ("project_token", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Project-Token")))),
    ];
    for (name, scheme) in schemes {
        components.add_security_scheme(name, scheme);
    }
    for shared in SHARED {
        components.responses.insert(shared.name.into(), RefOr::T(shared.response()));
    }
    for item in doc.paths.paths.values_mut() {
        let path_has_project =
            item.get.iter().chain(&item.post).chain(&item.put).chain(&item.patch).chain(&item.delete).any(in_a_project);
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
        {
            let authenticated = op.security.as_ref().is_none_or(|s| !s.iter().all(is_empty_requirement));
            let has_body = op.request_body.is_some();
            for shared in SHARED {
                if (shared.applies)(Kind { authenticated, in_project: path_has_project, has_body }) {
                    let reference = RefOr::Ref(Ref::new(format!("#/components/responses/{}", shared.name)));
                    op.responses.responses.entry(shared.status.into()).or_insert(reference);
                }
            }
        }
    }
}

fn in_a_project(op: &Operation) -> bool {
    op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.name == "project"))
}

fn is_empty_requirement(req: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(req).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
}

/// What decides which shared responses an operation can give.
#[derive(Clone, Copy)]
struct Kind {
    authenticated: bool,
    in_project: bool,
    has_body: bool,
}

/// An error response many operations share.
struct Shared {
    name: &'static str,
    status: &'static str,
    description: &'static str,
    /// A response header the error always carries.
    header: Option<(&'static str, &'static str)>,
    applies: fn(Kind) -> bool,
}

const SHARED: &[Shared] = &[
    Shared {
        name: "BadRequest",
        status: "400",
        description: "Bad input, named in `message`: a path or query parameter out of range, a malformed cursor, a \
            body that does not fit the operation (`invalid_json`, `validation_failed`), or two different tokens \
            in one request (`ambiguous_credentials`).",
        header: None,
        applies: |_| true,
    },
    Shared {
        name: "Unauthorized",
        status: "401",
        description: "No token (`credentials_required`), or one that is malformed or unknown (`invalid_token`), \
            revoked (`token_revoked`), expired (`token_expired`) or a disabled key (`token_disabled`).",
        header: Some((
            "WWW-Authenticate",
            "`Bearer realm=\"proctor\"`, with `error=\"invalid_token\"` when a token was sent.",
        )),
        applies: |k| k.authenticated,
    },
    Shared {
        name: "Forbidden",
        status: "403",
        description: "The token lacks the permission the operation needs (`missing_permission`).",
        header: Some((
            "WWW-Authenticate",
            "`Bearer realm=\"proctor\", error=\"insufficient_scope\", scope=\"<permission>\"`.",
        )),
        applies: |k| k.authenticated,
    },
    Shared {
        name: "ProjectNotFound",
        status: "404",
        description: "No such project, or one the token may not see (`project_not_found`), or another object \
            of the path that does not exist (`not_found`).",
        header: None,
        applies: |k| k.in_project,
    },
    Shared {
        name: "PayloadTooLarge",
        status: "413",
        description: "The body is larger than the operation accepts (`payload_too_large`).",
        header: None,
        applies: |k| k.has_body,
    },
    Shared {
        name: "UnsupportedMediaType",
        status: "415",
        description: "The body's `Content-Type` (or `Content-Encoding`) is not one the operation reads \
            (`unsupported_media_type`).",
        header: None,
        applies: |k| k.has_body,
    },
    Shared {
        name: "TooManyRequests",
        status: "429",
        description: "Over the token's rate limit (`rate_limited`); try again after `Retry-After` seconds.",
        header: Some(("Retry-After", "Seconds until a request will be accepted again.")),
        applies: |k| k.authenticated,
    },
];

impl Shared {
    fn response(&self) -> Response {
        let mut response = ResponseBuilder::new()
            .description(self.description)
            .content("application/json", Content::new(Some(Ref::from_schema_name("Error"))));
        if let Some((name, description)) = self.header {
            let schema = ObjectBuilder::new().schema_type(Type::String);
            response =
                response.header(name, HeaderBuilder::new().schema(Some(schema)).description(Some(description)).build());
        }
        response.build()
    }
}
