//! Webhooks (API.md section 12): a project's under
//! `/api/v1/projects/{project}/webhooks` (`projects:manage`), the
//! instance's under `/api/v1/webhooks` (`users:admin`). Each operation is
//! one function taking the [`Scope`], called by a thin handler per path.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{page_of, ApiJson, IdPath, PageQuery, ProjectItemPath, ProjectPath};
use crate::auth::api::ApiCaller;
use crate::db::webhooks::{Delivery, Webhook};
use crate::domain::webhook::Format;
use crate::error::{AppError, ErrorBody};
use crate::ops::webhooks::{self as ops, Draft, Scope};
use crate::state::AppState;

/// A project's webhook routes (inside `/projects/{project}`).
pub fn configure_project(cfg: &mut ServiceConfig) {
    cfg.service(list_project)
        .service(create_project)
        .service(update_project)
        .service(delete_project)
        .service(rotate_project)
        .service(ping_project)
        .service(deliveries_project)
        .service(redeliver_project);
}

/// The instance's webhook routes.
pub fn configure_instance(cfg: &mut ServiceConfig) {
    cfg.service(list_instance)
        .service(create_instance)
        .service(update_instance)
        .service(delete_instance)
        .service(rotate_instance)
        .service(ping_instance)
        .service(deliveries_instance)
        .service(redeliver_instance);
}

page_of!(
    /// A page of webhooks, oldest first.
    WebhookPage, webhooks: Webhook
);
page_of!(
    /// A page of a webhook's deliveries, newest first.
    DeliveryPage, deliveries: Delivery
);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewWebhook, example = json!({
    "url": "https://hooks.example.com/proctor", "events": ["run.finished", "test.flaky"], "format": "standard"
}))]
struct CreateBody {
    /// `http://` or `https://`; where it may point is `--webhook-allow-hosts`' to say.
    #[schema(max_length = 2000)]
    url: String,
    /// Some of `run.finished`, `test.flaky`, `test.quarantined`, `test.released`, `token.expiring`, `token.revoked`; default `run.finished`.
    events: Option<Vec<String>>,
    /// Default `standard` (Standard Webhooks, signed).
    format: Option<Format>,
    /// `run.finished` only when the status changed; default false.
    only_changes: Option<bool>,
    /// Default true.
    active: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookChange)]
struct PatchBody {
    #[schema(max_length = 2000)]
    url: Option<String>,
    events: Option<Vec<String>>,
    format: Option<Format>,
    only_changes: Option<bool>,
    /// True turns a webhook the server disabled (410) on again.
    active: Option<bool>,
}

impl From<CreateBody> for Draft {
    fn from(b: CreateBody) -> Draft {
        Draft { url: Some(b.url), events: b.events, format: b.format, only_changes: b.only_changes, active: b.active }
    }
}

impl From<PatchBody> for Draft {
    fn from(b: PatchBody) -> Draft {
        Draft { url: b.url, events: b.events, format: b.format, only_changes: b.only_changes, active: b.active }
    }
}

/// A webhook with its signing secret, shown this once.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookWithSecret)]
struct WithSecret {
    #[serde(flatten)]
    webhook: Webhook,
    /// `whsec_…`: verify `webhook-signature` with it. Shown only now.
    secret: String,
}

/// `{project}`, `{id}` and `{delivery}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct ProjectDeliveryPath {
    /// The project's slug.
    #[param(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    project: String,
    /// The webhook's id.
    id: String,
    /// The delivery's id.
    delivery: String,
}

/// `{id}` and `{delivery}`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct DeliveryPath {
    /// The webhook's id.
    id: String,
    /// The delivery's id.
    delivery: String,
}

async fn list(state: &AppState, caller: ApiCaller, scope: Scope, query: &PageQuery) -> Result<HttpResponse, AppError> {
    let (limit, after) = (query.limit()?, query.after()?);
    let found = state.db.read(move |c| ops::list(c, &caller.principal, &scope, after.as_deref(), limit + 1)).await?;
    Ok(HttpResponse::Ok().json(WebhookPage::of(found, limit, |w| w.id.clone())))
}

async fn create(state: &AppState, caller: ApiCaller, scope: Scope, draft: Draft) -> Result<HttpResponse, AppError> {
    let (ctx, by, key, client) = (caller.audit(), caller.principal, state.key.clone(), state.webhook_client.clone());
    let created = state.db.write(move |tx| ops::create(tx, &key, client.policy(), &ctx, &by, &scope, draft));
    let (webhook, secret) = created.await?;
    Ok(HttpResponse::Created().insert_header(("cache-control", "no-store")).json(WithSecret { webhook, secret }))
}

async fn update(
    state: &AppState,
    caller: ApiCaller,
    scope: Scope,
    id: String,
    draft: Draft,
) -> Result<HttpResponse, AppError> {
    let (ctx, by, client) = (caller.audit(), caller.principal, state.webhook_client.clone());
    let hook = state.db.write(move |tx| ops::update(tx, client.policy(), &ctx, &by, &scope, &id, draft)).await?;
    Ok(HttpResponse::Ok().json(hook))
}

async fn remove(state: &AppState, caller: ApiCaller, scope: Scope, id: String) -> Result<HttpResponse, AppError> {
    let (ctx, by) = (caller.audit(), caller.principal);
    state.db.write(move |tx| ops::delete(tx, &ctx, &by, &scope, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn rotate(state: &AppState, caller: ApiCaller, scope: Scope, id: String) -> Result<HttpResponse, AppError> {
    let (ctx, by, key) = (caller.audit(), caller.principal, state.key.clone());
    let (webhook, secret) = state.db.write(move |tx| ops::rotate_secret(tx, &key, &ctx, &by, &scope, &id)).await?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(WithSecret { webhook, secret }))
}

async fn ping(state: &AppState, caller: ApiCaller, scope: Scope, id: String) -> Result<HttpResponse, AppError> {
    let by = caller.principal;
    let delivery = state.db.write(move |tx| ops::ping(tx, &by, &scope, &id)).await?;
    Ok(HttpResponse::Accepted().json(delivery))
}

async fn deliveries(
    state: &AppState,
    caller: ApiCaller,
    scope: Scope,
    id: String,
    query: &PageQuery,
) -> Result<HttpResponse, AppError> {
    let (limit, before) = (query.limit()?, query.after()?);
    let by = caller.principal;
    let found = state.db.read(move |c| ops::deliveries(c, &by, &scope, &id, before.as_deref(), limit + 1)).await?;
    Ok(HttpResponse::Ok().json(DeliveryPage::of(found, limit, |d| d.id.clone())))
}

async fn redeliver(
    state: &AppState,
    caller: ApiCaller,
    scope: Scope,
    id: String,
    delivery: String,
) -> Result<HttpResponse, AppError> {
    let by = caller.principal;
    let again = state.db.write(move |tx| ops::redeliver(tx, &by, &scope, &id, &delivery)).await?;
    Ok(HttpResponse::Accepted().json(again))
}

// A project's webhooks.

/// List a project's webhooks
///
/// Needs `projects:manage`.
#[utoipa::path(tag = "webhooks", operation_id = "list_project_webhooks", params(ProjectPath, PageQuery),
    responses((status = 200, description = "A page of webhooks.", body = WebhookPage)))]
#[get("/webhooks")]
async fn list_project(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    list(&state, caller, Scope::Project(path.into_inner().project), &query).await
}

/// Add a webhook to a project
///
/// Answers with the secret, once. Needs `projects:manage`; audited as `webhook.created`.
#[utoipa::path(tag = "webhooks", operation_id = "create_project_webhook", params(ProjectPath), request_body = CreateBody,
    responses((status = 201, description = "The webhook and its secret.", body = WithSecret)))]
#[post("/webhooks")]
async fn create_project(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectPath>,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    create(&state, caller, Scope::Project(path.into_inner().project), body.into_inner().into()).await
}

/// Change a project's webhook
///
/// Absent fields are unchanged. Needs `projects:manage`; audited as `webhook.updated`.
#[utoipa::path(tag = "webhooks", operation_id = "update_project_webhook", params(ProjectItemPath), request_body = PatchBody,
    responses((status = 200, description = "The webhook.", body = Webhook)))]
#[patch("/webhooks/{id}")]
async fn update_project(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
    body: ApiJson<PatchBody>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project, id } = path.into_inner();
    update(&state, caller, Scope::Project(project), id, body.into_inner().into()).await
}

/// Delete a project's webhook
///
/// Its deliveries go with it. Needs `projects:manage`; audited as `webhook.deleted`.
#[utoipa::path(tag = "webhooks", operation_id = "delete_project_webhook", params(ProjectItemPath),
    responses((status = 204, description = "Deleted.")))]
#[delete("/webhooks/{id}")]
async fn delete_project(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project, id } = path.into_inner();
    remove(&state, caller, Scope::Project(project), id).await
}

/// Rotate a project's webhook secret
///
/// The new secret signs from now on; it is shown once. Audited as `webhook.secret_rotated`.
#[utoipa::path(tag = "webhooks", operation_id = "rotate_project_webhook_secret", params(ProjectItemPath),
    responses((status = 200, description = "The webhook and its new secret.", body = WithSecret)))]
#[post("/webhooks/{id}/rotate-secret")]
async fn rotate_project(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project, id } = path.into_inner();
    rotate(&state, caller, Scope::Project(project), id).await
}

/// Ping a project's webhook
///
/// Queues a `webhook.ping` delivery, whatever the webhook's events.
#[utoipa::path(tag = "webhooks", operation_id = "ping_project_webhook", params(ProjectItemPath),
    responses((status = 202, description = "The queued delivery.", body = Delivery),
        (status = 409, description = "The webhook is turned off: it gets nothing, pings included.", body = ErrorBody)))]
#[post("/webhooks/{id}/ping")]
async fn ping_project(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project, id } = path.into_inner();
    ping(&state, caller, Scope::Project(project), id).await
}

/// List a project's webhook deliveries
///
/// Newest first, kept 30 days.
#[utoipa::path(tag = "webhooks", operation_id = "list_project_webhook_deliveries", params(ProjectItemPath, PageQuery),
    responses((status = 200, description = "A page of deliveries.", body = DeliveryPage)))]
#[get("/webhooks/{id}/deliveries")]
async fn deliveries_project(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectItemPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let ProjectItemPath { project, id } = path.into_inner();
    deliveries(&state, caller, Scope::Project(project), id, &query).await
}

/// Redeliver a project's webhook delivery
///
/// Queues it again with the same message id.
#[utoipa::path(tag = "webhooks", operation_id = "redeliver_project_webhook", params(ProjectDeliveryPath),
    responses((status = 202, description = "The new delivery.", body = Delivery),
        (status = 409, description = "The webhook is turned off: it gets nothing, pings included.", body = ErrorBody)))]
#[post("/webhooks/{id}/deliveries/{delivery}/redeliver")]
async fn redeliver_project(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<ProjectDeliveryPath>,
) -> Result<HttpResponse, AppError> {
    let ProjectDeliveryPath { project, id, delivery } = path.into_inner();
    redeliver(&state, caller, Scope::Project(project), id, delivery).await
}

// The instance's webhooks.

/// List the instance's webhooks
///
/// Needs `users:admin`.
#[utoipa::path(tag = "webhooks", operation_id = "list_webhooks", params(PageQuery),
    responses((status = 200, description = "A page of webhooks.", body = WebhookPage)))]
#[get("/webhooks")]
async fn list_instance(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    list(&state, caller, Scope::Instance, &query).await
}

/// Add an instance webhook
///
/// It hears every project's events. Answers with the secret, once. Needs `users:admin`.
#[utoipa::path(tag = "webhooks", operation_id = "create_webhook", request_body = CreateBody,
    responses((status = 201, description = "The webhook and its secret.", body = WithSecret)))]
#[post("/webhooks")]
async fn create_instance(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    create(&state, caller, Scope::Instance, body.into_inner().into()).await
}

/// Change an instance webhook
///
/// Absent fields are unchanged. Needs `users:admin`; audited as `webhook.updated`.
#[utoipa::path(tag = "webhooks", operation_id = "update_webhook", params(IdPath), request_body = PatchBody,
    responses((status = 200, description = "The webhook.", body = Webhook),
        (status = 404, description = "No such webhook (or delivery).", body = ErrorBody)))]
#[patch("/webhooks/{id}")]
async fn update_instance(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
    body: ApiJson<PatchBody>,
) -> Result<HttpResponse, AppError> {
    update(&state, caller, Scope::Instance, path.into_inner().id, body.into_inner().into()).await
}

/// Delete an instance webhook
///
/// Its deliveries go with it. Needs `users:admin`; audited as `webhook.deleted`.
#[utoipa::path(tag = "webhooks", operation_id = "delete_webhook", params(IdPath),
    responses((status = 204, description = "Deleted."),
        (status = 404, description = "No such webhook (or delivery).", body = ErrorBody)))]
#[delete("/webhooks/{id}")]
async fn delete_instance(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
) -> Result<HttpResponse, AppError> {
    remove(&state, caller, Scope::Instance, path.into_inner().id).await
}

/// Rotate an instance webhook's secret
///
/// The new secret signs from now on; it is shown once. Audited as `webhook.secret_rotated`.
#[utoipa::path(tag = "webhooks", operation_id = "rotate_webhook_secret", params(IdPath),
    responses((status = 200, description = "The webhook and its new secret.", body = WithSecret),
        (status = 404, description = "No such webhook (or delivery).", body = ErrorBody)))]
#[post("/webhooks/{id}/rotate-secret")]
async fn rotate_instance(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
) -> Result<HttpResponse, AppError> {
    rotate(&state, caller, Scope::Instance, path.into_inner().id).await
}

/// Ping an instance webhook
///
/// Queues a `webhook.ping` delivery, whatever the webhook's events. Needs `users:admin`.
#[utoipa::path(tag = "webhooks", operation_id = "ping_webhook", params(IdPath),
    responses((status = 202, description = "The queued delivery.", body = Delivery),
        (status = 404, description = "No such webhook (or delivery).", body = ErrorBody),
        (status = 409, description = "The webhook is turned off: it gets nothing, pings included.", body = ErrorBody)))]
#[post("/webhooks/{id}/ping")]
async fn ping_instance(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
) -> Result<HttpResponse, AppError> {
    ping(&state, caller, Scope::Instance, path.into_inner().id).await
}

/// List an instance webhook's deliveries
///
/// Newest first, kept 30 days. Needs `users:admin`.
#[utoipa::path(tag = "webhooks", operation_id = "list_webhook_deliveries", params(IdPath, PageQuery),
    responses((status = 200, description = "A page of deliveries.", body = DeliveryPage),
        (status = 404, description = "No such webhook (or delivery).", body = ErrorBody)))]
#[get("/webhooks/{id}/deliveries")]
async fn deliveries_instance(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<IdPath>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    deliveries(&state, caller, Scope::Instance, path.into_inner().id, &query).await
}

/// Redeliver an instance webhook's delivery
///
/// Queues it again with the same message id. Needs `users:admin`.
#[utoipa::path(tag = "webhooks", operation_id = "redeliver_webhook", params(DeliveryPath),
    responses((status = 202, description = "The new delivery.", body = Delivery),
        (status = 404, description = "No such webhook (or delivery).", body = ErrorBody),
        (status = 409, description = "The webhook is turned off: it gets nothing, pings included.", body = ErrorBody)))]
#[post("/webhooks/{id}/deliveries/{delivery}/redeliver")]
async fn redeliver_instance(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<DeliveryPath>,
) -> Result<HttpResponse, AppError> {
    let DeliveryPath { id, delivery } = path.into_inner();
    redeliver(&state, caller, Scope::Instance, id, delivery).await
}
