-- Version 7: integer keys for results, so that storing a 200,000-test report
-- appends to B-trees instead of inserting at random places in them.
--
-- - runs get `seq INTEGER PRIMARY KEY` (the public id stays the UUID);
-- - tests get `id INTEGER PRIMARY KEY`, assigned in the order tests are first
--   seen, so the results of a report listing its tests in the usual order
--   are written in key order; `test_id` (the public, derived id) is stored as
--   its 16 bytes instead of 32 hex characters and stays unique per project;
-- - results are keyed by (run seq, test id); the by-test index is gone: a
--   test's history walks the project's runs newest first and probes each.
--
-- results.test has no foreign key: tests are only deleted with their project,
-- which deletes the project's runs and so their results in the same
-- statement, and a key check per stored result would cost a random read of
-- the tests table.
--
-- Tables are rebuilt with foreign keys off (see db::migrate), checked
-- with PRAGMA foreign_key_check before commit.

CREATE TABLE runs_v7 (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,             -- UUID v7 (sorts by creation time)
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'passed', 'failed', 'errored')),
    commit_sha  TEXT,
    branch      TEXT,
    build_id    TEXT,
    build_url   TEXT,
    name        TEXT NOT NULL DEFAULT '',
    tags        TEXT NOT NULL DEFAULT '{}',
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER,
    duration_ms INTEGER,
    tests       INTEGER NOT NULL DEFAULT 0,
    passed      INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    flaky       INTEGER NOT NULL DEFAULT 0
);
INSERT INTO runs_v7 (id, project_id, status, commit_sha, branch, build_id, build_url, name, tags, reason,
                     created_at, finished_at, duration_ms, tests, passed, failed, errors, skipped, flaky)
    SELECT id, project_id, status, commit_sha, branch, build_id, build_url, name, tags, reason,
           created_at, finished_at, duration_ms, tests, passed, failed, errors, skipped, flaky
    FROM runs ORDER BY id;

CREATE TABLE tests_v7 (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    test_id    BLOB NOT NULL,                    -- 16 bytes; the API shows them as hex
    suite      TEXT NOT NULL,
    classname  TEXT NOT NULL,
    name       TEXT NOT NULL,
    file       TEXT,
    UNIQUE (project_id, test_id)
);
INSERT INTO tests_v7 (project_id, test_id, suite, classname, name, file)
    SELECT project_id, unhex(test_id), suite, classname, name, file FROM tests ORDER BY project_id, test_id;

CREATE TABLE results_v7 (
    run          INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
    test         INTEGER NOT NULL,
    -- Spelled out: SQLite checks `IN (list)` by building a temporary B-tree
    -- per inserted row.
    status       TEXT NOT NULL CHECK (status = 'passed' OR status = 'failed' OR status = 'error'
                                      OR status = 'skipped' OR status = 'flaky'),
    duration_ms  INTEGER,
    retries      INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 1,
    message      TEXT,
    details      TEXT,
    attempt_bits INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, test)
) WITHOUT ROWID;
INSERT INTO results_v7 (run, test, status, duration_ms, retries, attempts, message, details, attempt_bits)
    SELECT ru.seq, t.id, r.status, r.duration_ms, r.retries, r.attempts, r.message, r.details, r.attempt_bits
    FROM results r
    JOIN runs_v7 ru ON ru.id = r.run_id
    JOIN tests_v7 t ON t.project_id = ru.project_id AND t.test_id = unhex(r.test_id)
    ORDER BY ru.seq, t.id;

DROP TABLE results;
DROP TABLE tests;
DROP TABLE runs;
ALTER TABLE runs_v7 RENAME TO runs;
ALTER TABLE tests_v7 RENAME TO tests;
ALTER TABLE results_v7 RENAME TO results;

CREATE INDEX runs_by_project ON runs(project_id, id);
CREATE UNIQUE INDEX runs_running_build ON runs(project_id, build_id, name)
    WHERE status = 'running' AND build_id IS NOT NULL;
CREATE INDEX runs_baseline ON runs(project_id, name, branch, finished_at);
CREATE INDEX runs_by_project_created ON runs(project_id, created_at);
CREATE INDEX runs_by_created ON runs(created_at);
