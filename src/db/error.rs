//! Storage's own error: what was missing, what collided with what is stored,
//! or a failure of SQLite itself. It names facts, not responses: `error.rs`
//! turns each into a status, a code and a sentence, once for the API and
//! once for pages.

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found: {0:?}")]
    NotFound(Missing),
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// SQLite, the pool or the blocking pool failed; the cause is for the log.
    #[error("storage: {0}")]
    Internal(String),
}

/// The row a call needed and did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Project,
    Run,
    /// The run named as the base of a comparison.
    BaseRun,
    Attachment,
    /// An attachment's row exists but its file is gone from the data directory.
    AttachmentFile,
    /// A user or service account (`noun` says which) with this id.
    Account {
        noun: &'static str,
        id: String,
    },
    Role(String),
    Token,
    /// A project API key of the project named in the request.
    Key,
    /// A test of the project, by name.
    Test,
    /// A quarantine rule of the project.
    QuarantineRule,
    /// A trusted publisher of the project.
    Publisher,
    /// A webhook of the project (or of the instance).
    Webhook,
    /// A delivery of the webhook.
    Delivery,
}

/// A change that what is stored does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A project with this slug exists.
    ProjectSlug(String),
    /// A user with this email exists.
    Email,
    /// A role with this name exists (or is built in).
    RoleName(String),
    /// Built-in roles cannot be changed or deleted.
    BuiltinRole(String),
    /// A role still held by accounts cannot be deleted.
    RoleInUse { role: String, holders: i64 },
    /// The change would leave no active user able to manage users.
    LastAdmin,
}

impl DbError {
    pub fn internal(cause: impl std::fmt::Display) -> DbError {
        DbError::Internal(cause.to_string())
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(err: rusqlite::Error) -> Self {
        DbError::Internal(format!("database: {err}"))
    }
}

impl From<r2d2::Error> for DbError {
    fn from(err: r2d2::Error) -> Self {
        DbError::Internal(format!("connection pool: {err}"))
    }
}

impl From<std::io::Error> for DbError {
    fn from(err: std::io::Error) -> Self {
        DbError::Internal(format!("i/o: {err}"))
    }
}
