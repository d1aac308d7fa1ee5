//! The application state: what every request needs (configuration,
//! database, instance key, the in-memory caches and limiters, the password
//! pool), opened from the data directory. It sits below everything that
//! uses it: it imports only `config`, `db`, `domain`, `error` and the
//! self-contained stores of `auth` (none of which imports it back).

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::auth::failures::AuthFailureLog;
use crate::auth::last_used::LastUsedBuffer;
use crate::auth::oidc_keys::KeyStore;
use crate::auth::passwords::PasswordPool;
use crate::auth::rate_limit::RateLimiter;
use crate::auth::throttle::LoginThrottle;
use crate::auth::token_cache::TokenCache;
use crate::config::Config;
use crate::db::Db;
use crate::domain::host_policy::HostPolicy;
use crate::domain::instance_key::{InstanceKey, KEY_LEN};
use crate::error::AppError;
use crate::metrics::Metrics;
use crate::outbound::{GuardedClient, Mailer};
use crate::spool::Budget;

/// Everything a request handler may need; shared by all workers.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub key: InstanceKey,
    pub throttle: LoginThrottle,
    pub tokens: TokenCache,
    pub rate_limiter: RateLimiter,
    pub last_used: LastUsedBuffer,
    pub auth_failures: AuthFailureLog,
    /// Where every password is hashed and verified (bounded memory).
    pub passwords: PasswordPool,
    /// What `GET /metrics` reports.
    pub metrics: Metrics,
    /// OpenID Connect issuers' signing keys (the OIDC exchange).
    pub oidc_keys: KeyStore,
    /// Exchanges per client IP and per issuer.
    pub exchange_limits: ExchangeLimits,
    /// Where webhooks are delivered through (`--webhook-allow-hosts`).
    pub webhook_client: GuardedClient,
    /// Mail through `--smtp-url`; none: no mail.
    pub mailer: Option<Mailer>,
    /// The memory of upload bodies being received (`--ingest-memory-mib`).
    pub uploads: Budget,
}

/// How long one webhook delivery may take.
pub const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An outbound client under the allow-list `list` given by `flag`.
fn guarded(
    list: &str,
    flag: &'static str,
    extra_ca_file: Option<&Path>,
    timeout: std::time::Duration,
    https_only: bool,
) -> Result<GuardedClient, AppError> {
    let policy: HostPolicy = list.parse().map_err(|e| AppError::validation(format!("invalid setting: {flag}: {e}")))?;
    GuardedClient::new(policy, flag, extra_ca_file, timeout, https_only).map_err(AppError::internal)
}

/// The OIDC exchange is open to anyone: requests are limited per client
/// address and per issuer (each issuer's keys are fetched at most once a
/// minute anyway; this bounds the signature checks).
#[derive(Default)]
pub struct ExchangeLimits {
    pub per_ip: RateLimiter<String>,
    pub per_issuer: RateLimiter<String>,
}

impl ExchangeLimits {
    pub const PER_IP_PER_MINUTE: u32 = 60;
    pub const PER_ISSUER_PER_MINUTE: u32 = 600;
}

impl AppState {
    /// Opens (creating on first use) the data directory, its secret and database.
    pub fn open(config: Config) -> Result<AppState, AppError> {
        ensure_data_dir(&config.data_dir)?;
        let db_path = config.db_path();
        if db_path.exists() && !config.secret_key_path().exists() {
            // A new key would silently invalidate every token: refuse instead.
            return Err(AppError::internal(format!(
                "{} exists but {} is missing; restore the instance secret from your backup (FILE.key)",
                db_path.display(),
                config.secret_key_path().display()
            )));
        }
        let key = load_or_create_key(&config.secret_key_path())?;
        if !db_path.exists() {
            // SQLite gives its -wal and -shm files the database file's mode.
            OpenOptions::new().write(true).create_new(true).mode(0o600).open(&db_path)?;
        }
        let db = Db::open(&config.db_path(), config.synchronous)?;
        let tokens = TokenCache::open(&config.db_path())?;
        let ca = config.extra_ca_file.as_deref();
        let oidc_client =
            guarded(&config.oidc_allow_hosts, "--oidc-allow-hosts", ca, crate::auth::oidc_keys::FETCH_TIMEOUT, true)?;
        let password = std::env::var("PROCTOR_SMTP_PASSWORD").ok();
        let mailer = match &config.smtp_url {
            Some(url) => Some(
                Mailer::new(url, password.as_deref(), config.mail_from.as_deref(), ca)
                    .map_err(|e| AppError::validation(format!("invalid setting: {e}")))?,
            ),
            None => None,
        };
        let config_mib = config.ingest_memory_mib;
        let webhook_client = guarded(&config.webhook_allow_hosts, "--webhook-allow-hosts", ca, WEBHOOK_TIMEOUT, false)?;
        Ok(AppState {
            config,
            db,
            key,
            throttle: LoginThrottle::default(),
            tokens,
            rate_limiter: RateLimiter::default(),
            last_used: LastUsedBuffer::default(),
            auth_failures: AuthFailureLog::default(),
            passwords: PasswordPool::for_this_machine(),
            metrics: Metrics::new(),
            oidc_keys: KeyStore::new(oidc_client),
            webhook_client,
            mailer,
            exchange_limits: ExchangeLimits::default(),
            uploads: Budget::new(config_mib),
        })
    }
}

fn ensure_data_dir(dir: &Path) -> Result<(), AppError> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        log::info!("created data directory {}", dir.display());
    }
    Ok(())
}

/// Reads `secret.key`, or creates it (32 random bytes, mode 0600) on first start.
pub fn load_or_create_key(path: &Path) -> Result<InstanceKey, AppError> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            let key = InstanceKey::generate();
            file.write_all(&key.to_bytes())?;
            file.sync_all()?;
            log::info!("created instance secret {}", path.display());
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut bytes = Vec::with_capacity(KEY_LEN);
            fs::File::open(path)?.read_to_end(&mut bytes)?;
            let mode = fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                log::warn!("{} is readable by other users (mode {:o}); chmod 600 it", path.display(), mode & 0o777);
            }
            InstanceKey::from_bytes(&bytes).map_err(|e| AppError::internal(format!("{}: {e}", path.display())))
        }
        Err(e) => Err(e.into()),
    }
}
