//! Integration tests: the real server, real HTTP, real SQLite.

mod helpers;

mod admin;
mod auth;
mod browser;
mod ops;
mod projects;
mod ui_tokens;
