//! Pure rules, no I/O: permissions and roles, passwords, validated names,
//! token format and policy, report parsing and analysis.

pub mod analysis;
pub mod attachment;
pub mod audit;
pub mod chat_message;
pub mod expiry_mail;
pub mod fingerprint;
pub mod flaky;
pub mod glob;
pub mod host_policy;
pub mod instance_key;
pub mod invalid;
pub mod names;
pub mod new_user;
pub mod oidc;
pub mod password;
pub mod permission;
pub mod policy;
pub mod principal;
pub mod provenance;
pub mod publisher;
pub mod quarantine;
pub mod report;
pub mod rollup;
pub mod secrets;
pub mod session_id;
pub mod sketch;
pub mod test_identity;
pub mod time;
pub mod token;
pub mod usage;
pub mod varint;
pub mod webhook;
