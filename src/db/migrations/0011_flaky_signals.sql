-- Version 11: flakiness kept as results are stored (API.md section 9), so
-- the flaky list reads its signals instead of every result in the window,
-- and failures carry a fingerprint of their message for failure groups.
--
-- `flaky_signals`: one row per signal event, dated by its run's creation:
--   retry        the test was flaky within the run;
--   same_commit  the run completed a pass and a failure on one commit
--                (one row per test and commit: `commit_sha` is kept);
--   flip         on the default branch, the test's result changed between
--                passing and failing from its previous result there.
-- Written when a run closes (finalized, failed or marked stale), when its
-- results are final.
CREATE TABLE flaky_signals (
    test       INTEGER NOT NULL REFERENCES tests(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind = 'retry' OR kind = 'same_commit' OR kind = 'flip'),
    run        INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    commit_sha TEXT,
    PRIMARY KEY (test, kind, run)
) WITHOUT ROWID;
CREATE INDEX flaky_signals_by_project ON flaky_signals(project_id, at);
CREATE INDEX flaky_signals_by_run ON flaky_signals(run);

-- Per test that ever failed on its project's default branch: whether its
-- last passing-or-failing result there failed. A test without a row never
-- failed there (since it was marked fixed).
CREATE TABLE flip_state (
    test       INTEGER PRIMARY KEY REFERENCES tests(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    failing    INTEGER NOT NULL
);
CREATE INDEX flip_state_failing ON flip_state(project_id) WHERE failing = 1;

-- "Mark fixed": from `fixed_at` on, only later results count for the test.
CREATE TABLE test_marks (
    test          INTEGER PRIMARY KEY REFERENCES tests(id) ON DELETE CASCADE,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    fixed_at      INTEGER NOT NULL,
    fixed_type    TEXT NOT NULL,
    fixed_id      TEXT,
    fixed_name    TEXT,
    fixed_preview TEXT
);
CREATE INDEX test_marks_by_project ON test_marks(project_id, fixed_at);

-- Failure groups: a failing result's message normalized (numbers, ids,
-- paths… as placeholders) and hashed; the normalized text kept once per
-- project.
ALTER TABLE results ADD COLUMN fingerprint INTEGER;
CREATE TABLE error_fingerprints (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    fingerprint INTEGER NOT NULL,
    message     TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    PRIMARY KEY (project_id, fingerprint)
) WITHOUT ROWID;

-- Failing and flaky results are few: this partial index costs nothing for a
-- passing result and finds a run's failures without a scan.
CREATE INDEX results_failing ON results(run, test) WHERE status <> 'passed' AND status <> 'skipped';
-- A run's siblings on its commit; the earlier runs of its name and branch
-- (a failure's streak, a first failure's previous result).
CREATE INDEX runs_by_commit ON runs(project_id, commit_sha) WHERE commit_sha IS NOT NULL;
CREATE INDEX runs_by_name ON runs(project_id, name, branch, created_at);

-- The signals of the runs already stored, as closing each would have
-- written them.
INSERT INTO flaky_signals (test, kind, run, project_id, at, commit_sha)
    SELECT r.test, 'retry', ru.seq, ru.project_id, ru.created_at, NULL
    FROM results r JOIN runs ru ON ru.seq = r.run
    WHERE r.status = 'flaky' AND ru.status <> 'running';

WITH ordered AS (
    SELECT r.test, ru.seq AS run, ru.project_id, ru.created_at AS at,
           (r.status <> 'passed') AS failing,
           lag(r.status <> 'passed') OVER (PARTITION BY r.test ORDER BY ru.created_at, ru.seq) AS previous
    FROM results r
    JOIN runs ru ON ru.seq = r.run
    JOIN projects p ON p.id = ru.project_id AND ru.branch = p.default_branch
    WHERE (r.status = 'passed' OR r.status = 'failed' OR r.status = 'error') AND ru.status <> 'running'
)
INSERT INTO flaky_signals (test, kind, run, project_id, at, commit_sha)
    SELECT test, 'flip', run, project_id, at, NULL FROM ordered WHERE previous IS NOT NULL AND previous <> failing;

WITH ordered AS (
    SELECT r.test, ru.project_id, (r.status <> 'passed') AS failing,
           row_number() OVER (PARTITION BY r.test ORDER BY ru.created_at DESC, ru.seq DESC) AS newest,
           max(r.status <> 'passed') OVER (PARTITION BY r.test) AS ever_failed
    FROM results r
    JOIN runs ru ON ru.seq = r.run
    JOIN projects p ON p.id = ru.project_id AND ru.branch = p.default_branch
    WHERE (r.status = 'passed' OR r.status = 'failed' OR r.status = 'error') AND ru.status <> 'running'
)
INSERT INTO flip_state (test, project_id, failing)
    SELECT test, project_id, failing FROM ordered WHERE newest = 1 AND ever_failed = 1;

-- Per test and commit with a pass and a failure: dated by the run that
-- completed the pair (the later of the first pass and the first failure).
WITH outcomes AS (
    SELECT r.test, ru.project_id, ru.commit_sha, ru.seq, ru.created_at, (r.status = 'passed') AS passed,
           row_number() OVER (PARTITION BY r.test, ru.commit_sha, r.status = 'passed'
                              ORDER BY ru.created_at, ru.seq) AS nth
    FROM results r JOIN runs ru ON ru.seq = r.run
    WHERE (r.status = 'passed' OR r.status = 'failed' OR r.status = 'error')
      AND ru.commit_sha IS NOT NULL AND ru.status <> 'running'
),
firsts AS (SELECT * FROM outcomes WHERE nth = 1)
INSERT INTO flaky_signals (test, kind, run, project_id, at, commit_sha)
    SELECT p.test, 'same_commit',
           CASE WHEN (p.created_at, p.seq) > (f.created_at, f.seq) THEN p.seq ELSE f.seq END,
           p.project_id, max(p.created_at, f.created_at), p.commit_sha
    FROM firsts p JOIN firsts f ON f.test = p.test AND f.commit_sha = p.commit_sha
    WHERE p.passed AND NOT f.passed;
