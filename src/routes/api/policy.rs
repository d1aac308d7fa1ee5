//! `/api/v1/settings/token-policy`: the global expiration policy.

use actix_web::{get, put, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiJson;
use crate::auth::api::ApiCaller;
use crate::db;
use crate::domain::permission::Permission;
use crate::domain::policy::TokenPolicy;
use crate::error::{AppError, ErrorBody};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_policy).service(put_policy);
}

/// Get the expiration policy
///
/// Any valid token may read it.
#[utoipa::path(tag = "tokens", operation_id = "get_token_policy", responses((status = 200, description = "The policy.", body = TokenPolicy)))]
#[get("/settings/token-policy")]
async fn get_policy(state: web::Data<AppState>, _caller: ApiCaller) -> Result<HttpResponse, AppError> {
    let policy = state.db.read(db::settings::token_policy).await?;
    Ok(HttpResponse::Ok().json(policy))
}

/// Set the expiration policy
///
/// Needs `tokens:admin`; audited. Applies to tokens created from now on;
/// existing ones that exceed it are flagged (`exceeds_policy`).
#[utoipa::path(
    tag = "tokens",
    operation_id = "put_token_policy",
    request_body = TokenPolicy,
    responses(
        (status = 200, description = "The policy as saved.", body = TokenPolicy),
        (status = 422, description = "A field out of range, named in `message`.", body = ErrorBody),
    )
)]
#[put("/settings/token-policy")]
async fn put_policy(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: ApiJson<TokenPolicy>,
) -> Result<HttpResponse, AppError> {
    caller.principal.require(Permission::TokensAdmin)?;
    let policy = body.into_inner();
    let saved = policy.clone();
    state.db.write(move |tx| crate::ops::token_policy::set_policy(tx, &caller.audit(), &policy)).await?;
    Ok(HttpResponse::Ok().json(saved))
}
