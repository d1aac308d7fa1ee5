#!/usr/bin/env python3
"""Analytics at any history (issue 14): a project grown through the real
ingestion path, day by day, and every analytics route and page timed at
checkpoints.

Run by bench/history.sh, which builds the binary and prepares the data
directory (an admin, a token, the project `hist`); this script starts the
server for each day with the clock moved that many days on
(`--clock-offset-seconds`), so each day's runs are dated that day.

The suite (seeded, so every run of the script makes the same history):
TESTS tests in suites of 100, each with a base duration (log-uniform,
2 ms to 2 s); 2 % flaky (fail one run in ten), 0.5 % regressed (failing
from a given day on), 1 % drifting slower (up to 3 times over the days),
the rest passing with a little jitter. RUNS_PER_DAY runs a day: four in
five on main, the rest on a feature branch; every tenth run retries the
previous commit (same-commit flakiness).

At each checkpoint (after the days that make about 1.5 M, 5 M and 15 M
results with the defaults) it waits until the server has folded its
rollup digests (within about a minute of the uploads: the state a server
spends its time in), then measures p50 and p95 over REQUESTS sequential
requests of each API route and UI page below, the ingestion throughput of
the days since the previous checkpoint, and the database's bytes per
result.

Usage: history.py BIN DATA_DIR TOKEN DAYS RUNS_PER_DAY TESTS CHECKPOINTS(comma-separated days) REQUESTS
"""

import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.parse

ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "correct horse battery staple"


class Suite:
    def __init__(self, tests, days, seed=14):
        rng = random.Random(seed)
        self.tests = []
        for i in range(tests):
            kind = rng.random()
            self.tests.append({
                "suite": f"com.example.module{i // 1000:02d}.Suite{i // 100:04d}",
                "name": f"test_{i:05d}_does_its_thing",
                "base": 2 * (1000 ** rng.random()),
                "kind": ("flaky" if kind < 0.02 else "regressed" if kind < 0.025
                         else "drifting" if kind < 0.035 else "steady"),
                "from_day": rng.randrange(max(1, days)),
            })
        self.days = max(1, days)

    def report(self, day, run, rng):
        """One run's JUnit report, grouped in testsuite elements of 100."""
        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>']
        suite = None
        for t in self.tests:
            if t["suite"] != suite:
                if suite is not None:
                    out.append("</testsuite>")
                suite = t["suite"]
                out.append(f'<testsuite name="{suite}">')
            ms = t["base"] * (0.9 + 0.2 * rng.random())
            failing = False
            if t["kind"] == "flaky":
                failing = rng.random() < 0.1
            elif t["kind"] == "regressed":
                failing = day >= t["from_day"]
            elif t["kind"] == "drifting":
                ms *= 1 + 2 * day / self.days
            head = f'<testcase classname="{suite}" name="{t["name"]}" time="{ms / 1000:.3f}"'
            if failing:
                out.append(f'{head}><failure message="expected {run % 7} got {day}">at {t["name"]}:42</failure></testcase>')
            else:
                out.append(head + "/>")
        out.append("</testsuite></testsuites>")
        return "".join(out).encode()


class Server:
    def __init__(self, binary, data, offset):
        self.log = open(os.path.join(data, "server.log"), "a")
        self.proc = subprocess.Popen(
            [binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", os.path.join(data, "data"),
             "--rate-limit-per-minute", "1000000", "--clock-offset-seconds", str(offset)],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn,proctor=info"})
        self.base = None
        for _ in range(300):
            with open(os.path.join(data, "server.log")) as f:
                found = re.findall(r"Proctor listening on (\S+)", f.read())
            if len(found) > Server.started:
                self.base = found[-1]
                Server.started = len(found)
                break
            time.sleep(0.1)
        if self.base is None:
            sys.exit("the server did not start")
        self.host = urllib.parse.urlparse(self.base).netloc

    started = 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


class Client:
    def __init__(self, host, token=None):
        self.host = host
        self.conn = http.client.HTTPConnection(host, timeout=600)
        self.token = token
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closes keep-alive connections idle for a few seconds.
            self.conn = http.client.HTTPConnection(self.host, timeout=600)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";")[0]
        return response.status, data

    def login(self):
        _, page = self.request("GET", "/login")
        csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode({"csrf_token": csrf, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        status, _ = self.request("POST", "/login", form, {"content-type": "application/x-www-form-urlencoded"})
        if status != 303:
            sys.exit(f"login failed: {status}")


def timed(client, path, requests):
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        status, body = client.request("GET", path)
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            sys.exit(f"GET {path}: {status} {body[:200]!r}")
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def measure(server, token, requests):
    api = Client(server.host, token)
    page = Client(server.host)
    page.login()
    _, flaky = api.request("GET", "/api/v1/projects/hist/tests/flaky?days=30&limit=1")
    flaky = json.loads(flaky)["tests"]
    test = flaky[0]["test_id"] if flaky else None
    routes = [
        ("API flaky, 30 days", api, "/api/v1/projects/hist/tests/flaky?days=30"),
        ("API slowest, 30 days", api, "/api/v1/projects/hist/tests/slowest?days=30"),
        ("API failure groups, 30 days", api, "/api/v1/projects/hist/errors?days=30"),
        ("API a flaky test's history", api, f"/api/v1/projects/hist/tests/{test}?limit=50"),
        ("page: runs and charts", page, "/projects/hist"),
        ("page: flaky", page, "/projects/hist/flaky?days=30"),
        ("page: slowest", page, "/projects/hist/slowest?days=30"),
        ("page: errors", page, "/projects/hist/errors?days=30"),
        ("page: a flaky test's history", page, f"/projects/hist/tests/{test}"),
        ("page: projects", page, "/projects"),
    ]
    return [(label, *timed(client, path, requests)) for label, client, path in routes]


def count_results(data):
    import sqlite3
    conn = sqlite3.connect(f"file:{os.path.join(data, 'data', 'proctor.db')}?mode=ro", uri=True)
    n = conn.execute("SELECT count(*) FROM results").fetchone()[0]
    conn.close()
    return n


def wait_folded(data, limit=120):
    """Waits until the server has folded every rollup digest (it does within
    about a minute of the uploads), so that reads are measured in the state a
    server spends its time in; seconds waited (0 for a build without rollups)."""
    import sqlite3
    start = time.time()
    while time.time() - start < limit:
        conn = sqlite3.connect(f"file:{os.path.join(data, 'data', 'proctor.db')}?mode=ro", uri=True, timeout=30)
        try:
            waiting = conn.execute("SELECT count(*) FROM rollup_digests").fetchone()[0]
        except sqlite3.OperationalError:  # no rollups in this build
            waiting = 0
        finally:
            conn.close()
        if waiting == 0:
            return time.time() - start
        time.sleep(1)
    sys.exit("the server did not fold its rollup digests within two minutes")


def database_bytes(data):
    base = os.path.join(data, "data", "proctor.db")
    return sum(os.path.getsize(base + s) for s in ("", "-wal") if os.path.exists(base + s))


def main():
    binary, data, token, days, runs_per_day, tests, checkpoints, requests = sys.argv[1:9]
    days, runs_per_day, tests, requests = int(days), int(runs_per_day), int(tests), int(requests)
    checkpoints = {int(c) for c in checkpoints.split(",")}
    suite = Suite(tests, days)
    rng = random.Random(2026)
    table = []
    ingest_seconds, ingested, commit = 0.0, 0, "c0"
    for day in range(days):
        server = Server(binary, data, day * 86_400)
        client = Client(server.host, token)
        for run in range(runs_per_day):
            body = suite.report(day, run, rng)
            if run % 10 != 9:
                commit = f"d{day}r{run}"
            branch = "main" if run % 5 else f"feature-{run % 3}"
            path = f"/api/v1/projects/hist/results?name=ci&branch={branch}&commit={commit}"
            start = time.perf_counter()
            status, answer = client.request("POST", path, body, {"content-type": "application/xml"})
            ingest_seconds += time.perf_counter() - start
            ingested += tests
            if status != 201:
                sys.exit(f"upload: {status} {answer[:300]!r}")
        if day + 1 in checkpoints:
            waited = wait_folded(data)
            results = count_results(data)
            print(f"\nafter day {day + 1}: {results:,} results; ingestion {ingested / ingest_seconds:,.0f} testcases/s"
                  f" since the last checkpoint; {database_bytes(data) / results:.0f} database bytes per result;"
                  f" digests folded {waited:.0f} s after the last upload", flush=True)
            rows = measure(server, token, requests)
            for label, p50, p95 in rows:
                print(f"  {label:32} p50 {p50:9.1f} ms   p95 {p95:9.1f} ms", flush=True)
            table.append((day + 1, results, rows))
            ingest_seconds, ingested = 0.0, 0
        server.stop()
    if len(table) >= 2:
        first, last = table[0], table[-1]
        print(f"\np95 at {last[1]:,} results / p95 at {first[1]:,} results:")
        for (label, _, p95_first), (_, _, p95_last) in zip(first[2], last[2]):
            print(f"  {label:32} {p95_last / p95_first:6.2f}")


if __name__ == "__main__":
    main()
