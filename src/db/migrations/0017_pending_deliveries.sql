-- Version 17: the delivery worker's question, "the oldest pending delivery
-- of each endpoint", answered from the pending rows alone. Without this
-- index it read every delivery ever kept (30 days of them), at every wake,
-- so that a busy instance's worker slowed down as its log grew
-- (bench/webhooks.sh: ingestion 74 % slower with 5 webhooks after 800
-- uploads, the server's CPU per upload growing round after round).

CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(webhook_id, id) WHERE status = 'pending';
