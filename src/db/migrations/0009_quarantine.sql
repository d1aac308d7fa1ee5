-- Version 9: quarantine rules (API.md section 9) and the per-project flaky
-- threshold.
--
-- A rule names one test (`test`) or a pattern of globs (any of the four
-- fields; NULL matches anything), never both. It is active until released
-- (`released_at`) or past `expires_at`, whichever comes first; housekeeping
-- records expiry, but readers compare `expires_at` themselves.
-- Actors are stored as in audit_events: type, id, name, preview.

CREATE TABLE quarantine_rules (
    id                   TEXT PRIMARY KEY,          -- UUID v7
    project_id           INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    test                 INTEGER REFERENCES tests(id) ON DELETE CASCADE,
    suite_glob           TEXT,
    classname_glob       TEXT,
    name_glob            TEXT,
    file_glob            TEXT,
    reason               TEXT NOT NULL,
    issue_url            TEXT,
    created_type         TEXT NOT NULL,
    created_id           TEXT,
    created_name         TEXT,
    created_preview      TEXT,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    release_after_passes INTEGER,
    consecutive_passes   INTEGER NOT NULL DEFAULT 0,
    released_at          INTEGER,
    released_type        TEXT,
    released_id          TEXT,
    released_name        TEXT,
    released_preview     TEXT,
    release_reason       TEXT CHECK (release_reason IN ('manual', 'expired', 'passes')),
    CHECK ((test IS NULL) = (suite_glob IS NOT NULL OR classname_glob IS NOT NULL
                             OR name_glob IS NOT NULL OR file_glob IS NOT NULL))
);
-- Storing a report reads a project's unreleased rules.
CREATE INDEX quarantine_unreleased ON quarantine_rules(project_id, expires_at) WHERE released_at IS NULL;
CREATE INDEX quarantine_by_project ON quarantine_rules(project_id, id);

ALTER TABLE projects ADD COLUMN flaky_flip_threshold INTEGER NOT NULL DEFAULT 4
    CHECK (flaky_flip_threshold BETWEEN 2 AND 50);
