-- Version 19: rollups, so that analytics cost the same at any history
-- (issue 14; domain::rollup explains the scheme, db::rollups the tables).

-- Each report's results as one digest, written in the ingest transaction
-- and folded into test_days, test_totals and failure_days within about a
-- minute. Reads add the digests not yet folded. No foreign key to runs:
-- what a run added stays in the rollups when retention deletes it.
CREATE TABLE rollup_digests (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    day        INTEGER NOT NULL,  -- the UTC day (unix days) of the run's creation
    run_at     INTEGER NOT NULL,  -- the run's creation
    queued_at  INTEGER NOT NULL,
    entries    INTEGER NOT NULL,
    digest     BLOB NOT NULL
);
CREATE INDEX rollup_digests_by_project ON rollup_digests(project_id, id);

-- Per test, running totals through the end of each day it had results:
-- counts by outcome and the sketch of its timed, not skipped, durations
-- (domain::sketch). A window is the newest row minus the newest row before
-- the window's first day.
CREATE TABLE test_days (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    test       INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    passed     INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    errors     INTEGER NOT NULL,
    skipped    INTEGER NOT NULL,
    flaky      INTEGER NOT NULL,
    durations  BLOB NOT NULL,
    PRIMARY KEY (project_id, test, day)
) WITHOUT ROWID;

-- Per test, its newest test_days row (what a window ending now starts
-- from, read in one pass over the project) and its first day.
CREATE TABLE test_totals (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    test       INTEGER NOT NULL,
    first_day  INTEGER NOT NULL,
    last_day   INTEGER NOT NULL,
    passed     INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    errors     INTEGER NOT NULL,
    skipped    INTEGER NOT NULL,
    flaky      INTEGER NOT NULL,
    durations  BLOB NOT NULL,
    PRIMARY KEY (project_id, test)
) WITHOUT ROWID;

-- Per day, failure group and test: failed and errored results, and the
-- first and last run (by creation) they came from.
CREATE TABLE failure_days (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    day         INTEGER NOT NULL,
    fingerprint INTEGER NOT NULL,
    test        INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    PRIMARY KEY (project_id, day, fingerprint, test)
) WITHOUT ROWID;

-- Runs stored before this version, digested by the server at start in
-- batches (db::rollups::backfill): those with seq <= last_seq, from
-- next_seq on. The row goes when they are all done.
CREATE TABLE rollup_backfill (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
INSERT INTO rollup_backfill (id, next_seq, last_seq) SELECT 1, 0, max(seq) FROM runs HAVING count(*) > 0;
