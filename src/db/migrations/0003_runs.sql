-- Version 3: test runs, their reports, test identities, results, attachments.

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,                 -- UUID v7 (sorts by creation time)
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'passed', 'failed', 'errored')),
    commit_sha  TEXT,
    branch      TEXT,
    build_id    TEXT,
    build_url   TEXT,
    name        TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '{}',       -- JSON object of strings
    reason      TEXT,                             -- why it errored
    created_at  INTEGER NOT NULL,                 -- unix seconds
    finished_at INTEGER,                          -- unix seconds
    duration_ms INTEGER,                          -- sum of the results' durations
    tests       INTEGER NOT NULL DEFAULT 0,
    passed      INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    flaky       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_project ON runs(project_id, id);
-- Shards of one CI job find their run: one running run per build and name.
CREATE UNIQUE INDEX runs_running_build ON runs(project_id, build_id, name)
    WHERE status = 'running' AND build_id IS NOT NULL;
-- The baseline: newest finished run of a name on a branch.
CREATE INDEX runs_baseline ON runs(project_id, name, branch, finished_at);

-- Each uploaded report, by the SHA-256 of its (decompressed) bytes: the same
-- bytes twice in one run are one report.
CREATE TABLE reports (
    id         TEXT PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    sha256     BLOB NOT NULL,
    format     TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    tests      INTEGER NOT NULL,
    passed     INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    errors     INTEGER NOT NULL,
    skipped    INTEGER NOT NULL,
    flaky      INTEGER NOT NULL,
    UNIQUE (run_id, sha256)
);

-- A test's identity in a project; test_id = hex(SHA-256(project id, suite or
-- classname, name, file))[..32], stable across runs.
CREATE TABLE tests (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    test_id    TEXT NOT NULL,
    suite      TEXT NOT NULL,
    classname  TEXT NOT NULL,
    name       TEXT NOT NULL,
    file       TEXT,
    PRIMARY KEY (project_id, test_id)
) WITHOUT ROWID;

-- One row per distinct test in a run; a test reported again is merged
-- (failed then passed: flaky).
CREATE TABLE results (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    test_id     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped', 'flaky')),
    duration_ms INTEGER,
    retries     INTEGER NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 1,
    message     TEXT,
    details     TEXT,
    PRIMARY KEY (run_id, test_id)
) WITHOUT ROWID;
CREATE INDEX results_by_test ON results(test_id, run_id);

CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    sha256       BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX attachments_by_run ON attachments(run_id);
