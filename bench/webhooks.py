#!/usr/bin/env python3
"""Webhook delivery latency and the cost of webhooks to ingestion.

Run by bench/webhooks.sh, which starts the server; this script is the
receiver (plain HTTP on 127.0.0.1, answering 200 at once) and the client
(one keep-alive connection, one request at a time). Standard library only.

Latency: a run.finished's commit happens inside the upload request, before
its 201 is sent, so for each event the time from the 201 to the delivery's
arrival is a lower bound of commit -> received, and the time from sending
the upload a bound above it. Each upload waits for its delivery, so this is
the latency of an idle outbox, not of a queue.

Ingestion: two projects, one with 5 webhooks hearing every event, one
with none; rounds of uploads to each, one at a time, the order
alternating. Reports have every 50th testcase failing and one more that
moves each upload (a new failure for every run.finished, and in time
flips that make tests flaky, so test.flaky events too). A hooked round is
timed until every delivery it caused has arrived: a ping is then queued
to each webhook, and one endpoint's deliveries go in order, so the round
ends when the five pings arrive. Two sizes: bench/ingest.sh's 200,000
testcases (2 uploads a round), where the goal applies, and 500 testcases
(100 uploads a round), where the fixed cost per run shows. The server's
CPU time per upload is read from /proc, apart from the client's and the
receiver's.

Usage: webhooks.py BASE ADMIN_TOKEN EVENTS BIG_ROUNDS SMALL_ROUNDS SERVER_PID
"""

import http.client
import os
import http.server
import json
import statistics
import sys
import threading
import time
import urllib.parse

HOOKS = int(os.environ.get("HOOKS", "5"))
BIG = 200_000  # bench/ingest.sh's report
SMALL = 500
EVENTS = os.environ.get("HOOK_EVENTS", "run.finished,test.flaky,test.quarantined,test.released,"
                        "token.expiring,token.revoked").split(",")


class Receiver:
    def __init__(self):
        self.lock = threading.Condition()
        self.arrived = {}  # run name -> first arrival (perf_counter)
        self.pings = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.perf_counter()
                # One write for the whole answer: headers and body in
                # separate segments would meet the sender's delayed ACK.
                self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                self.wfile.flush()
                event = json.loads(body)
                run = event.get("data", {}).get("run")
                name = run.get("name") if event.get("type") == "run.finished" and isinstance(run, dict) else None
                with receiver.lock:
                    if event.get("type") == "webhook.ping":
                        receiver.pings += 1
                    if name is not None:
                        receiver.arrived.setdefault(name, now)
                    receiver.lock.notify_all()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait(self, check, what, timeout=60):
        with self.lock:
            if not self.lock.wait_for(lambda: check(self), timeout):
                sys.exit(f"timed out waiting for {what}")


class Client:
    def __init__(self, base, token):
        self.host = urllib.parse.urlparse(base).netloc
        self.token = token
        self.conn = http.client.HTTPConnection(self.host)

    def request(self, method, path, body=None, content_type="application/json"):
        headers = {"authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["content-type"] = content_type
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            sys.exit(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None


def report(name, cases, seq):
    """A JUnit report of `cases` testcases: every 50th failing in every run,
    and one more, a different one each run (a new failure to report, and
    in time flips that make tests flaky); none more for a negative `seq`."""
    moving = (seq * 131) % cases if seq >= 0 else -1
    rows = []
    for i in range(cases):
        head = f'<testcase classname="com.example.Suite{i // 100:03d}" name="test_{i:05d}" time="0.{(i * 7919) % 997 + 1:03d}"'
        if i % 50 == 7 or i == moving:
            rows.append(f'{head}><failure message="expected {i} but was {i + 1}"/></testcase>')
        else:
            rows.append(f"{head}/>")
    return (f'<testsuites><testsuite name="{name}" tests="{cases}">' + "".join(rows) + "</testsuite></testsuites>").encode()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def server_cpu(pid):
    """The server's CPU seconds so far (user + system)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def upload(client, project, name, body, commit):
    path = f"/api/v1/projects/{project}/results?name={name}&branch=main&commit={commit}"
    client.request("POST", path, body, "application/xml")


def latency(client, receiver, events):
    client.request("POST", "/api/v1/projects/latency/webhooks",
                   json.dumps({"url": f"{receiver.url}/latency", "events": ["run.finished"]}))
    body = report("latency", 10, 0)
    sent, acked, got = [], [], []
    for i in range(events):
        name = f"lat-{i}"
        start = time.perf_counter()
        upload(client, "latency", name, body, f"c{i}")
        ack = time.perf_counter()
        receiver.wait(lambda r: name in r.arrived, f"the delivery of {name}")
        arrived = receiver.arrived[name]
        sent.append(start)
        acked.append(ack)
        got.append(arrived)
    from_ack = [(g - a) * 1000 for a, g in zip(acked, got)]
    from_send = [(g - s) * 1000 for s, g in zip(sent, got)]
    upload_rtt = [(a - s) * 1000 for s, a in zip(sent, acked)]
    print(f"\n1. Delivery latency over {events} run.finished events (ms), one at a time")
    print(f"{'':34} {'p50':>8} {'p99':>8} {'max':>8}")
    for label, values in [("201 received -> delivered (lower)", from_ack),
                          ("upload sent -> delivered (upper)", from_send),
                          ("baseline: the upload's round trip", upload_rtt)]:
        print(f"{label:34} {percentile(values, 50):8.2f} {percentile(values, 99):8.2f} {max(values):8.2f}")
    early = sum(1 for v in from_ack if v < 0)
    print(f"deliveries that arrived before the upload's 201 was read: {early}")


def add_hooks(client, receiver):
    for h in range(HOOKS):
        client.request("POST", "/api/v1/projects/hooked/webhooks",
                       json.dumps({"url": f"{receiver.url}/hooked-{h}", "events": EVENTS}))
    hooks = client.request("GET", "/api/v1/projects/hooked/webhooks")["webhooks"]
    return [h["id"] for h in hooks]


def drain(client, receiver, hooks):
    """Waits until every hook has received everything queued so far: one
    endpoint's deliveries go in order, so its ping arrives after them."""
    with receiver.lock:
        want = receiver.pings + len(hooks)
    for h in hooks:
        client.request("POST", f"/api/v1/projects/hooked/webhooks/{h}/ping", "{}")
    receiver.wait(lambda rc: rc.pings >= want, "the pings that follow the round's deliveries")


def ingestion(client, receiver, hooks, label, rounds, per_round, cases, body):
    """Rounds of `per_round` uploads of `body(seq)` to each project, in
    alternating order; a hooked round is timed until its deliveries arrived.
    A round's bodies are made before its clock starts."""
    times = {"quiet": [], "hooked": []}
    uploading = {"quiet": [], "hooked": []}  # the uploads alone, before the deliveries are waited for
    cpus = {"quiet": [], "hooked": []}
    seq = 0
    for r in range(rounds + 1):  # round 0 warms up, uncounted
        order = ["quiet", "hooked"] if r % 2 == 0 else ["hooked", "quiet"]
        for project in order:
            bodies = [(seq + i + 1, body(seq + i + 1)) for i in range(per_round)]
            seq += per_round
            cpu = server_cpu(PID)
            start = time.perf_counter()
            for n, data in bodies:
                upload(client, project, label, data, f"{label}-{n}")
            uploaded = time.perf_counter() - start
            if project == "hooked":
                drain(client, receiver, hooks)
            elapsed = time.perf_counter() - start
            cpu = server_cpu(PID) - cpu
            if r > 0:
                times[project].append(elapsed)
                uploading[project].append(uploaded)
                cpus[project].append(cpu / per_round * 1000)
    rate = {p: [per_round * cases / t for t in ts] for p, ts in times.items()}
    print(f"\n{label}: {rounds} rounds of {per_round} uploads of {cases:,} testcases to each project, interleaved")
    print(f"{'':32} {'testcases/s (median)':>21} {'min':>10} {'max':>10} {'server CPU/upload':>18}")
    for p, name in [("quiet", "no webhooks"), ("hooked", f"{HOOKS} webhooks, until delivered")]:
        print(f"{name:32} {statistics.median(rate[p]):21,.0f} {min(rate[p]):10,.0f} {max(rate[p]):10,.0f}"
              f" {statistics.median(cpus[p]):15.2f} ms")
    ratios = [h / q for q, h in zip(times["quiet"], times["hooked"])]
    print(f"time with / without, per round: " + ", ".join(f"{x:.3f}" for x in ratios)
          + f"; median {statistics.median(ratios):.3f} ({(statistics.median(ratios) - 1) * 100:+.1f} %)")
    alone = [h / q for q, h in zip(uploading["quiet"], uploading["hooked"])]
    print(f"the uploads alone (not waiting for deliveries), with / without: median {statistics.median(alone):.3f}"
          f" ({(statistics.median(alone) - 1) * 100:+.1f} %)")


def big_body(cases):
    """bench/ingest.sh's report size with the same tests every upload: one
    template, in which the moving failure of upload `seq` is switched on
    (and a comment makes each upload's bytes its own)."""
    template = report("big", cases, -1)

    def body(seq):
        i = (seq * 131) % cases
        passing = f'name="test_{i:05d}" time="0.{(i * 7919) % 997 + 1:03d}"/>'.encode()
        failing = passing[:-2] + f'><failure message="expected {i} but was {i + 1}"/></testcase>'.encode()
        return template.replace(passing, failing, 1) + f"<!-- upload {seq} -->".encode()
    return body


def main():
    global PID
    base, token, events, big_rounds, small_rounds, PID = sys.argv[1:7]
    receiver = Receiver()
    client = Client(base, token)
    latency(client, receiver, int(events))
    hooks = add_hooks(client, receiver)
    print(f"\n2. Ingestion with {HOOKS} webhooks on every event against none (server CPU from /proc)")
    ingestion(client, receiver, hooks, "big", int(big_rounds), 2, BIG, big_body(BIG))
    ingestion(client, receiver, hooks, "small", int(small_rounds), 100, SMALL,
              lambda seq: report("small", SMALL, seq))


if __name__ == "__main__":
    main()
