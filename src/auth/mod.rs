//! Who is asking: the token extractor of the API, the session and CSRF
//! machinery of the web UI, client addresses, and the in-memory stores they
//! use (token cache, rate limiter, last-used buffer, login throttle, the
//! password pool). What a caller may do is [`Principal`]'s, a pure rule of
//! `domain` re-exported here.

pub mod api;
pub mod client;
pub mod csrf;
pub mod failures;
pub mod last_used;
pub mod login;
pub mod oidc_keys;
pub mod passwords;
pub mod rate_limit;
pub mod session;
pub mod throttle;
pub mod token_cache;

pub use crate::domain::principal::{Principal, ProjectScope};
