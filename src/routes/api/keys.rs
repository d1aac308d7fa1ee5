//! Project API keys: `/api/v1/projects/{project}/keys` (`projects:manage`).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::tokens::{issued_response, parse_permissions, token_json, ExpiryFields, RotateBody};
use super::{collection, invalid, PageQuery};
use super::{ApiJson, JsonBytes};
use crate::auth::api::ApiCaller;
use crate::db::{self, tokens::TokenFilter};
use crate::domain::names::DisplayName;
use crate::domain::permission::Permission;
use crate::domain::time::unix_now;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult};
use crate::ops::tokens::{self as ops, KeyRequest};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(list))
        .route("/keys", web::post().to(create))
        .route("/keys/{id}", web::patch().to(update))
        .route("/keys/{id}", web::delete().to(delete))
        .route("/keys/{id}/rotate", web::post().to(rotate));
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let limit = query.limit()?;
    let after = query.after()?;
    let now = unix_now();
    let (keys, policy) = state
        .db
        .read(move |c| -> AppResult<_> {
            let project = crate::ops::visible_project(c, &caller.principal, &slug)?;
            caller.principal.require(Permission::ProjectsManage)?;
            let filter = TokenFilter { kind: Some(TokenKind::Key), project_id: Some(project.id), ..Default::default() };
            Ok((db::tokens::list(c, &filter, after.as_deref(), limit + 1, now)?, db::settings::token_policy(c)?))
        })
        .await?;
    let items: Vec<_> = keys.iter().map(|k| token_json(k, now, &policy, None)).collect();
    Ok(collection("keys", items, limit, |v| v["id"].as_str().unwrap_or_default().to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    permissions: Vec<String>,
    #[serde(flatten)]
    expiry: ExpiryFields,
}

async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let req = KeyRequest {
        name: DisplayName::parse(&body.name).map_err(invalid)?,
        permissions: parse_permissions(&body.permissions)?,
        expiry: body.expiry.request()?,
    };
    let st = state.clone();
    let (issued, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let issued = ops::create_key(tx, &st.key, &caller.audit(), &caller.principal, &slug, req)?;
            Ok((issued, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(issued_response(&issued, &policy))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    permissions: Option<Vec<String>>,
    disabled: Option<bool>,
}

async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: ApiJson<UpdateBody>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let body = body.into_inner();
    let name = body.name.as_deref().map(DisplayName::parse).transpose().map_err(invalid)?;
    let permissions = body.permissions.as_deref().map(parse_permissions).transpose()?;
    let now = unix_now();
    let (token, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::project_key(tx, &caller.principal, &slug, &id)?;
            let token =
                ops::update_key(tx, &caller.audit(), &caller.principal, &token, name, permissions, body.disabled)?;
            Ok((token, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(token_json(&token, now, &policy, None)))
}

async fn delete(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::project_key(tx, &caller.principal, &slug, &id)?;
            Ok(ops::delete_key(tx, &caller.audit(), &token)?)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn rotate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: JsonBytes,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    let grace = body.parse_or_default::<RotateBody>()?.grace_seconds;
    let st = state.clone();
    let (issued, policy) = state
        .db
        .write(move |tx| -> AppResult<_> {
            let token = ops::project_key(tx, &caller.principal, &slug, &id)?;
            let issued = ops::rotate(tx, &st.key, &caller.audit(), &caller.principal, &token, grace)?;
            Ok((issued, db::settings::token_policy(tx)?))
        })
        .await?;
    Ok(issued_response(&issued, &policy))
}
