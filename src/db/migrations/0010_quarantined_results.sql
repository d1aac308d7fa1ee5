-- Version 10: a failed or errored result that an active quarantine rule
-- covered when its report was stored is marked, and its run counts it
-- (API.md section 9: it still counts in `failed` / `errors` too).
ALTER TABLE results ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN quarantined INTEGER NOT NULL DEFAULT 0;
