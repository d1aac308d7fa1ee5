//! [`ApiCaller`]: who calls an `/api/v1` route. [`authenticate`] takes the
//! one token presented (read from the headers by `routes::extract`),
//! rejects a malformed token before any database work, checks the cached
//! record (status, expiry, owner), applies the rate limit, records the use
//! for "last used", and yields a [`Principal`] whose permissions are the
//! token's ∩ its owner's role now.

use std::sync::Arc;
use std::time::Instant;

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
                (None, TokenKind::Key | TokenKind::Oidc) => (true, key_permissions()),
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

/// What [`authenticate`] found: the caller or why not, and the headers the
/// response carries either way once a token was recognised (expiry, rate limit).
pub struct Authenticated {
    pub caller: Result<ApiCaller, AppError>,
    pub headers: Option<AuthHeaders>,
}

/// Authenticates the token `raw` (none presented: `None`) of a request from `client`.
pub async fn authenticate(state: &AppState, raw: Option<String>, client: ClientInfo) -> Authenticated {
    let mut headers = None;
    let caller = check(state, raw, client, &mut headers).await;
    Authenticated { caller, headers }
}

async fn check(
    state: &AppState,
    raw: Option<String>,
    client: ClientInfo,
    headers: &mut Option<AuthHeaders>,
) -> Result<ApiCaller, AppError> {
    let raw = raw.ok_or(AppError::Unauthenticated {
        code: "credentials_required",
        message: "API key required",
        token_presented: false,
    })?;
    let secret = match TokenSecret::parse(&raw) {
        Ok(secret) => secret,
        Err(_) => {
            record_failure(state, &client, None, "malformed").await;
            return Err(invalid_token());
        }
    };
    let Some(auth) = load(state, secret.hash(&state.key)).await? else {
        record_failure(state, &client, Some(secret.preview()), "unknown").await;
        return Err(invalid_token());
    };
    let token = &auth.token;
    let now = unix_now();
    let mut status = token.status(now);
    if status == TokenStatus::Active && !auth.owner_active {
        status = TokenStatus::Revoked;
    }
    if status != TokenStatus::Active {
        record_failure(state, &client, Some(token.preview.clone()), status.as_str()).await;
        return Err(unauthenticated(status));
    }
    let limit = token.rate_limit_per_minute.unwrap_or(state.config.rate_limit_per_minute);
    let decision = state.rate_limiter.check(&token_uuid(&token.id), limit, Instant::now());
    *headers = Some(AuthHeaders {
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
        TokenKind::Key | TokenKind::Oidc => (
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
