//! Prometheus metrics (API.md section 10, `GET /metrics`): what the server
//! counts as it works, and what it reads when scraped. Labels are bounded:
//! a request is labelled by its route template (`/api/v1/projects/{project}/runs`),
//! never its path, and every other label comes from a fixed list.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of the answer to a scrape.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: &'static str,
}

/// How a token check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOutcome {
    Ok,
    Invalid,
    Revoked,
    Expired,
    RateLimited,
}

impl TokenOutcome {
    fn as_str(self) -> &'static str {
        match self {
            TokenOutcome::Ok => "ok",
            TokenOutcome::Invalid => "invalid",
            TokenOutcome::Revoked => "revoked",
            TokenOutcome::Expired => "expired",
            TokenOutcome::RateLimited => "rate_limited",
        }
    }
}

/// Why a report was refused: the API error codes that refuse a report
/// itself (other errors of an upload, such as a bad token, are not counted).
pub const REJECT_REASONS: &[&str] =
    &["invalid_report", "payload_too_large", "unsupported_media_type", "run_closed", "server_busy"];

/// What the database files measure and what is open, sampled in the
/// background (a scrape never waits for the database).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sizes {
    pub database_bytes: u64,
    pub wal_bytes: u64,
    pub open_sessions: i64,
}

/// Every metric of the process; cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    reports: Counter,
    testcases: Counter,
    report_bytes: Counter,
    rejected: Family<ReasonLabels, Counter>,
    token_checks: Family<OutcomeLabels, Counter>,
    task_success: Family<TaskLabels, Gauge>,
    database_bytes: Gauge<u64, AtomicU64>,
    wal_bytes: Gauge<u64, AtomicU64>,
    open_sessions: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("proctor");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route template, method and status", requests.clone());
        // 1 ms to ~33 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register_with_unit(
            "http_request_duration",
            "Time from request to response, by route template and method",
            Unit::Seconds,
            latency.clone(),
        );
        let (reports, testcases, report_bytes) = (Counter::default(), Counter::default(), Counter::default());
        registry.register("reports_ingested", "Reports stored (duplicates not counted)", reports.clone());
        registry.register("testcases_ingested", "Test cases in the reports stored", testcases.clone());
        registry.register_with_unit(
            "report_ingested",
            "Bytes of the reports stored, as uploaded",
            Unit::Bytes,
            report_bytes.clone(),
        );
        let rejected = Family::<ReasonLabels, Counter>::default();
        registry.register("reports_rejected", "Reports refused, by the error code answered", rejected.clone());
        let token_checks = Family::<OutcomeLabels, Counter>::default();
        registry.register("token_checks", "API token checks by outcome", token_checks.clone());
        let task_success = Family::<TaskLabels, Gauge>::default();
        registry.register(
            "background_task_last_success_timestamp_seconds",
            "When each background task last finished without an error (unix seconds)",
            task_success.clone(),
        );
        let database_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register_with_unit(
            "database_size",
            "Size of the SQLite database file",
            Unit::Bytes,
            database_bytes.clone(),
        );
        let wal_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register_with_unit("wal_size", "Size of the SQLite write-ahead log", Unit::Bytes, wal_bytes.clone());
        let open_sessions = Gauge::default();
        registry.register("sessions_open", "Web sessions that have not expired or ended", open_sessions.clone());
        Metrics {
            registry,
            requests,
            latency,
            reports,
            testcases,
            report_bytes,
            rejected,
            token_checks,
            task_success,
            database_bytes,
            wal_bytes,
            open_sessions,
        }
    }

    /// One answered request; `route` is its template (or `unmatched`).
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let (route, method) = (route.to_string(), method.to_string());
        self.latency
            .get_or_create(&RouteLabels { route: route.clone(), method: method.clone() })
            .observe(took.as_secs_f64());
        self.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    }

    /// A report stored (not a duplicate).
    pub fn report_stored(&self, testcases: u64, bytes: u64) {
        self.reports.inc();
        self.testcases.inc_by(testcases);
        self.report_bytes.inc_by(bytes);
    }

    /// An upload answered with the API error `code`: counted when the code
    /// refuses the report itself ([`REJECT_REASONS`]).
    pub fn report_rejected(&self, code: &str) {
        if let Some(reason) = REJECT_REASONS.iter().find(|r| **r == code).copied() {
            self.rejected.get_or_create(&ReasonLabels { reason }).inc();
        }
    }

    pub fn token_check(&self, outcome: TokenOutcome) {
        self.token_checks.get_or_create(&OutcomeLabels { outcome: outcome.as_str() }).inc();
    }

    /// A background task finished without an error at `unix` seconds.
    pub fn task_succeeded(&self, task: &'static str, unix: i64) {
        self.task_success.get_or_create(&TaskLabels { task }).set(unix);
    }

    /// Records the latest sample of the sizes.
    pub fn set_sizes(&self, sizes: Sizes) {
        self.database_bytes.set(sizes.database_bytes);
        self.wal_bytes.set(sizes.wal_bytes);
        self.open_sessions.set(sizes.open_sessions);
    }

    /// The text of a scrape.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_names_routes_by_template_and_bounds_every_label() {
        let m = Metrics::new();
        m.request("/api/v1/projects/{project}/runs", "GET", 200, Duration::from_millis(3));
        m.request("/api/v1/projects/{project}/runs", "GET", 200, Duration::from_millis(5));
        m.report_stored(10, 2048);
        m.report_rejected("invalid_report");
        m.report_rejected("invalid_token");
        m.token_check(TokenOutcome::Revoked);
        m.task_succeeded("housekeeping", 1_700_000_000);
        m.set_sizes(Sizes { database_bytes: 4096, wal_bytes: 0, open_sessions: 2 });
        let text = m.render();
        for line in [
            r#"proctor_http_requests_total{route="/api/v1/projects/{project}/runs",method="GET",status="200"} 2"#,
            r#"proctor_http_request_duration_seconds_count{route="/api/v1/projects/{project}/runs",method="GET"} 2"#,
            "proctor_reports_ingested_total 1",
            "proctor_testcases_ingested_total 10",
            "proctor_report_ingested_bytes_total 2048",
            r#"proctor_reports_rejected_total{reason="invalid_report"} 1"#,
            r#"proctor_token_checks_total{outcome="revoked"} 1"#,
            r#"proctor_background_task_last_success_timestamp_seconds{task="housekeeping"} 1700000000"#,
            "proctor_database_size_bytes 4096",
            "proctor_sessions_open 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains("invalid_token"), "not a report's refusal");
    }
}
