//! The client's address and user agent, for the audit trail, throttling and
//! "last used". `X-Forwarded-For` is believed only from configured proxies.

use std::net::IpAddr;

use crate::domain::audit::{Actor, AuditContext};

#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The client of a connection from `peer` with these headers: the
    /// `X-Forwarded-For` client when `peer` is one of `trusted_proxies`.
    pub fn new(
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
        user_agent: Option<&str>,
        trusted_proxies: &[IpAddr],
    ) -> ClientInfo {
        let ip = match peer {
            Some(peer) if trusted_proxies.contains(&peer) => {
                forwarded_for.and_then(|h| forwarded_client(h, trusted_proxies)).or(Some(peer))
            }
            other => other,
        };
        // A secret pasted into a user agent goes no further (audit, "last used").
        let user_agent = user_agent.map(|ua| crate::domain::secrets::redact(ua).chars().take(256).collect());
        ClientInfo { ip: ip.map(|ip| ip.to_string()), user_agent }
    }

    pub fn audit(&self, actor: Actor) -> AuditContext {
        AuditContext { actor, ip: self.ip.clone(), user_agent: self.user_agent.clone() }
    }
}

/// The right-most address in `X-Forwarded-For` that is not one of our proxies.
fn forwarded_client(header: &str, trusted: &[IpAddr]) -> Option<IpAddr> {
    header.rsplit(',').map(str::trim).filter_map(|s| s.parse::<IpAddr>().ok()).find(|ip| !trusted.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let peer: IpAddr = "192.0.2.7".parse().unwrap();
        let chain = Some("203.0.113.9, 198.51.100.4, 10.0.0.1");
        assert_eq!(ClientInfo::new(Some(proxy), chain, None, &[proxy]).ip.as_deref(), Some("198.51.100.4"));
        assert_eq!(ClientInfo::new(Some(peer), chain, None, &[proxy]).ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(ClientInfo::new(Some(proxy), Some("junk"), None, &[proxy]).ip.as_deref(), Some("10.0.0.1"));
    }
}
