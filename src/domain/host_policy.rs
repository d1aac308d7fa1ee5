//! Which hosts the server may send requests to on its own initiative
//! (issuers' keys now, webhooks later): the defence against server-side
//! request forgery, where whoever configures a URL aims the server at its
//! own network (the cloud metadata address, an admin port on loopback, a
//! database on the private network). Like Gitea's `ALLOWED_HOST_LIST`:
//! a comma-separated list of
//!
//! - `external`: public addresses (the default);
//! - `loopback`: `127.0.0.0/8`, `::1`;
//! - `private`: `10/8`, `172.16/12`, `192.168/16`, `100.64/10`, `fc00::/7`
//!   and the deprecated site-local `fec0::/10`;
//! - a CIDR (`10.1.0.0/16`, `fd12::/16`) or a single address;
//! - a host name or glob (`gitlab.corp.example`, `*.corp.example`): its
//!   addresses, whatever they are;
//! - `*`: anything.
//!
//! Link-local (`169.254.0.0/16`, where clouds serve instance credentials,
//! `fe80::/10`), unspecified, multicast, broadcast and reserved addresses
//! are allowed only by a CIDR, a host entry or `*`. IPv4 addresses inside
//! IPv6 (mapped, 6to4, NAT64) are judged as the IPv4 address they carry.
//! Pure: resolving names and connecting are the caller's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::domain::glob::glob_matches;

/// What kind of address an IP is, for the policy and for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    External,
    Loopback,
    Private,
    LinkLocal,
    /// Unspecified, multicast, broadcast, documentation, reserved.
    Special,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::External => "external",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Special => "special-purpose",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Any,
    Class(AddressClass),
    Network { addr: IpAddr, prefix: u8 },
    Host(String),
}

/// An allow-list as `--oidc-allow-hosts` states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    entries: Vec<Entry>,
    source: String,
}

impl Default for HostPolicy {
    /// `external`: public addresses only.
    fn default() -> Self {
        HostPolicy { entries: vec![Entry::Class(AddressClass::External)], source: "external".into() }
    }
}

impl fmt::Display for HostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn network(s: &str) -> Option<Entry> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
        None => {
            let addr = s.parse::<IpAddr>().ok()?;
            (addr, if addr.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some(Entry::Network { addr, prefix })
}

/// Whether `addr` lies in an IPv6 range that carries IPv4 (mapped, 6to4,
/// NAT64): addresses there are judged as IPv4, so the list must name them so.
fn carries_v4(addr: IpAddr) -> bool {
    embedded_v4(addr).is_ipv4() && addr.is_ipv6()
}

impl std::str::FromStr for HostPolicy {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let entry = match raw.to_ascii_lowercase().as_str() {
                "*" => Entry::Any,
                "external" => Entry::Class(AddressClass::External),
                "loopback" => Entry::Class(AddressClass::Loopback),
                "private" => Entry::Class(AddressClass::Private),
                s if s.contains('/') || s.parse::<IpAddr>().is_ok() => match network(s) {
                    Some(Entry::Network { addr, .. }) if carries_v4(addr) => {
                        return Err(format!(
                            "{raw:?} carries IPv4 inside IPv6 (mapped, 6to4 or NAT64); name the IPv4 address or network"
                        ))
                    }
                    Some(entry) => entry,
                    None => return Err(format!("{raw:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)")),
                },
                s if s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | '?' | '_')) => {
                    Entry::Host(s.to_string())
                }
                _ => {
                    return Err(format!(
                        "{raw:?} is not external, loopback, private, *, a CIDR or a host name (globs allowed)"
                    ))
                }
            };
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err("the list is empty; say external for public addresses only".into());
        }
        Ok(HostPolicy { entries, source: list.trim().to_string() })
    }
}

impl HostPolicy {
    /// Whether a request to `host` (as the URL names it) may go to `ip`.
    pub fn allows(&self, host: &str, ip: IpAddr) -> bool {
        let ip = embedded_v4(ip);
        let class = classify(ip);
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.entries.iter().any(|entry| match entry {
            Entry::Any => true,
            Entry::Class(c) => *c == class,
            Entry::Network { addr, prefix } => in_network(ip, *addr, *prefix),
            Entry::Host(glob) => glob_matches(glob, &host),
        })
    }

    /// Why a request to `host` may not go to `ip`, for logs and refusals.
    pub fn refusal(&self, host: &str, ip: IpAddr, flag: &str) -> String {
        let class = classify(embedded_v4(ip));
        format!("{host} is at {ip}, a {class} address, which {flag} ({self}) does not allow")
    }
}

/// The IPv4 address an IPv6 one carries (mapped `::ffff:a.b.c.d`, 6to4
/// `2002:AABB:CCDD::/48`, NAT64 `64:ff9b::a.b.c.d`), or `ip` itself.
fn embedded_v4(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let v4_of = |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8));
    match s {
        [0x2002, hi, lo, ..] => v4_of(hi, lo),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => v4_of(hi, lo),
        _ => ip,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn v4_in(ip: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    in_network(IpAddr::V4(ip), IpAddr::V4(Ipv4Addr::from(net)), prefix)
}

fn v6_in(ip: Ipv6Addr, net: &str, prefix: u8) -> bool {
    net.parse::<Ipv6Addr>().is_ok_and(|n| in_network(IpAddr::V6(ip), IpAddr::V6(n), prefix))
}

/// The class of an address (IPv4 inside IPv6 already unwrapped).
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback() {
                AddressClass::Loopback
            } else if v4.is_private() || v4_in(v4, [100, 64, 0, 0], 10) {
                AddressClass::Private
            } else if v4.is_link_local() {
                AddressClass::LinkLocal
            } else if v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4_in(v4, [0, 0, 0, 0], 8)
                || v4_in(v4, [192, 0, 0, 0], 24)
                || v4_in(v4, [198, 18, 0, 0], 15)
                || v4_in(v4, [240, 0, 0, 0], 4)
            {
                AddressClass::Special
            } else {
                AddressClass::External
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                AddressClass::Loopback
            } else if v6_in(v6, "fc00::", 7) || v6_in(v6, "fec0::", 10) {
                AddressClass::Private
            } else if v6_in(v6, "fe80::", 10) {
                AddressClass::LinkLocal
            } else if v6_in(v6, "2000::", 3) && !v6_in(v6, "2001:db8::", 32) && !v6_in(v6, "2001::", 23) {
                AddressClass::External
            } else {
                AddressClass::Special
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy(s: &str) -> HostPolicy {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_classified_with_ipv4_inside_ipv6_unwrapped() {
        let cases = [
            ("8.8.8.8", AddressClass::External),
            ("2606:4700::1111", AddressClass::External),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.8.9.10", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("192.168.0.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Private),
            ("fd00::1", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("fe80::1", AddressClass::LinkLocal),
            ("0.0.0.0", AddressClass::Special),
            ("::", AddressClass::Special),
            ("224.0.0.1", AddressClass::Special),
            ("255.255.255.255", AddressClass::Special),
            ("ff02::1", AddressClass::Special),
            ("192.0.2.1", AddressClass::Special),
            ("2001:db8::1", AddressClass::Special),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("2002:a9fe:a9fe::1", AddressClass::LinkLocal),
            ("64:ff9b::a00:1", AddressClass::Private),
            ("2002:808:808::1", AddressClass::External),
        ];
        for (addr, class) in cases {
            assert_eq!(classify(embedded_v4(ip(addr))), class, "{addr}");
        }
    }

    #[test]
    fn the_default_allows_public_addresses_only() {
        let p = HostPolicy::default();
        assert!(p.allows("gitlab.com", ip("172.65.251.78")));
        for addr in ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::ffff:10.0.0.5", "0.0.0.0", "fe80::1"] {
            assert!(!p.allows("evil.example", ip(addr)), "{addr}");
        }
    }

    #[test]
    fn classes_networks_and_host_globs_widen_it() {
        let p = policy("external, loopback, 10.1.0.0/16, *.corp.example, 192.0.2.7");
        assert!(p.allows("a", ip("127.0.0.1")) && p.allows("a", ip("::1")));
        assert!(p.allows("a", ip("10.1.200.3")) && !p.allows("a", ip("10.2.0.1")));
        assert!(p.allows("gitlab.corp.example", ip("10.9.9.9")), "a host entry allows its addresses");
        assert!(p.allows("GITLAB.corp.example.", ip("169.254.1.1")), "case and a trailing dot do not matter");
        assert!(!p.allows("corp.example", ip("10.9.9.9")));
        assert!(p.allows("a", ip("192.0.2.7")) && !p.allows("a", ip("192.0.2.8")));
        assert!(!p.allows("a", ip("169.254.169.254")));
        assert!(policy("private").allows("a", ip("192.168.1.1")) && !policy("private").allows("a", ip("8.8.8.8")));
        assert!(policy("*").allows("a", ip("169.254.169.254")));
        assert!(policy("fd00::/8").allows("a", ip("fd12::1")));
    }

    #[test]
    fn bad_lists_are_refused_with_what_is_wrong() {
        for bad in [
            "",
            " , ",
            "10.0.0.0/33",
            "10.0.0/8",
            "http://x",
            "ex ternal",
            "2002::/16",
            "::ffff:10.0.0.0/104",
            "64:ff9b::/96",
        ] {
            assert!(bad.parse::<HostPolicy>().is_err(), "{bad:?}");
        }
        let message = "10.0.0.0/40".parse::<HostPolicy>().unwrap_err();
        assert!(message.contains("10.0.0.0/40"), "{message}");
    }

    #[test]
    fn the_refusal_names_the_address_its_class_and_the_flag() {
        let text = HostPolicy::default().refusal("issuer.example", ip("169.254.169.254"), "--oidc-allow-hosts");
        assert_eq!(
            text,
            "issuer.example is at 169.254.169.254, a link-local address, which --oidc-allow-hosts (external) does not allow"
        );
    }
}
