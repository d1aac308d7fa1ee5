-- Runs still running, by age: the housekeeping task finds the ones a CI job
-- abandoned without reading every run (see ops::ingest::fail_stale).
CREATE INDEX runs_running ON runs(created_at) WHERE status = 'running';
