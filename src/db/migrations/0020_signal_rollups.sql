-- Version 20: flakiness signals rolled up by day, so the flaky list reads
-- one row per test and signal whatever the window holds (issue 14).
--
-- signal_days: per test, signal and UTC day with events (dated by their
-- run's creation), the running total of its events through that day and
-- that day's first and last event. A window's count is the newest total
-- minus the newest total before the window's first day.
CREATE TABLE signal_days (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    test       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    day        INTEGER NOT NULL,
    total      INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    PRIMARY KEY (project_id, test, kind, day)
) WITHOUT ROWID;

-- Per test and signal: its first and last day and event, and its total.
CREATE TABLE signal_totals (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    test       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    first_day  INTEGER NOT NULL,
    last_day   INTEGER NOT NULL,
    total      INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    PRIMARY KEY (project_id, test, kind)
) WITHOUT ROWID;

INSERT INTO signal_days (project_id, test, kind, day, total, first_at, last_at)
    SELECT project_id, test, kind, day,
           sum(events) OVER (PARTITION BY test, kind ORDER BY day ROWS UNBOUNDED PRECEDING),
           first_at, last_at
    FROM (SELECT project_id, test, kind, at / 86400 AS day, count(*) AS events, min(at) AS first_at,
                 max(at) AS last_at
          FROM flaky_signals GROUP BY test, kind, at / 86400);
INSERT INTO signal_totals (project_id, test, kind, first_day, last_day, total, first_at, last_at)
    SELECT project_id, test, kind, min(at / 86400), max(at / 86400), count(*), min(at), max(at)
    FROM flaky_signals GROUP BY test, kind;
