//! Settings: command-line flags, then `PROCTOR_*` environment variables
//! (both handled by clap in `cli`, which hands them here as [`Overrides`]),
//! then an optional `proctor.toml`, then defaults. The resolved [`Config`]
//! is passed down explicitly; nothing reads it globally.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./proctor-data";
pub const DEFAULT_MAX_REPORT_BYTES: u64 = 100 * 1024 * 1024;
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 1200;
pub const DEFAULT_STALE_RUN_HOURS: u32 = 24;
/// Days of analytics rollups kept: trends outlive the raw results they came from.
pub const DEFAULT_ROLLUP_RETENTION_DAYS: u32 = 400;
pub const DEFAULT_BODY_TIMEOUT_SECONDS: u64 = 30;
/// Memory for upload bodies being received at once: 64 one-MiB shares, a
/// sixteenth of a 1 GiB VM.
pub const DEFAULT_INGEST_MEMORY_MIB: u32 = 64;

/// `synchronous` pragma: NORMAL is safe in WAL mode (a power loss can lose
/// the last commits, never corrupt); FULL also survives power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Normal,
    Full,
}

impl Synchronous {
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// What the server and the offline commands need to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub data_dir: PathBuf,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_report_bytes: u64,
    pub rate_limit_per_minute: u32,
    pub synchronous: Synchronous,
    pub trusted_proxies: Vec<IpAddr>,
    pub retention_days: Option<u32>,
    /// Rollups of days older than this are deleted (`db::rollups::prune`).
    pub rollup_retention_days: u32,
    /// A run still `running` with no report for this long is marked `errored`.
    pub stale_run_hours: u32,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    /// A request body that sends nothing for this long is answered 408.
    pub body_timeout_seconds: u64,
    /// Memory for upload bodies being received, 1 MiB each (`spool::Budget`).
    pub ingest_memory_mib: u32,
    /// The bearer token of `GET /metrics`; none: metrics are off (404).
    pub metrics_token: Option<MetricsToken>,
    /// PEM certificates outbound HTTPS trusts beside the built-in roots.
    pub extra_ca_file: Option<PathBuf>,
    /// Where issuers' keys may be fetched from (`--oidc-allow-hosts`), as
    /// given; `domain::host_policy` reads it when the server state opens.
    pub oidc_allow_hosts: String,
    /// Where webhooks may be delivered (`--webhook-allow-hosts`), as given.
    pub webhook_allow_hosts: String,
    /// The SMTP server's URL (`--smtp-url`), its password possibly from
    /// `PROCTOR_SMTP_PASSWORD`; none: no mail.
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
}

/// The secret a Prometheus scraper presents; never printed.
#[derive(Clone)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// Shortest token accepted: a guessable one would publish the metrics.
    pub const MIN_LEN: usize = 16;

    pub fn new(token: &str) -> MetricsToken {
        MetricsToken(token.trim().to_string())
    }

    /// Whether `presented` is the token, in time that does not depend on
    /// where they differ (both are hashed, the digests compared in constant time).
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let (a, b) = (Sha256::digest(self.0.as_bytes()), Sha256::digest(presented.as_bytes()));
        a.ct_eq(&b).into()
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(…)")
    }
}

impl Config {
    /// Defaults for everything, with the given data directory (tests, tools).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            bind: DEFAULT_BIND.into(),
            data_dir: data_dir.into(),
            public_url: None,
            tls_cert: None,
            tls_key: None,
            max_report_bytes: DEFAULT_MAX_REPORT_BYTES,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            synchronous: Synchronous::Normal,
            trusted_proxies: Vec::new(),
            retention_days: None,
            rollup_retention_days: DEFAULT_ROLLUP_RETENTION_DAYS,
            stale_run_hours: DEFAULT_STALE_RUN_HOURS,
            session_idle_minutes: 12 * 60,
            session_max_hours: 7 * 24,
            body_timeout_seconds: DEFAULT_BODY_TIMEOUT_SECONDS,
            ingest_memory_mib: DEFAULT_INGEST_MEMORY_MIB,
            metrics_token: None,
            extra_ca_file: None,
            oidc_allow_hosts: "external".into(),
            webhook_allow_hosts: "external".into(),
            smtp_url: None,
            mail_from: None,
        }
    }

    /// Resolves the settings of any subcommand: `given` (flags and
    /// environment), then the file, then defaults.
    pub fn resolve(given: &Overrides) -> Result<Config, ConfigError> {
        let file = FileConfig::load(given.config.as_deref())?;
        let data_dir =
            given.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let mut config = Config::with_data_dir(data_dir);
        config.synchronous = given.synchronous.or(file.synchronous).unwrap_or(Synchronous::Normal);
        config.bind = given.bind.clone().or(file.bind).unwrap_or_else(|| DEFAULT_BIND.into());
        config.public_url = given.public_url.clone().or(file.public_url).map(|u| u.trim_end_matches('/').to_string());
        config.tls_cert = given.tls_cert.clone().or(file.tls_cert);
        config.tls_key = given.tls_key.clone().or(file.tls_key);
        config.max_report_bytes = given.max_report_bytes.or(file.max_report_bytes).unwrap_or(DEFAULT_MAX_REPORT_BYTES);
        config.rate_limit_per_minute =
            given.rate_limit_per_minute.or(file.rate_limit_per_minute).unwrap_or(DEFAULT_RATE_LIMIT_PER_MINUTE);
        config.trusted_proxies = if given.trusted_proxies.is_empty() {
            file.trusted_proxies.unwrap_or_default()
        } else {
            given.trusted_proxies.clone()
        };
        config.retention_days = given.retention_days.or(file.retention_days);
        config.rollup_retention_days =
            given.rollup_retention_days.or(file.rollup_retention_days).unwrap_or(DEFAULT_ROLLUP_RETENTION_DAYS);
        config.stale_run_hours = given.stale_run_hours.or(file.stale_run_hours).unwrap_or(DEFAULT_STALE_RUN_HOURS);
        if let Some(m) = given.session_idle_minutes.or(file.session_idle_minutes) {
            config.session_idle_minutes = m;
        }
        if let Some(h) = given.session_max_hours.or(file.session_max_hours) {
            config.session_max_hours = h;
        }
        config.body_timeout_seconds =
            given.body_timeout_seconds.or(file.body_timeout_seconds).unwrap_or(DEFAULT_BODY_TIMEOUT_SECONDS);
        config.ingest_memory_mib =
            given.ingest_memory_mib.or(file.ingest_memory_mib).unwrap_or(DEFAULT_INGEST_MEMORY_MIB);
        config.metrics_token = given.metrics_token.clone().or(file.metrics_token).as_deref().map(MetricsToken::new);
        config.extra_ca_file = given.extra_ca_file.clone().or(file.extra_ca_file);
        if let Some(list) = given.oidc_allow_hosts.clone().or(file.oidc_allow_hosts) {
            config.oidc_allow_hosts = list;
        }
        if let Some(list) = given.webhook_allow_hosts.clone().or(file.webhook_allow_hosts) {
            config.webhook_allow_hosts = list;
        }
        config.smtp_url = given.smtp_url.clone().or(file.smtp_url);
        config.mail_from = given.mail_from.clone().or(file.mail_from);
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid("--tls-cert and --tls-key go together".into()));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!("public URL {url:?} must start with http:// or https://")));
            }
        }
        if self.rate_limit_per_minute == 0 {
            return Err(ConfigError::Invalid("rate limit must be at least 1 request per minute".into()));
        }
        if self.max_report_bytes < 1024 {
            return Err(ConfigError::Invalid("max report bytes must be at least 1024".into()));
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.0.len() < MetricsToken::MIN_LEN) {
            return Err(ConfigError::Invalid(format!(
                "the metrics token must be at least {} characters",
                MetricsToken::MIN_LEN
            )));
        }
        if self.stale_run_hours == 0 {
            return Err(ConfigError::Invalid("stale run hours must be at least 1".into()));
        }
        if !(1..=36_500).contains(&self.rollup_retention_days) {
            return Err(ConfigError::Invalid("rollup retention must be between 1 and 36500 days".into()));
        }
        if !(1..=3600).contains(&self.body_timeout_seconds) {
            return Err(ConfigError::Invalid("body timeout must be between 1 and 3600 seconds".into()));
        }
        if !(1..=65_536).contains(&self.ingest_memory_mib) {
            return Err(ConfigError::Invalid("ingest memory must be between 1 and 65536 MiB".into()));
        }
        if self.session_idle_minutes == 0 || self.session_max_hours == 0 {
            return Err(ConfigError::Invalid("session timeouts must be positive".into()));
        }
        Ok(())
    }

    /// Whether users reach the server over HTTPS (secure cookies, `__Host-`).
    pub fn is_https(&self) -> bool {
        match &self.public_url {
            Some(url) => url.starts_with("https://"),
            None => self.tls_cert.is_some(),
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("proctor.db")
    }

    pub fn secret_key_path(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    pub fn attachments_dir(&self) -> PathBuf {
        self.data_dir.join("attachments")
    }

    /// Where report bodies are received before they are parsed.
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    /// Where attachments are received: inside `attachments/`, so that one
    /// is renamed into its run's directory on the same file system.
    pub fn attachment_spool_dir(&self) -> PathBuf {
        self.attachments_dir().join(".incoming")
    }
}

/// Settings given on the command line or in the environment; `None` (or an
/// empty list) leaves a setting to `proctor.toml` or the default.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// An explicit settings file (else `./proctor.toml` when present).
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub synchronous: Option<Synchronous>,
    pub bind: Option<String>,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_report_bytes: Option<u64>,
    pub rate_limit_per_minute: Option<u32>,
    pub trusted_proxies: Vec<IpAddr>,
    pub retention_days: Option<u32>,
    pub rollup_retention_days: Option<u32>,
    pub stale_run_hours: Option<u32>,
    pub session_idle_minutes: Option<u32>,
    pub session_max_hours: Option<u32>,
    pub body_timeout_seconds: Option<u64>,
    pub ingest_memory_mib: Option<u32>,
    pub metrics_token: Option<String>,
    pub extra_ca_file: Option<PathBuf>,
    pub oidc_allow_hosts: Option<String>,
    pub webhook_allow_hosts: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// `proctor.toml`: the same settings as the flags, in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    data_dir: Option<PathBuf>,
    public_url: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_report_bytes: Option<u64>,
    rate_limit_per_minute: Option<u32>,
    synchronous: Option<Synchronous>,
    trusted_proxies: Option<Vec<IpAddr>>,
    retention_days: Option<u32>,
    rollup_retention_days: Option<u32>,
    stale_run_hours: Option<u32>,
    session_idle_minutes: Option<u32>,
    session_max_hours: Option<u32>,
    body_timeout_seconds: Option<u64>,
    ingest_memory_mib: Option<u32>,
    metrics_token: Option<String>,
    extra_ca_file: Option<PathBuf>,
    oidc_allow_hosts: Option<String>,
    webhook_allow_hosts: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
}

impl FileConfig {
    /// An explicit `--config` must exist; the implicit `./proctor.toml` is optional.
    fn load(explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let implicit = PathBuf::from("proctor.toml");
                if !implicit.exists() {
                    return Ok(FileConfig::default());
                }
                implicit
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path, message: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_settings_apply_below_flags() {
        let dir = std::env::temp_dir().join(format!("proctor-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("proctor.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\nrate_limit_per_minute = 60\nstale_run_hours = 6\n").unwrap();
        let common = Overrides { config: Some(file.clone()), ..Default::default() };
        let serve = Overrides { rate_limit_per_minute: Some(10), ..common.clone() };
        let config = Config::resolve(&serve).unwrap();
        assert_eq!(config.bind, "0.0.0.0:9000");
        assert_eq!(config.rate_limit_per_minute, 10);
        assert_eq!(config.stale_run_hours, 6);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(Config::resolve(&common).unwrap().stale_run_hours, 6);
        let never = Overrides { stale_run_hours: Some(0), ..common.clone() };
        assert!(matches!(Config::resolve(&never), Err(ConfigError::Invalid(_))));
        std::fs::write(&file, "bnd = 1\n").unwrap();
        assert!(matches!(Config::resolve(&common), Err(ConfigError::Parse { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn https_public_url_means_secure_cookies() {
        let mut config = Config::with_data_dir("x");
        assert!(!config.is_https());
        config.public_url = Some("https://ci.example.com".into());
        assert!(config.is_https());
    }
}
