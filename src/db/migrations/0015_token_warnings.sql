-- Version 15: expiry warnings sent (API.md section 12): each token is
-- warned at most once per horizon (7 days, 1 day before it expires).

CREATE TABLE token_warnings (
    token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    days     INTEGER NOT NULL CHECK (days IN (1, 7)),
    at       INTEGER NOT NULL,
    PRIMARY KEY (token_id, days)
) WITHOUT ROWID;
