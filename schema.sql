-- Proctor schema, version 1. Later changes are numbered steps in
-- src/db/migrate.rs, tracked in PRAGMA user_version. Times are unix seconds (UTC).

-- People (kind 'user': email + password) and service accounts (no email, no
-- password: they only own tokens). One table so that tokens, sessions and
-- audit rows point at one kind of owner.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,               -- UUID v7
    kind          TEXT NOT NULL CHECK (kind IN ('user', 'service_account')),
    email         TEXT UNIQUE,                    -- lower-cased; users only
    name          TEXT NOT NULL,
    password_hash TEXT,                           -- argon2id PHC string; users only
    role          TEXT NOT NULL,                  -- a built-in role or roles.name
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    INTEGER NOT NULL,
    CHECK ((kind = 'user') = (email IS NOT NULL AND password_hash IS NOT NULL))
);

-- Custom roles. The built-in admin, member and viewer live in code.
CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    permissions TEXT NOT NULL,                    -- space-separated permission names
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE projects (
    id             INTEGER PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    default_branch TEXT NOT NULL DEFAULT 'main',
    created_at     INTEGER NOT NULL
);

-- Web sessions. Only the SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    id_hash      BLOB PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_by_account ON sessions(account_id);

-- Append-only audit trail: written in the same transaction as the change.
CREATE TABLE audit_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    actor_type    TEXT NOT NULL CHECK (actor_type IN ('user', 'service_account', 'token', 'system')),
    actor_id      TEXT,
    actor_name    TEXT,
    actor_preview TEXT,                           -- a token's preview, never its secret
    action        TEXT NOT NULL,
    target_type   TEXT,
    target_id     TEXT,
    target_name   TEXT,
    ip            TEXT,
    user_agent    TEXT,
    details       TEXT NOT NULL DEFAULT '{}'      -- JSON object
);
CREATE INDEX audit_by_action ON audit_events(action, id);
CREATE INDEX audit_by_actor ON audit_events(actor_id, id);
CREATE INDEX audit_by_target ON audit_events(target_id, id);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Instance-wide settings as JSON values (e.g. the token policy).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
