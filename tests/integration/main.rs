//! Integration tests: the real server, real HTTP, real SQLite.

mod api_helpers;
mod helpers;

mod admin;
mod api_keys;
mod api_people;
mod api_tokens;
mod api_unused;
mod architecture;
mod auth;
mod browser;
mod ci_feedback;
mod download;
mod failures;
mod flaky;
mod ingest;
mod ingest_bad_input;
mod ingest_durability;
mod mail;
mod metrics;
mod oidc;
mod openapi;
mod ops;
mod probe;
mod projects;
mod projects_api;
mod quarantine;
mod results_api;
mod rollups;
mod run;
mod test_ca;
mod trusted_publishers;
mod ui_runs;
mod ui_tokens;
mod upload;
mod webhooks;
