//! Proctor: a self-hosted test-results server. The binary (`main.rs`) only
//! parses the command line; everything lives here so tests and benchmarks
//! can use it.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod ops;
pub mod outbound;
pub mod routes;
pub mod spool;
pub mod state;
pub mod views;
