-- Version 6: remember what every attempt of a test in a run said (bit 1:
-- passed, bit 2: failed), so failed, skipped, then passed is still flaky.
-- Rows written before keep 0; their status stands for their attempts.
ALTER TABLE results ADD COLUMN attempt_bits INTEGER NOT NULL DEFAULT 0;
