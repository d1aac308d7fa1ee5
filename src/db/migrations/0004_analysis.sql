-- Version 4: indexes for analytics windows and retention.

-- Flaky and slowest tests read a project's runs created in the last N days.
CREATE INDEX runs_by_project_created ON runs(project_id, created_at);
-- Retention deletes runs created before a cutoff, across projects.
CREATE INDEX runs_by_created ON runs(created_at);
