//! [`ApiCaller`]: the one extractor of every `/api/v1` route. It reads the
//! token from `Authorization: Bearer`, `X-Api-Key` or `Project-Token`,
//! rejects malformed tokens before any database work, checks the cached
//! record (status, expiry, owner), applies the rate limit, records the use
//! for "last used", and yields a [`Principal`] whose permissions are the
//! token's ∩ its owner's role now.

use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde_json::json;

use super::client::ClientInfo;
use super::token_cache::TokenAuth;
use super::{Principal, ProjectScope};
use crate::db;
use crate::db::tokens::TokenStatus;
use crate::domain::audit::{Actor, ActorKind, Target};
use crate::domain::permission::key_permissions;
use crate::domain::time::{rfc3339_unix, unix_now};
use crate::domain::token::{TokenKind, TokenSecret};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A request authenticated by an access token.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub principal: Principal,
    pub auth: Arc<TokenAuth>,
    pub client: ClientInfo,
}

impl ApiCaller {
    pub fn token_id(&self) -> &str {
        &self.auth.token.id
    }

    pub fn audit(&self) -> crate::domain::audit::AuditContext {
        self.client.audit(self.principal.actor.clone())
    }
}

/// Headers every authenticated response carries; the API middleware copies
/// them from the request's extensions onto the response.
#[derive(Debug, Clone)]
pub struct AuthHeaders {
    pub expiration: Option<String>,
    pub rate_limit_policy: String,
    pub rate_limit: String,
}

const HEADERS: [&str; 3] = ["authorization", "x-api-key", "project-token"];

/// The one token presented, `Ok(None)` for none, 400 for two different ones.
fn presented(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let mut found: Option<String> = None;
    for name in HEADERS {
        for value in headers.get_all(name) {
            let raw = value.to_str().unwrap_or("").trim();
            let token = if name == "authorization" {
                match raw.split_once(' ') {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                    _ => raw,
                }
            } else {
                raw
            };
            match &found {
                Some(existing) if existing != token => {
                    return Err(AppError::bad_request(
                        "ambiguous_credentials",
                        "Two different tokens were sent; send exactly one.",
                    ))
                }
                _ => found = Some(token.to_string()),
            }
        }
    }
    Ok(found)
}

fn unauthenticated(status: TokenStatus) -> AppError {
    let (code, message) = match status {
        TokenStatus::Revoked => ("token_revoked", "API key revoked"),
        TokenStatus::Expired => ("token_expired", "API key expired"),
        TokenStatus::Disabled => ("token_disabled", "API key is disabled"),
        TokenStatus::Active => ("invalid_token", "Invalid API key"),
    };
    AppError::Unauthenticated { code, message, token_presented: true }
}

fn invalid_token() -> AppError {
    AppError::Unauthenticated { code: "invalid_token", message: "Invalid API key", token_presented: true }
}

async fn record_failure(state: &AppState, client: &ClientInfo, preview: Option<String>, reason: &'static str) {
    if !state.auth_failures.should_record(preview.as_deref(), client.ip.as_deref(), Instant::now()) {
        return;
    }
    let ctx = client.audit(Actor { kind: ActorKind::Token, id: None, name: None, preview: preview.clone() });
    let target = preview.map(|p| Target::new("token", p.clone(), p));
    let result = state
        .db
        .write(move |tx| db::audit::record(tx, &ctx, "auth.failed", target.as_ref(), json!({"reason": reason})))
        .await;
    if let Err(e) = result {
        log::warn!("could not audit a failed authentication: {e}");
    }
}

/// Loads a token and its owner's current state (cache miss path).
async fn load(
    state: &AppState,
    secret_hash: crate::domain::token::TokenHash,
) -> Result<Option<Arc<TokenAuth>>, AppError> {
    let epoch = state.tokens.sync()?;
    if let Some(hit) = state.tokens.get(&secret_hash) {
        return Ok(Some(hit));
    }
    let found = state
        .db
        .read(move |conn| -> AppResult<_> {
            let Some(token) = db::tokens::by_hash(conn, &secret_hash)? else { return Ok(None) };
            let owner = match token.owner_id() {
                Some(id) => db::accounts::get(conn, id)?,
                None => None,
            };
            let project = match &token.project {
                Some((_, slug)) => db::projects::by_slug(conn, slug)?,
                None => None,
            };
            let (owner_active, owner_permissions) = match (&owner, token.kind) {
                (Some(account), _) => {
                    (account.active, db::roles::permissions(conn, &account.role)?.unwrap_or_default())
                }
                (None, TokenKind::Pat) => (false, Default::default()),
                (None, TokenKind::Key) => (true, key_permissions()),
            };
            Ok(Some(TokenAuth { token, owner_active, owner_permissions, owner, project }))
        })
        .await?;
    Ok(found.map(|auth| {
        let auth = Arc::new(auth);
        state.tokens.insert(secret_hash, epoch, auth.clone());
        auth
    }))
}

async fn authenticate(req: HttpRequest) -> Result<ApiCaller, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal("application state missing"))?;
    let client = ClientInfo::from_request(&req, &state.config.trusted_proxies);
    let raw = presented(req.headers())?.ok_or(AppError::Unauthenticated {
        code: "credentials_required",
        message: "API key required",
        token_presented: false,
    })?;
    let secret = match TokenSecret::parse(&raw) {
        Ok(secret) => secret,
        Err(_) => {
            record_failure(&state, &client, None, "malformed").await;
            return Err(invalid_token());
        }
    };
    let Some(auth) = load(&state, secret.hash(&state.key)).await? else {
        record_failure(&state, &client, Some(secret.preview()), "unknown").await;
        return Err(invalid_token());
    };
    let token = &auth.token;
    let now = unix_now();
    let mut status = token.status(now);
    if status == TokenStatus::Active && !auth.owner_active {
        status = TokenStatus::Revoked;
    }
    if status != TokenStatus::Active {
        record_failure(&state, &client, Some(token.preview.clone()), status.as_str()).await;
        return Err(unauthenticated(status));
    }
    let limit = token.rate_limit_per_minute.unwrap_or(state.config.rate_limit_per_minute);
    let decision = state.rate_limiter.check(&token_uuid(&token.id), limit, Instant::now());
    req.extensions_mut().insert(AuthHeaders {
        expiration: token.expires_at.map(rfc3339_unix),
        rate_limit_policy: decision.policy_header(),
        rate_limit: decision.ratelimit_header(),
    });
    if !decision.allowed {
        return Err(AppError::RateLimited { retry_after: decision.retry_after_secs });
    }
    state.last_used.record(
        token_uuid(&token.id),
        crate::domain::time::now(),
        client.ip.as_deref().and_then(|ip| ip.parse().ok()),
        client.user_agent.as_deref(),
    );
    let (permissions, projects) = match token.kind {
        TokenKind::Pat => (
            token.permissions.intersection(auth.owner_permissions),
            match &token.projects {
                None => ProjectScope::All,
                Some(list) => ProjectScope::Only(list.iter().map(|(id, _)| *id).collect()),
            },
        ),
        TokenKind::Key => (
            token.permissions.intersection(key_permissions()),
            ProjectScope::Only(token.project.iter().map(|(id, _)| *id).collect()),
        ),
    };
    let principal = Principal {
        actor: Actor {
            kind: ActorKind::Token,
            id: Some(token.id.clone()),
            name: Some(token.name.clone()),
            preview: Some(token.preview.clone()),
        },
        account_id: token.owner_id().map(str::to_string),
        permissions,
        projects,
    };
    Ok(ApiCaller { principal, auth, client })
}

/// Token ids are UUIDs; a malformed stored id maps to nil (it cannot happen
/// for rows we wrote, and nil still rate-limits).
fn token_uuid(id: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(id).unwrap_or_default()
}

/// The outcome of authenticating before the handler's extractors run.
struct PreAuthenticated(std::cell::RefCell<Option<Result<ApiCaller, AppError>>>);

/// Authenticates a request that presents a token *before* its handler's
/// extractors run (called by the API middleware). Extractors run
/// concurrently, so otherwise a malformed JSON body could be answered (400)
/// before an invalid token (401) whose check had to wait for the database.
pub async fn preauthenticate(req: &HttpRequest) {
    if HEADERS.iter().any(|h| req.headers().contains_key(*h)) {
        let result = authenticate(req.clone()).await;
        req.extensions_mut().insert(PreAuthenticated(std::cell::RefCell::new(Some(result))));
    }
}

impl FromRequest for ApiCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let done = req.extensions().get::<PreAuthenticated>().and_then(|p| p.0.borrow_mut().take());
        match done {
            Some(result) => Box::pin(futures_util::future::ready(result)),
            None => Box::pin(authenticate(req.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn one_token_from_any_header() {
        assert_eq!(presented(&headers(&[])).unwrap(), None);
        assert_eq!(presented(&headers(&[("authorization", "Bearer abc")])).unwrap().as_deref(), Some("abc"));
        assert_eq!(presented(&headers(&[("x-api-key", "abc")])).unwrap().as_deref(), Some("abc"));
        assert_eq!(presented(&headers(&[("project-token", " abc ")])).unwrap().as_deref(), Some("abc"));
        let same = headers(&[("authorization", "bearer abc"), ("x-api-key", "abc")]);
        assert_eq!(presented(&same).unwrap().as_deref(), Some("abc"));
        let two = headers(&[("authorization", "Bearer abc"), ("project-token", "def")]);
        assert!(matches!(presented(&two), Err(AppError::Client { code: "ambiguous_credentials", .. })));
    }
}
