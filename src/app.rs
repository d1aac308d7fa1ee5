//! Runs the HTTP server on a given listener (so tests can bind port 0)
//! with the application state (`crate::state`), and the background work of
//! `serve`: housekeeping and the last-used flusher. Nothing imports this
//! module but the CLI's `serve`.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{middleware, web, App, HttpServer};

use crate::config::Config;
use crate::state::AppState;

mod rollups;

/// One line per request. Its request line is the client's, redacted: a
/// token put in a query string (`?token=prc_…`) never reaches the log.
fn request_log() -> middleware::Logger {
    middleware::Logger::new(r#"%a "%{request_line}xi" %s %b %Dms"#)
        .custom_request_replace("request_line", |req| {
            use crate::domain::secrets::{contains_token, redact, redact_owned};
            let line = format!("{} {} {:?}", req.method(), req.uri(), req.version());
            // A token may also come percent-encoded (`prc%5Fpat%5F…`): then
            // the decoded line is logged, redacted.
            if line.contains('%') && !contains_token(&line) {
                let decoded = String::from_utf8_lossy(&crate::routes::input::percent_decode(&line)).into_owned();
                if contains_token(&decoded) {
                    return redact(&decoded).into_owned();
                }
            }
            redact_owned(line)
        })
        .exclude("/healthz")
}

/// `proctor serve`: binds the configured address and runs until SIGTERM/SIGINT.
pub fn serve_blocking(config: Config) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let listener = TcpListener::bind(&config.bind)?;
        run(config, listener).await
    })
}

/// Runs the server on `listener` until it is told to stop, then finishes
/// in-flight requests (graceful shutdown) and background work.
pub async fn run(config: Config, listener: TcpListener) -> std::io::Result<()> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        _ => None,
    };
    let state = web::Data::new(AppState::open(config).map_err(std::io::Error::other)?);
    rollups::backfill(&state).map_err(std::io::Error::other)?;
    clear_spools(&state.config);
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let shown = state.config.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));
    let handler_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(handler_state.clone())
            .app_data(crate::routes::ui::form_config())
            .app_data(crate::routes::ui::query_config())
            .wrap(middleware::from_fn(crate::routes::input::guard))
            .wrap(crate::routes::security_headers())
            .wrap(request_log())
            .wrap(middleware::from_fn(crate::routes::metrics::record))
            .configure(crate::routes::configure)
    })
    .shutdown_timeout(30)
    .worker_max_blocking_threads(blocking_threads(&state.config));
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    }
    .run();
    log::info!("Proctor listening on {scheme}://{addr} (data in {})", state.config.data_dir.display());
    log::info!("Open {shown} in your browser");
    let housekeeping = actix_web::rt::spawn(housekeeping(state.clone()));
    let flusher = actix_web::rt::spawn(flush_last_used_every(state.clone(), LAST_USED_FLUSH));
    let deliveries = actix_web::rt::spawn(crate::delivery::run(state.clone().into_inner()));
    let folder = actix_web::rt::spawn(rollups::fold_every(state.clone()));
    let sampler = state.config.metrics_token.is_some().then(|| actix_web::rt::spawn(sample_sizes(state.clone())));
    let result = server.await;
    housekeeping.abort();
    flusher.abort();
    deliveries.abort();
    folder.abort();
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    // In-flight requests are done: write what they recorded.
    flush_last_used(&state).await;
    log::info!("Proctor stopped");
    result
}

/// Removes upload bodies a previous process was receiving when it stopped
/// (a file it cannot remove is left, and said so: not worth not starting).
fn clear_spools(config: &Config) {
    for dir in [config.spool_dir(), config.attachment_spool_dir()] {
        match crate::spool::clear(&dir) {
            Ok(0) => {}
            Ok(removed) => log::info!("removed {removed} unfinished uploads from {}", dir.display()),
            Err(e) => log::warn!("could not clear unfinished uploads from {}: {e}", dir.display()),
        }
    }
}

/// Blocking threads per worker: actix's default (512 shared by the
/// workers), plus one for every upload the budget admits. A body being
/// received parks a thread (`spool::Spool`) while the client sends, and
/// they may all land on one worker: the database's reads and writes must
/// still find threads.
fn blocking_threads(config: &Config) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (512 / cores).max(1) + (config.ingest_memory_mib / crate::spool::RESERVATION_MIB) as usize
}

/// How often the metrics' sizes are sampled (a scrape never waits for the
/// database: under load its read would queue behind the requests').
const SIZES_EVERY: Duration = Duration::from_secs(15);

/// Samples the database's and WAL's sizes and the open sessions for the
/// metrics, now and every [`SIZES_EVERY`].
async fn sample_sizes(state: web::Data<AppState>) {
    let mut tick = actix_web::rt::time::interval(SIZES_EVERY);
    loop {
        tick.tick().await;
        let db_path = state.config.db_path();
        let file_size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = db_path.clone().into_os_string();
        wal.push("-wal");
        let now = crate::domain::time::unix_now();
        let idle = now - i64::from(state.config.session_idle_minutes) * 60;
        let oldest = now - i64::from(state.config.session_max_hours) * 3600;
        match state.db.read(move |c| crate::db::sessions::count_open(c, idle, oldest)).await {
            Ok(open_sessions) => state.metrics.set_sizes(crate::metrics::Sizes {
                database_bytes: file_size(&db_path),
                wal_bytes: file_size(std::path::Path::new(&wal)),
                open_sessions,
            }),
            Err(e) => log::warn!("sampling the metrics' sizes failed: {e}"),
        }
    }
}

/// "Last used" is promised within 5 seconds; flushing every 2 leaves margin.
const LAST_USED_FLUSH: Duration = Duration::from_secs(2);

async fn flush_last_used_every(state: web::Data<AppState>, every: Duration) {
    let mut tick = actix_web::rt::time::interval(every);
    loop {
        tick.tick().await;
        flush_last_used(&state).await;
    }
}

/// Writes the buffered token uses in one transaction; on failure they go
/// back into the buffer for the next attempt.
pub async fn flush_last_used(state: &AppState) {
    let updates = state.last_used.drain();
    if updates.is_empty() {
        done(state, "last_used");
        return;
    }
    let batch = updates.clone();
    let result = state
        .db
        .write(move |tx| -> Result<(), crate::db::DbError> {
            for u in &batch {
                let ips: Vec<String> = u.recent_ips.iter().map(|ip| ip.to_string()).collect();
                crate::db::tokens::record_use(
                    tx,
                    &u.token_id.to_string(),
                    u.at.unix_timestamp(),
                    u.ip.map(|ip| ip.to_string()).as_deref(),
                    u.user_agent.as_deref(),
                    u.count_delta,
                    &ips,
                )?;
            }
            Ok(())
        })
        .await;
    match result {
        Ok(()) => done(state, "last_used"),
        Err(e) => {
            log::warn!("could not record token use: {e}");
            state.last_used.requeue(updates);
        }
    }
}

/// Periodic chores: expired sessions, tokens unused past the policy's
/// limit, quarantine rules past their expiry, idle rate-limit buckets,
/// runs past the retention period and attachment directories of runs that
/// are gone.
async fn housekeeping(state: web::Data<AppState>) {
    // At start, then every minute (API.md section 11: expiry and release
    // take effect within a minute).
    let mut tick = actix_web::rt::time::interval(Duration::from_secs(60));
    let mut rollups_kept_from = i64::MIN;
    loop {
        tick.tick().await;
        if let Some(days) = state.config.retention_days {
            prune_runs(&state, days).await;
        }
        rollups::prune(&state, &mut rollups_kept_from).await;
        let hours = state.config.stale_run_hours;
        match state.db.write(move |tx| crate::ops::ingest::fail_stale(tx, hours, STALE_BATCH)).await {
            Ok(n) => {
                done(&state, "stale_runs");
                if n > 0 {
                    log::info!("marked {n} run(s) errored: still running with no report for {hours} hours");
                }
            }
            Err(e) => log::warn!("marking stale runs failed: {e}"),
        }
        let sweeper = state.clone();
        match web::block(move || crate::ops::attachments::sweep_orphans(&sweeper)).await {
            Ok(Ok(n)) => {
                done(&state, "attachment_sweep");
                if n > 0 {
                    log::info!("removed {n} attachment director(ies) of deleted runs");
                }
            }
            Ok(Err(e)) => log::warn!("attachment sweep failed: {e}"),
            Err(e) => log::warn!("attachment sweep failed: {e}"),
        }
        match state.db.write(crate::ops::quarantine::record_expired).await {
            Ok(n) => {
                done(&state, "quarantine_expiry");
                if n > 0 {
                    log::info!("recorded the expiry of {n} quarantine rule(s)");
                }
            }
            Err(e) => log::warn!("recording expired quarantine rules failed: {e}"),
        }
        state.rate_limiter.sweep(std::time::Instant::now());
        match state.db.write(crate::ops::token_policy::revoke_unused).await {
            Ok(n) => {
                done(&state, "unused_tokens");
                if n > 0 {
                    log::info!("revoked {n} token(s) unused for longer than the policy allows");
                }
            }
            Err(e) => log::warn!("revoking unused tokens failed: {e}"),
        }
        let now = crate::domain::time::unix_now();
        let (mail, base) = (state.mailer.is_some(), state.config.public_url.clone());
        match state.db.write(move |tx| crate::ops::expiry_warnings::warn_expiring(tx, now, mail, base.as_deref())).await
        {
            Ok(n) => {
                done(&state, "expiry_warnings");
                if n > 0 {
                    log::info!("queued {n} token expiry warning(s)");
                }
            }
            Err(e) => log::warn!("queueing token expiry warnings failed: {e}"),
        }
        match state.db.write(move |tx| crate::ops::webhooks::prune(tx, now)).await {
            Ok(_) => done(&state, "webhook_deliveries"),
            Err(e) => log::warn!("pruning old webhook deliveries failed: {e}"),
        }
        match state.db.write(move |tx| crate::ops::oidc::prune(tx, now)).await {
            Ok((_, tokens)) => {
                done(&state, "oidc_prune");
                if tokens > 0 {
                    log::info!("deleted {tokens} exchanged OIDC token(s) expired for over a day");
                }
            }
            Err(e) => log::warn!("pruning spent OIDC token ids and expired OIDC tokens failed: {e}"),
        }
        state.exchange_limits.per_ip.sweep(std::time::Instant::now());
        state.exchange_limits.per_issuer.sweep(std::time::Instant::now());
        let idle = i64::from(state.config.session_idle_minutes) * 60;
        let max = i64::from(state.config.session_max_hours) * 3600;
        match state.db.write(move |tx| crate::db::sessions::delete_expired(tx, now - idle, now - max)).await {
            Ok(_) => done(&state, "sessions"),
            Err(e) => log::warn!("session cleanup failed: {e}"),
        }
    }
}

/// Records that a background task finished without an error, for the metrics.
fn done(state: &AppState, task: &'static str) {
    state.metrics.task_succeeded(task, crate::domain::time::unix_now());
}

/// Stale runs closed per pass; more wait for the next pass, a minute on.
const STALE_BATCH: u32 = 500;

/// Runs deleted per transaction, so retention never holds the writer long.
const PRUNE_BATCH: u32 = 100;

/// Deletes runs created more than `days` ago in small batches (one
/// transaction each, yielding in between so requests get the writer), then
/// each batch's attachment directories.
async fn prune_runs(state: &AppState, days: u32) {
    let cutoff = crate::domain::time::days_before(crate::domain::time::unix_now(), days);
    let mut total = 0;
    loop {
        match state.db.write(move |tx| crate::ops::ingest::prune(tx, cutoff, PRUNE_BATCH)).await {
            Ok(ids) => {
                let finished = ids.len() < PRUNE_BATCH as usize;
                total += ids.len();
                crate::ops::attachments::remove_run_dirs_async(state, ids).await;
                if finished {
                    done(state, "retention");
                    break;
                }
            }
            Err(e) => {
                log::warn!("pruning runs older than {days} days failed: {e}");
                break;
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    if total > 0 {
        log::info!("retention: deleted {total} run(s) older than {days} days");
    }
}

fn tls_config(cert: &Path, key: &Path) -> std::io::Result<rustls::ServerConfig> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| std::io::Error::other(format!("{what}: {e}"));
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(fs::File::open(cert)?))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("reading --tls-cert", &e))?;
    if certs.is_empty() {
        return Err(std::io::Error::other(format!("no certificate found in {}", cert.display())));
    }
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(fs::File::open(key)?))
        .map_err(|e| invalid("reading --tls-key", &e))?
        .ok_or_else(|| std::io::Error::other(format!("no private key found in {}", key.display())))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("TLS certificate", &e))
}
