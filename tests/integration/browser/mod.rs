//! Real-browser tests: headless Chromium, driven over WebDriver (chromedriver
//! and fantoccini), clicks through the UI like a person would. Every page the
//! tests look at is also saved as a PNG under `target/screenshots/` for a
//! human to review.

mod accessibility;
mod first_run;
mod harness;
mod keyboard;
mod live;
mod publishers;
mod quarantine;
mod results;
mod tokens;
mod tour;
mod webhooks;
