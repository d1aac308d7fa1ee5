-- Version 12: trusted CI uploads with OpenID Connect (API.md section 11).
--
-- - tokens gain the kind 'oidc': a short-lived token of one project (like a
--   key, project_id set, no owner), exchanged for a CI job's ID token; it
--   names the trusted publisher that let it in (NULL once that is deleted);
-- - trusted_publishers: per project, an issuer, an audience, the claims an
--   ID token must match, and what the exchanged token may do and how long;
-- - oidc_jtis: the ID tokens already exchanged, each kept until it expires,
--   so none is used twice.
--
-- `tokens` is rebuilt to change its CHECKs, with foreign keys off (see
-- db::migrate), checked with PRAGMA foreign_key_check before commit.

CREATE TABLE trusted_publishers (
    id              TEXT PRIMARY KEY,                 -- UUID v7
    project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    issuer          TEXT NOT NULL,                    -- https://…, no trailing slash
    audience        TEXT NOT NULL,
    claims          TEXT NOT NULL,                    -- JSON object: claim name → glob
    permissions     TEXT NOT NULL,                    -- space-separated
    token_minutes   INTEGER NOT NULL CHECK (token_minutes BETWEEN 5 AND 60),
    created_at      INTEGER NOT NULL,
    created_by_type TEXT NOT NULL,
    created_by_id   TEXT,
    created_by_name TEXT
);
CREATE INDEX trusted_publishers_by_project ON trusted_publishers(project_id);
CREATE INDEX trusted_publishers_by_issuer ON trusted_publishers(issuer);

CREATE TABLE oidc_jtis (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
) WITHOUT ROWID;
CREATE INDEX oidc_jtis_by_expiry ON oidc_jtis(expires_at);

CREATE TABLE tokens_v12 (
    id                   TEXT PRIMARY KEY,          -- UUID v7
    kind                 TEXT NOT NULL CHECK (kind IN ('pat', 'key', 'oidc')),
    name                 TEXT NOT NULL,
    hash                 BLOB NOT NULL UNIQUE,      -- HMAC-SHA-256(secret.key, token)
    preview              TEXT NOT NULL,             -- prc_pat_a1B2…x9Y8
    owner_id             TEXT REFERENCES accounts(id) ON DELETE CASCADE,   -- PATs
    project_id           INTEGER REFERENCES projects(id) ON DELETE CASCADE, -- keys, OIDC tokens
    publisher_id         TEXT REFERENCES trusted_publishers(id) ON DELETE SET NULL, -- OIDC tokens
    permissions          TEXT NOT NULL,             -- space-separated
    all_projects         INTEGER NOT NULL DEFAULT 1 CHECK (all_projects IN (0, 1)),
    disabled             INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at           INTEGER NOT NULL,
    created_by_type      TEXT NOT NULL,
    created_by_id        TEXT,
    created_by_name      TEXT,
    expires_at           INTEGER,                   -- NULL: never
    revoked_at           INTEGER,                   -- may lie in the future: a rotated token's grace end
    revoke_reason        TEXT,
    rate_limit_per_minute INTEGER,                  -- NULL: the server default
    last_used_at         INTEGER,
    last_used_ip         TEXT,
    last_used_user_agent TEXT,
    recent_ips           TEXT NOT NULL DEFAULT '[]', -- JSON array, most recent first, at most 5
    request_count        INTEGER NOT NULL DEFAULT 0,
    CHECK ((kind = 'pat') = (owner_id IS NOT NULL)),
    CHECK ((kind IN ('key', 'oidc')) = (project_id IS NOT NULL)),
    CHECK (kind = 'oidc' OR publisher_id IS NULL),
    CHECK (kind <> 'oidc' OR expires_at IS NOT NULL)
);
INSERT INTO tokens_v12 (id, kind, name, hash, preview, owner_id, project_id, permissions, all_projects, disabled,
    created_at, created_by_type, created_by_id, created_by_name, expires_at, revoked_at, revoke_reason,
    rate_limit_per_minute, last_used_at, last_used_ip, last_used_user_agent, recent_ips, request_count)
SELECT id, kind, name, hash, preview, owner_id, project_id, permissions, all_projects, disabled,
    created_at, created_by_type, created_by_id, created_by_name, expires_at, revoked_at, revoke_reason,
    rate_limit_per_minute, last_used_at, last_used_ip, last_used_user_agent, recent_ips, request_count
FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v12 RENAME TO tokens;
CREATE INDEX tokens_by_owner ON tokens(owner_id);
CREATE INDEX tokens_by_project ON tokens(project_id);
CREATE INDEX tokens_by_publisher ON tokens(publisher_id) WHERE publisher_id IS NOT NULL;
CREATE TRIGGER auth_epoch_token_update AFTER UPDATE OF name, permissions, all_projects, disabled, expires_at,
    revoked_at, rate_limit_per_minute ON tokens
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_token_delete AFTER DELETE ON tokens
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
