//! The client's address and user agent, for the audit trail, throttling and
//! "last used". `X-Forwarded-For` is believed only from configured proxies.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::{ready, Ready};

use crate::domain::audit::{Actor, AuditContext};
use crate::state::AppState;

#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn from_request(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> ClientInfo {
        let peer = req.peer_addr().map(|a| a.ip());
        let ip = match peer {
            Some(peer) if trusted_proxies.contains(&peer) => forwarded_client(req, trusted_proxies).or(Some(peer)),
            other => other,
        };
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            // A secret pasted into a user agent goes no further (audit, "last used").
            .map(|ua| crate::domain::secrets::redact(ua).chars().take(256).collect());
        ClientInfo { ip: ip.map(|ip| ip.to_string()), user_agent }
    }

    pub fn audit(&self, actor: Actor) -> AuditContext {
        AuditContext { actor, ip: self.ip.clone(), user_agent: self.user_agent.clone() }
    }
}

/// The right-most address in `X-Forwarded-For` that is not one of our proxies.
fn forwarded_client(req: &HttpRequest, trusted: &[IpAddr]) -> Option<IpAddr> {
    let header = req.headers().get("x-forwarded-for")?.to_str().ok()?;
    header.rsplit(',').map(str::trim).filter_map(|s| s.parse::<IpAddr>().ok()).find(|ip| !trusted.contains(ip))
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let proxies =
            req.app_data::<web::Data<AppState>>().map(|s| s.config.trusted_proxies.clone()).unwrap_or_default();
        ready(Ok(ClientInfo::from_request(req, &proxies)))
    }
}
