//! Trusted publishers of a project (API.md section 11):
//! `/api/v1/projects/{project}/trusted-publishers` (`projects:manage`).

use std::collections::BTreeMap;

use actix_web::{delete, get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::tokens::parse_permissions;
use super::{invalid, page_of, ApiJson, PageQuery, ProjectItemPath, ProjectPath};
use crate::auth::api::ApiCaller;
use crate::db::publishers::Publisher;
use crate::domain::permission::{Permission, PermissionSet};
use crate::error::{AppError, ErrorBody};
use crate::ops::publishers::{self as ops, Draft, NewPublisher};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(remove);
}

page_of!(
    /// A page of a project's trusted publishers, oldest first.
    PublisherPage, trusted_publishers: Publisher
);

/// List trusted publishers
///
/// The CI jobs whose OpenID Connect ID tokens this project accepts. Needs `projects:manage`.
#[utoipa::path(
    tag = "projects",
    operation_id = "list_trusted_publishers",
    params(ProjectPath, PageQuery),
    responses((status = 200, description = "A page of trusted publishers.", body = PublisherPage))
)]
#[get("/trusted-publishers")]
async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let (limit, after) = (query.limit()?, query.after()?);
    let found = state.db.read(move |c| ops::list(c, &caller.principal, &slug, after.as_deref(), limit + 1)).await?;
    Ok(HttpResponse::Ok().json(PublisherPage::of(found, limit, |p| p.id.clone())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewTrustedPublisher, example = json!({
    "issuer": "https://token.actions.githubusercontent.com",
    "claims": {"repository": "acme/web", "ref": "refs/heads/main"},
    "permissions": ["runs:read", "runs:write"],
    "token_minutes": 15
}))]
struct CreateBody {
    /// The issuer's `https://` URL, e.g. `https://token.actions.githubusercontent.com` or `https://gitlab.com`.
    #[schema(max_length = 300)]
    issuer: String,
    /// The audience ID tokens must carry; default the server's public URL.
    #[schema(min_length = 1, max_length = 300)]
    audience: Option<String>,
    /// Claim name → glob (`*`, `?`), all of which must match; 1–10. GitHub's
    /// issuer needs a rule on `repository`, GitLab.com's on `project_path`.
    claims: BTreeMap<String, String>,
    /// Some of `runs:read`, `runs:write`, `artifacts:write`; default `runs:read` and `runs:write`.
    #[schema(value_type = Option<Vec<crate::domain::permission::Permission>>)]
    permissions: Option<Vec<String>>,
    /// Minutes an exchanged token lives, 5–60 (default 15).
    #[schema(minimum = 5, maximum = 60)]
    token_minutes: Option<u32>,
}

impl CreateBody {
    /// Every field checked: a 400 naming the first that is wrong.
    fn parse(self, public_url: Option<&str>) -> Result<NewPublisher, AppError> {
        let permissions = match self.permissions {
            Some(names) => parse_permissions(&names)?,
            None => PermissionSet::from_iter([Permission::RunsRead, Permission::RunsWrite]),
        };
        let draft = Draft {
            issuer: self.issuer,
            audience: self.audience,
            claims: self.claims,
            permissions,
            token_minutes: self.token_minutes,
        };
        draft.checked(public_url).map_err(invalid)
    }
}

/// Add a trusted publisher
///
/// From now on, a CI job whose ID token comes from `issuer`, carries
/// `audience` and matches every claim rule may exchange it for a token of
/// this project (`POST /api/v1/oidc/exchange`). Needs `projects:manage`;
/// audited as `trusted_publisher.created`.
#[utoipa::path(
    tag = "projects",
    operation_id = "create_trusted_publisher",
    params(ProjectPath),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The publisher.", body = Publisher,
            links(("delete" = (operation_id = "delete_trusted_publisher", parameters(("project" = "$request.path.project"), ("id" = "$response.body#/id"))))))
        ,
        (status = 422, description = "An unknown permission name (`invalid_permission`).", body = ErrorBody),
    )
)]
#[post("/trusted-publishers")]
async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner().project;
    let new = body.into_inner().parse(state.config.public_url.as_deref())?;
    let (ctx, by) = (caller.audit(), caller.principal);
    let publisher = state.db.write(move |tx| ops::create(tx, &ctx, &by, &slug, new)).await?;
    Ok(HttpResponse::Created().json(publisher))
}

/// Delete a trusted publisher
///
/// Tokens it let in live on until they expire or are revoked. Needs
/// `projects:manage`; audited as `trusted_publisher.deleted`.
#[utoipa::path(
    tag = "projects",
    operation_id = "delete_trusted_publisher",
    params(ProjectItemPath),
    responses((status = 204, description = "Deleted."))
)]
#[delete("/trusted-publishers/{id}")]
async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project: slug, id } = path.into_inner();
    let (ctx, by) = (caller.audit(), caller.principal);
    state.db.write(move |tx| ops::delete(tx, &ctx, &by, &slug, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
