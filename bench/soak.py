#!/usr/bin/env python3
"""Crash soak: kill -9 the release server again and again while it ingests.

CYCLES times: start `proctor serve` on one port, let UPLOADERS concurrent
`proctor upload` loops (each upload a new build id, its own 200-case
report, the client's own retries) and READERS readers work for a random
0.3-1.5 s, then SIGKILL the server, run `PRAGMA integrity_check` on the
database it left, and start it again (the uploads in flight retry across
the restart). At the end, with the server up:

- every acknowledged upload (proctor upload exited 0 with a run URL) is a
  finished run holding all its test cases;
- no run holds part of a report (every run has 0 or all of its cases, and
  its counts match its stored results);
- no build id has more than one run (a retry never duplicates);
- readers saw no 5xx while the server was up.

    python3 bench/soak.py BIN [CYCLES]
"""
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

CASES = 200
UPLOADERS = 8
READERS = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(uploader, n):
    cases = []
    for i in range(CASES):
        name = f"test_{uploader}_{i:03d}"
        failure = '<failure message="boom"/>' if i % 25 == 0 else ""
        cases.append(f'<testcase classname="soak.U{uploader}" name="{name}" time="0.001">{failure}</testcase>')
    return f'<testsuite name="soak-{uploader}-{n}">{"".join(cases)}</testsuite>'


class Server:
    def __init__(self, binary, data, port):
        self.binary, self.data, self.port, self.proc = binary, data, port, None
        self.log = open(os.path.join(os.path.dirname(data), "server.log"), "ab")

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data, "--bind", f"127.0.0.1:{self.port}",
             "--rate-limit-per-minute", "1000000"],
            stdout=self.log, stderr=self.log, env={**os.environ, "RUST_LOG": "warn"})
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.02)
        raise SystemExit("the server did not come up")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def cli(binary, data, *args, stdin=None):
    out = subprocess.run([binary, "--data-dir", data, *args], input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{args}: {out.stderr}")
    return out.stdout.strip()


def uploader(binary, base, token, index, workdir, stop, acked, unacked):
    n = 0
    while not stop.is_set():
        n += 1
        path = os.path.join(workdir, f"u{index}-{n}.xml")
        with open(path, "w") as f:
            f.write(report(index, n))
        build = f"u{index}-{n}"
        env = {**os.environ, "PROCTOR_TOKEN": token, "PROCTOR_UPLOAD_RETRY_BASE_MS": "200"}
        out = subprocess.run(
            [binary, "upload", "--url", base, "--project", "soak", "--build-id", build, "--name", "soak", path],
            capture_output=True, text=True, env=env)
        os.unlink(path)
        run_url = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        if out.returncode == 0 and "/runs/" in run_url:
            acked.append((build, run_url.rsplit("/", 1)[1]))
        else:
            unacked.append((build, out.stderr.strip()[-200:]))


def reader(base, token, stop, up, errors):
    while not stop.is_set():
        for path in ["/api/v1/projects/soak/runs?limit=20", "/api/v1/projects/soak/tests/flaky"]:
            req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    r.read()
            except urllib.error.HTTPError as e:
                if e.code >= 500 and up.is_set():
                    errors.append(f"{path}: {e.code}")
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.01)


def integrity(db):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def check(db, acked):
    conn = sqlite3.connect(db)
    problems = []
    runs = {row[0]: row for row in conn.execute(
        "SELECT id, status, tests, build_id, seq FROM runs WHERE project_id = (SELECT id FROM projects WHERE slug = 'soak')")}
    for build, run_id in acked:
        row = runs.get(run_id)
        if row is None:
            problems.append(f"acknowledged {build} ({run_id}) is missing")
        elif row[1] not in ("passed", "failed") or row[2] != CASES:
            problems.append(f"acknowledged {build} ({run_id}) is {row[1]} with {row[2]} tests")
    for run_id, status, tests, build, seq in runs.values():
        stored = conn.execute("SELECT count(*) FROM results WHERE run = ?", (seq,)).fetchone()[0]
        if tests not in (0, CASES) or stored != tests:
            problems.append(f"run {run_id} ({build}, {status}) holds {stored} results, counts {tests}")
    for build, count in conn.execute(
            "SELECT build_id, count(*) FROM runs GROUP BY build_id HAVING count(*) > 1"):
        problems.append(f"build {build} has {count} runs")
    conn.close()
    return problems, len(runs)


def main():
    binary = os.path.abspath(sys.argv[1])
    cycles = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    work = tempfile.mkdtemp(prefix="proctor-soak.")
    data = os.path.join(work, "data")
    cli(binary, data, "admin", "create-user", "--email", "soak@example.com", "--name", "Soak", "--role", "admin",
        "--password-stdin", stdin="correct horse battery staple\n")
    token = cli(binary, data, "token", "create", "--owner", "soak@example.com", "--name", "soak",
                "--permissions", "runs:write,runs:read,projects:read")
    cli(binary, data, "project", "create", "--slug", "soak", "--name", "Soak")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(binary, data, port)
    server.start()
    stop, up = threading.Event(), threading.Event()
    up.set()
    acked, unacked, errors = [], [], []
    threads = [threading.Thread(target=uploader, args=(binary, base, token, i, work, stop, acked, unacked))
               for i in range(UPLOADERS)]
    threads += [threading.Thread(target=reader, args=(base, token, stop, up, errors)) for _ in range(READERS)]
    for t in threads:
        t.start()
    started, bad_integrity = time.time(), []
    rng = random.Random(7)
    for cycle in range(1, cycles + 1):
        time.sleep(rng.uniform(0.3, 1.5))
        up.clear()
        server.kill()
        verdict = integrity(os.path.join(data, "proctor.db"))
        if verdict != "ok":
            bad_integrity.append((cycle, verdict))
        server.start()
        up.set()
        if cycle % 10 == 0:
            print(f"cycle {cycle}: {len(acked)} uploads acknowledged, {len(unacked)} not", flush=True)
    stop.set()
    for t in threads:
        t.join()
    server.kill()
    verdict = integrity(os.path.join(data, "proctor.db"))
    problems, runs = check(os.path.join(data, "proctor.db"), acked)
    elapsed = time.time() - started
    print(json.dumps({
        "cycles": cycles, "seconds": round(elapsed), "uploaders": UPLOADERS, "readers": READERS,
        "cases_per_report": CASES, "acknowledged": len(acked), "not_acknowledged": len(unacked),
        "runs": runs, "integrity_failures": bad_integrity, "final_integrity": verdict,
        "problems": problems[:20], "reader_5xx": errors[:20],
    }, indent=1))
    for build, why in unacked[:5]:
        print(f"not acknowledged: {build}: {why}", file=sys.stderr)
    ok = not bad_integrity and verdict == "ok" and not problems and not errors and acked
    print("SOAK PASSED" if ok else "SOAK FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
