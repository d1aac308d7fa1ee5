#!/usr/bin/env python3
"""bench/rollups.sh's measurements.

    rollups.py ingest FILE ROUNDS NAME=URL,TOKEN,PID,DB ...
    rollups.py folded DB START READY
"""
import os
import sqlite3
import statistics
import sys
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def waiting_digests(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM rollup_digests").fetchone()[0]
    except sqlite3.OperationalError:  # no such table: the baseline
        return 0
    finally:
        conn.close()


def upload(url, token, body, n):
    request = urllib.request.Request(
        f"{url}/api/v1/projects/bench/results?name=ci&branch=main&commit=c{n}", data=body, method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/xml"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as r:
        r.read()
        assert r.status == 201, r.status
    return time.perf_counter() - start


def ingest(path, rounds, servers):
    body = open(path, "rb").read()
    cases = body.count(b"<testcase")
    servers = [(name, *spec.split(",")) for name, spec in (s.split("=", 1) for s in servers)]
    for name, url, token, _, _ in servers:  # warm-up: every test new, uncounted
        upload(url, token, body, 0)
    time.sleep(70)  # the warm-up's digests folded
    cpu0 = {name: cpu_seconds(pid) for name, _, _, pid, _ in servers}
    times = {name: [] for name, *_ in servers}
    for r in range(1, rounds + 1):
        order = servers if r % 2 else list(reversed(servers))
        for name, url, token, _, _ in order:
            times[name].append(upload(url, token, body, r))
    start = time.time()
    for name, _, _, _, db in servers:
        while waiting_digests(db) > 0 and time.time() - start < 120:
            time.sleep(1)
    cpu = {name: cpu_seconds(pid) - cpu0[name] for name, _, _, pid, _ in servers}
    print(f"{rounds} rounds of one {len(body):,}-byte, {cases:,}-testcase upload to each server, alternating first")
    for name, *_ in servers:
        t = times[name]
        print(f"  {name:8} upload median {statistics.median(t):6.3f} s  best {min(t):6.3f} s"
              f"  ({cases / statistics.median(t):,.0f} testcases/s)"
              f"  server CPU {cpu[name] / (rounds * cases) * 1e6:5.2f} µs per result (folding included)")
    (a, *_), (b, *_) = servers[0], servers[1]
    ratios = [y / x for x, y in zip(times[a], times[b])]
    print(f"  upload time {b}/{a}: median of per-round ratios {statistics.median(ratios):.3f}"
          f" ({', '.join(f'{x:.3f}' for x in ratios)})")
    print(f"  server CPU per result {b}/{a}: {cpu[b] / cpu[a]:.3f}")


def folded(db, start, ready):
    start, ready = float(start), float(ready)
    while waiting_digests(db) > 0:
        time.sleep(0.2)
    done = time.time()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    results = conn.execute("SELECT count(*) FROM results").fetchone()[0]
    days = conn.execute("SELECT count(*) FROM test_days").fetchone()[0]
    conn.close()
    print(f"  {results:,} results: answering after {ready - start:.1f} s (migration and backfill),"
          f" every digest folded after {done - start:.1f} s; {days:,} test_days rows")


if __name__ == "__main__":
    if sys.argv[1] == "ingest":
        ingest(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
    else:
        folded(*sys.argv[2:5])
