//! The exchange's last step (API.md section 11): an ID token whose shape,
//! times and signature were checked is matched against the project's
//! trusted publishers, its `jti` spent, and a short-lived `prc_oidc_` token
//! of that project issued, audited as `token.exchanged`. One transaction:
//! a replayed `jti` and an issued token cannot both happen.

use serde_json::{json, Map, Value};

use crate::db::publishers::{self, Exchange, Publisher};
use crate::db::tokens::NewToken;
use crate::db::{self, audit, Tx};
use crate::domain::audit::{Actor, ActorKind, AuditContext, Target};
use crate::domain::oidc::{audiences, refused, Refused, LEEWAY_SECS};
use crate::domain::provenance::Provenance;
use crate::domain::publisher::first_mismatch;
use crate::domain::token::{InstanceKey, TokenKind, TokenSecret};
use crate::ops::tokens::Issued;
use crate::ops::OpsError;

/// What refused an exchange: the ID token (401 `oidc_rejected`), or storage.
#[derive(Debug)]
pub enum ExchangeError {
    Rejected(Refused),
    Ops(OpsError),
}

impl<E: Into<OpsError>> From<E> for ExchangeError {
    fn from(e: E) -> Self {
        ExchangeError::Ops(e.into())
    }
}

/// The same refusal for a project that does not exist and one that trusts
/// no publisher of this issuer: the exchange is open to anyone and must not
/// tell which projects exist.
fn no_publisher() -> ExchangeError {
    ExchangeError::Rejected(refused("no trusted publisher of this project accepts ID tokens of this issuer"))
}

fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// The publisher of project `slug` that accepts these verified `claims`,
/// or the refusal naming the first check that failed.
fn matching_publisher(tx: &Tx, slug: &str, claims: &Map<String, Value>) -> Result<Publisher, ExchangeError> {
    let project = db::projects::by_slug(tx, slug)?.ok_or_else(no_publisher)?;
    let issuer = claim(claims, "iss").unwrap_or_default();
    let candidates = publishers::for_issuer(tx, project.id, issuer)?;
    let presented = audiences(claims);
    let mut first_refusal = None;
    for publisher in candidates {
        let refusal = if !presented.contains(&publisher.audience.as_str()) {
            Some(format!("audience {presented:?} does not include {:?}", publisher.audience))
        } else {
            first_mismatch(&publisher.claims, claims)
        };
        match refusal {
            None => return Ok(publisher),
            Some(r) => {
                first_refusal.get_or_insert(r);
            }
        }
    }
    Err(first_refusal.map_or_else(no_publisher, |r| ExchangeError::Rejected(refused(r))))
}

/// The name an exchanged token shows in lists: what it came from.
fn token_name(claims: &Map<String, Value>) -> String {
    let source = claim(claims, "repository").or_else(|| claim(claims, "project_path")).or_else(|| claim(claims, "sub"));
    let name = match (source, claim(claims, "ref")) {
        (Some(s), Some(r)) => format!("OIDC {s} {r}"),
        (Some(s), None) => format!("OIDC {s}"),
        _ => "OIDC".to_string(),
    };
    crate::domain::secrets::redact_owned(name.chars().filter(|c| !c.is_control()).take(100).collect())
}

/// Exchanges the verified `claims` for a token of project `slug`, now `now`.
pub fn exchange(
    tx: &Tx,
    key: &InstanceKey,
    ctx: &AuditContext,
    slug: &str,
    claims: &Map<String, Value>,
    now: i64,
) -> Result<Issued, ExchangeError> {
    let publisher = matching_publisher(tx, slug, claims)?;
    let issuer = claim(claims, "iss").unwrap_or_default();
    let jti = claim(claims, "jti").unwrap_or_default();
    let id_expires = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    if !publishers::use_jti(tx, issuer, jti, id_expires + LEEWAY_SECS)? {
        return Err(ExchangeError::Rejected(refused("this ID token was exchanged already (jti); request a new one")));
    }
    let secret = TokenSecret::generate(TokenKind::Oidc);
    let name = token_name(claims);
    let created_by = Actor { kind: ActorKind::System, id: None, name: Some("trusted publisher".into()), preview: None };
    let new = NewToken {
        kind: TokenKind::Oidc,
        name: &name,
        hash: &secret.hash(key),
        preview: &secret.preview(),
        owner_id: None,
        project_id: Some(publisher.project_id),
        permissions: publisher.permissions,
        projects: None,
        created_at: now,
        created_by: &created_by,
        expires_at: Some(now + i64::from(publisher.token_minutes) * 60),
        rate_limit_per_minute: None,
        publisher_id: Some(&publisher.id),
    };
    let id = db::tokens::insert(tx, &new)?;
    let token = db::tokens::get(tx, &id)?.ok_or_else(|| OpsError::internal("token vanished after insert"))?;
    let provenance = Provenance::of(issuer, claims);
    let details = json!({
        "issuer": issuer,
        "subject": provenance.subject,
        "repository": provenance.repository,
        "ref": provenance.git_ref,
        "sha": provenance.sha,
        "run_id": provenance.run_id,
        "run_url": provenance.run_url,
        "publisher": publisher.id,
        "project": slug,
        "permissions": token.permissions.names(),
        "expires_at": token.expires_at.map(crate::domain::time::rfc3339_unix),
    });
    let exchange =
        Exchange { publisher_id: publisher.id.clone(), token_id: Some(token.id.clone()), at: now, provenance };
    publishers::record_exchange(tx, &exchange)?;
    let target = Target::new("token", token.id.clone(), token.preview.clone());
    audit::record(tx, ctx, "token.exchanged", Some(&target), details)?;
    Ok(Issued { token, secret })
}

/// Exchanged tokens are deleted this long after they expire.
pub const EXPIRED_TOKEN_DAYS: i64 = 1;
/// At most this many per housekeeping pass; more wait for the next.
const PRUNE_BATCH: u32 = 1000;

/// Housekeeping: forgets spent `jti`s whose ID tokens have expired and
/// deletes exchanged tokens a day past their expiry. Returns how many of each.
pub fn prune(tx: &Tx, now: i64) -> Result<(usize, usize), OpsError> {
    let jtis = publishers::prune_jtis(tx, now)?;
    let tokens = db::tokens::delete_expired_oidc(tx, now - EXPIRED_TOKEN_DAYS * 86_400, PRUNE_BATCH)?;
    Ok((jtis, tokens))
}
