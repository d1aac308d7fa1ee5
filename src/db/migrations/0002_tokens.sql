-- Version 2: access tokens (personal access tokens and project API keys).

CREATE TABLE tokens (
    id                   TEXT PRIMARY KEY,          -- UUID v7
    kind                 TEXT NOT NULL CHECK (kind IN ('pat', 'key')),
    name                 TEXT NOT NULL,
    hash                 BLOB NOT NULL UNIQUE,      -- HMAC-SHA-256(secret.key, token)
    preview              TEXT NOT NULL,             -- prc_pat_a1B2…x9Y8
    owner_id             TEXT REFERENCES accounts(id) ON DELETE CASCADE,   -- PATs
    project_id           INTEGER REFERENCES projects(id) ON DELETE CASCADE, -- keys
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
    CHECK ((kind = 'key') = (project_id IS NOT NULL))
);
CREATE INDEX tokens_by_owner ON tokens(owner_id);
CREATE INDEX tokens_by_project ON tokens(project_id);

-- A PAT restricted to some projects (all_projects = 0) lists them here.
CREATE TABLE token_projects (
    token_id   TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, project_id)
) WITHOUT ROWID;

-- Bumped by triggers on every change that can alter a token check, by the
-- server and by the offline CLI alike; the server's token cache compares it
-- after `PRAGMA data_version` says another connection committed.
CREATE TABLE auth_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, n) VALUES (1, 0);

CREATE TRIGGER auth_epoch_token_update AFTER UPDATE OF name, permissions, all_projects, disabled, expires_at,
    revoked_at, rate_limit_per_minute ON tokens
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_token_delete AFTER DELETE ON tokens
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_token_projects AFTER DELETE ON token_projects
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_account_update AFTER UPDATE OF role, active, name ON accounts
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_account_delete AFTER DELETE ON accounts
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_role_update AFTER UPDATE ON roles
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_role_delete AFTER DELETE ON roles
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_project_update AFTER UPDATE OF slug ON projects
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_epoch_project_delete AFTER DELETE ON projects
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
