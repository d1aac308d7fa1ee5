-- Version 18: the delivery worker finds due deliveries through
-- webhook_deliveries_pending (version 17) and reads no other index of the
-- outbox by time; webhook_deliveries_due only cost a write per delivery.

DROP INDEX webhook_deliveries_due;
