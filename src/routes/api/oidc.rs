//! `POST /api/v1/oidc/exchange` (API.md section 11): a CI job's OpenID
//! Connect ID token for a short-lived token of one project. No
//! authentication, so the cheap checks come first: the request rate, the
//! token's shape and times, and whether any project trusts its issuer, all
//! before any request to an issuer; then the signature; then, in one
//! transaction, the project's publishers, the `jti` and the new token.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::ApiJson;
use crate::auth::client::ClientInfo;
use crate::db;
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::oidc::{check_times, peek, refused, Peeked};
use crate::domain::time::{rfc3339_unix, unix_now};
use crate::error::{AppError, ErrorBody};
use crate::state::{AppState, ExchangeLimits};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(exchange);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OidcExchange)]
struct ExchangeBody {
    /// The slug of the project to upload to.
    #[schema(max_length = 64)]
    project: String,
    /// The CI job's OpenID Connect ID token (a JWT signed RS256 or ES256).
    #[schema(max_length = 16384)]
    token: String,
}

/// The short-lived token, once.
#[derive(Serialize, ToSchema)]
struct Exchanged {
    /// `prc_oidc_…`: use it as any token, on its one project.
    token: String,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(value_type = Vec<crate::domain::permission::Permission>)]
    permissions: Vec<&'static str>,
    project: String,
}

fn limited(decision: crate::auth::rate_limit::Decision) -> Result<(), AppError> {
    if decision.allowed {
        Ok(())
    } else {
        Err(AppError::RateLimited { retry_after: decision.retry_after_secs })
    }
}

/// Exchange an ID token
///
/// A CI job's OpenID Connect ID token (GitHub Actions, GitLab CI
/// `id_tokens`, Forgejo, …) for a short-lived token of the project, if one
/// of the project's trusted publishers accepts it: signature (RS256 or
/// ES256, the issuer's published keys), `iss`, `aud`, `exp`/`nbf`/`iat`
/// with 60 s leeway and at most an hour old, each `jti` once, and every
/// claim rule. No authentication; limited per client address.
#[utoipa::path(
    tag = "identity",
    operation_id = "oidc_exchange",
    security(()),
    request_body = ExchangeBody,
    responses(
        (status = 201, description = "The short-lived token.", body = Exchanged),
        (status = 401, description = "Refused (`oidc_rejected`): the message names the check that failed. An unknown project is refused like one without a matching publisher.", body = ErrorBody),
        (status = 429, description = "Too many exchanges from this address or for this issuer (`rate_limited`).", body = ErrorBody),
    )
)]
#[post("/oidc/exchange")]
async fn exchange(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: ApiJson<ExchangeBody>,
) -> Result<HttpResponse, AppError> {
    let limits = &state.exchange_limits;
    let address = client.ip.clone().unwrap_or_default();
    limited(limits.per_ip.check(&address, ExchangeLimits::PER_IP_PER_MINUTE, Instant::now()))?;
    let ExchangeBody { project, token } = body.into_inner();
    let peeked = without_network(&state, &token).await?;
    let issuer = peeked.issuer().to_string();
    limited(limits.per_issuer.check(&issuer, ExchangeLimits::PER_ISSUER_PER_MINUTE, Instant::now()))?;
    let claims =
        state.oidc_keys.verify(&issuer, &peeked.alg, &peeked.kid, &token).await.map_err(AppError::oidc_rejected)?;
    let ctx =
        client.audit(Actor { kind: ActorKind::System, id: None, name: Some("OIDC exchange".into()), preview: None });
    let st = state.clone();
    let now = unix_now();
    let issued =
        state.db.write(move |tx| crate::ops::oidc::exchange(tx, &st.key, &ctx, &project, &claims, now)).await?;
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(Exchanged::from(issued)))
}

impl From<crate::ops::tokens::Issued> for Exchanged {
    fn from(issued: crate::ops::tokens::Issued) -> Exchanged {
        Exchanged {
            token: issued.secret.expose_secret().to_string(),
            expires_at: issued.token.expires_at.map(rfc3339_unix).unwrap_or_default(),
            permissions: issued.token.permissions.names(),
            project: issued.token.project_slugs().and_then(|p| p.into_iter().next()).unwrap_or_default(),
        }
    }
}

/// The checks that cost no request to an issuer: the token's shape and
/// times, and that some project trusts its issuer.
async fn without_network(state: &AppState, token: &str) -> Result<Peeked, AppError> {
    let peeked = peek(token).map_err(AppError::oidc_rejected)?;
    check_times(&peeked.claims, unix_now()).map_err(AppError::oidc_rejected)?;
    let issuer = peeked.issuer().to_string();
    if !state.db.read(move |c| db::publishers::issuer_is_trusted(c, &issuer)).await? {
        // The same words as for a project without a matching publisher.
        return Err(AppError::oidc_rejected(refused(
            "no trusted publisher of this project accepts ID tokens of this issuer",
        )));
    }
    Ok(peeked)
}
