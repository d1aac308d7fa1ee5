-- Version 16: mail in the outbox (API.md section 12): expiry warnings to
-- token owners, written in the transaction that decides them, sent by the
-- delivery worker through --smtp-url, retried like webhooks.

CREATE TABLE mail_deliveries (
    id              TEXT PRIMARY KEY,                 -- UUID v7
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    error           TEXT,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER
);
CREATE INDEX mail_deliveries_due ON mail_deliveries(next_attempt_at) WHERE status = 'pending';
