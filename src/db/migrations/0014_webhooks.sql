-- Version 14: webhooks and their durable deliveries (API.md section 12).
--
-- - webhooks: an endpoint of a project (project_id) or of the instance
--   (project_id NULL): where, which events, in which format; its signing
--   secret sealed with the instance secret (domain::instance_key::seal);
-- - webhook_deliveries: the outbox. One row per event and endpoint, written
--   in the transaction of the change that caused the event, so a crash
--   neither loses nor invents one; the delivery worker sends the oldest
--   pending row of each endpoint, records each attempt on the row, and
--   schedules the next. A redelivery is a new row with the same message_id.

CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,                 -- UUID v7
    project_id      INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,                    -- space-separated
    format          TEXT NOT NULL CHECK (format IN ('standard', 'slack', 'teams', 'discord')),
    only_changes    INTEGER NOT NULL DEFAULT 0 CHECK (only_changes IN (0, 1)),
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    disabled_reason TEXT,
    secret          BLOB NOT NULL,                    -- sealed
    created_at      INTEGER NOT NULL,
    created_by_type TEXT NOT NULL,
    created_by_id   TEXT,
    created_by_name TEXT
);
CREATE INDEX webhooks_by_project ON webhooks(project_id);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,                 -- UUID v7: also the order per endpoint
    webhook_id      TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    message_id      TEXT NOT NULL,                    -- msg_…: the webhook-id header
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,                    -- the event's data, JSON
    event_at        INTEGER NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'succeeded', 'failed', 'refused')),
    response_code   INTEGER,
    response_body   TEXT,                             -- at most 1 KiB
    error           TEXT,
    latency_ms      INTEGER,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER                           -- NULL once no attempt is due
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries(created_at);
