//! Requests the server makes on its own initiative (issuers' keys now,
//! webhooks later): HTTPS only, no redirects, no proxy, a timeout, the
//! system's roots plus `--extra-ca-file`, and every destination checked
//! against a [`HostPolicy`]. Names are resolved once, by this module's
//! resolver, which hands the connector only the addresses the policy
//! allows: the connection goes to the address that was checked, so a name
//! that resolves differently a second time (DNS rebinding) gains nothing.
//! A URL naming an IP address is checked before the request is sent.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::host_policy::HostPolicy;

/// A destination the policy refuses; found again in reqwest's error chain.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Refused {}

/// A refusal as the caller sees it: the host (which they named) and the
/// flag, never the address it resolved to or the allow-list, so that
/// refusals cannot map the server's network. The log has the detail.
fn refuse(policy: &HostPolicy, host: &str, ip: IpAddr, flag: &str) -> Refused {
    log::warn!("outbound request refused: {}", policy.refusal(host, ip, flag));
    Refused(format!("{host} is at an address this server may not reach (see {flag})"))
}

/// Resolves names with the system's resolver and keeps the allowed addresses.
struct GuardedResolver {
    policy: Arc<HostPolicy>,
    flag: &'static str,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, flag) = (self.policy.clone(), self.flag);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found.iter().copied().filter(|a| policy.allows(&host, a.ip())).collect();
            match (allowed.is_empty(), found.first()) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
                (true, Some(first)) => Err(Box::new(refuse(&policy, &host, first.ip(), flag)) as _),
                (true, None) => Err(Box::new(Refused(format!("{host} has no address"))) as _),
            }
        })
    }
}

/// An HTTPS client whose every destination `policy` allows.
#[derive(Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    policy: Arc<HostPolicy>,
    /// The flag that sets the policy, named in refusals.
    flag: &'static str,
}

impl GuardedClient {
    /// A client trusting the built-in roots plus the PEM certificates of
    /// `extra_ca_file`, sending to what `policy` (set by `flag`) allows.
    pub fn new(
        policy: HostPolicy,
        flag: &'static str,
        extra_ca_file: Option<&Path>,
        timeout: Duration,
        https_only: bool,
    ) -> Result<GuardedClient, String> {
        let policy = Arc::new(policy);
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(https_only)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone(), flag }))
            .user_agent(concat!("proctor/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = extra_ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{}: no certificate found", path.display()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| format!("cannot build the HTTPS client: {e}"))?;
        Ok(GuardedClient { client, policy, flag })
    }

    /// The policy requests are checked against.
    pub fn policy(&self) -> &HostPolicy {
        &self.policy
    }

    /// GETs `url` with `accept`, or says in a sentence why not (never
    /// echoing a query): refused by the policy, timed out, could not connect…
    pub async fn get(&self, url: &str, accept: &str) -> Result<reqwest::Response, String> {
        let parsed = self.checked(url)?;
        self.client.get(parsed).header("accept", accept).send().await.map_err(describe)
    }

    /// POSTs `body` as JSON to `url` with `headers`; errors as [`Self::get`]'s.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response, Outcome> {
        let parsed = self.checked(url).map_err(Outcome::Refused)?;
        let mut request = self.client.post(parsed).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.map_err(|e| match refusal_in(&e) {
            Some(why) => Outcome::Refused(why),
            None => Outcome::Failed(describe(e)),
        })
    }

    /// `url` parsed, and refused when it names an address the policy does not allow.
    fn checked(&self, url: &str) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|_| "not a URL".to_string())?;
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal {
            if !self.policy.allows(&ip.to_string(), ip) {
                return Err(refuse(&self.policy, &ip.to_string(), ip, self.flag).0);
            }
        }
        Ok(parsed)
    }
}

/// Why a request was not answered: the policy refused its destination
/// (nothing was sent), or it failed (timed out, could not connect…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Refused(String),
    Failed(String),
}

/// The policy's refusal, if that is what stopped `e`.
fn refusal_in(e: &reqwest::Error) -> Option<String> {
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.0.clone());
        }
        source = cause.source();
    }
    None
}

/// A reqwest error in a sentence: the policy's refusal where that is the
/// cause, else what kind of failure, without the URL.
pub fn describe(e: reqwest::Error) -> String {
    if let Some(refused) = refusal_in(&e) {
        return refused;
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        e.without_url().to_string()
    }
}

/// Mail through `--smtp-url` (`lettre`): `smtp://` plain, or with
/// `?tls=required` (STARTTLS, refused without it) or `?tls=opportunistic`
/// (STARTTLS when offered), `smtps://` (TLS from the start); credentials
/// from the URL, the password possibly from `PROCTOR_SMTP_PASSWORD`. TLS
/// trusts Mozilla's roots and the certificates of `--extra-ca-file`.
pub struct Mailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

/// How the URL asks for TLS, as lettre reads it: `smtps://`, or `smtp://`
/// with `?tls=required` or `?tls=opportunistic`.
fn smtp_tls(url: &url::Url) -> Option<fn(TlsParameters) -> Tls> {
    let asked = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    match (url.scheme(), asked.as_deref()) {
        ("smtps", _) => Some(Tls::Wrapper),
        (_, Some("required")) => Some(Tls::Required),
        (_, Some("opportunistic")) => Some(Tls::Opportunistic),
        _ => None,
    }
}

impl Mailer {
    /// `url` with `password` (if given) in place of the URL's; `from` the
    /// sender, by default `proctor@` the SMTP server's host; TLS also
    /// trusting `extra_ca_file`'s certificates.
    pub fn new(
        url: &str,
        password: Option<&str>,
        from: Option<&str>,
        extra_ca_file: Option<&Path>,
    ) -> Result<Mailer, String> {
        let mut parsed = url::Url::parse(url).map_err(|_| "--smtp-url is not a URL".to_string())?;
        if !matches!(parsed.scheme(), "smtp" | "smtps") {
            return Err("--smtp-url must start with smtp:// or smtps://".into());
        }
        if let Some(password) = password {
            parsed.set_password(Some(password)).map_err(|_| "--smtp-url cannot take a password".to_string())?;
        }
        let host = parsed.host_str().unwrap_or("localhost").to_string();
        let mut builder = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(parsed.as_str())
            .map_err(|e| format!("--smtp-url: {e}"))?
            .timeout(Some(Duration::from_secs(10)));
        if let Some(tls) = smtp_tls(&parsed) {
            let mut parameters = TlsParameters::builder(host.clone());
            if let Some(path) = extra_ca_file {
                let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let certs = Certificate::from_pem(&pem)
                    .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
                parameters = parameters.add_root_certificate(certs);
            }
            builder = builder.tls(tls(parameters.build_rustls().map_err(|e| format!("--smtp-url: {e}"))?));
        }
        let from = from.map_or_else(|| format!("Proctor <proctor@{host}>"), str::to_string);
        let from = from.parse().map_err(|e| format!("--mail-from {from:?}: {e}"))?;
        Ok(Mailer { transport: builder.build(), from })
    }

    /// Sends one plain-text mail; an error says why in a sentence (never a credential).
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        use lettre::AsyncTransport;
        let to: lettre::message::Mailbox = to.parse().map_err(|e| format!("{to:?} is not an address: {e}"))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| format!("the mail could not be built: {e}"))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| format!("the SMTP server refused or failed: {e}"))
    }
}
