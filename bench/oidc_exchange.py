#!/usr/bin/env python3
"""The OIDC exchange against `whoami` on the same server, same run.

Run by bench/oidc_exchange.sh, which starts the server; this script is the
HTTPS issuer (discovery document and key set, a P-256 key made with the
openssl CLI) and the client. Standard library and the openssl CLI only.

Each exchange needs an ID token of its own (a `jti` is exchanged once), so
the tokens are signed before timing starts. Requests go one at a time over
one keep-alive connection; the exchanges carry a different
X-Forwarded-For each (the server trusts 127.0.0.1 as a proxy) so that the
per-address limit of 60 a minute is not what is measured. The per-issuer
limit (600 a minute) bounds a run to 500 exchanges.

Usage: oidc_exchange.py DIR BASE ADMIN_TOKEN ROUNDS PER_ROUND
"""

import base64
import http.client
import http.server
import json
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_signature_to_raw(der: bytes) -> bytes:
    """ECDSA's DER SEQUENCE { INTEGER r, INTEGER s } as JWS wants it: r || s, 32 bytes each."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        value = der[i + 2 : i + 2 + n].lstrip(b"\x00")
        out += value.rjust(32, b"\x00")
        i += 2 + n
    return out


def public_jwk(directory: str, kid: str) -> dict:
    der = subprocess.run(
        ["openssl", "ec", "-in", f"{directory}/signing.pem", "-pubout", "-outform", "DER"],
        check=True, capture_output=True,
    ).stdout
    point = der[-65:]  # 0x04 || x || y
    assert point[0] == 4
    return {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": b64url(point[1:33]), "y": b64url(point[33:])}


def sign(directory: str, kid: str, claims: dict) -> str:
    header = {"alg": "ES256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    der = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", f"{directory}/signing.pem"],
        input=signing_input.encode(), check=True, capture_output=True,
    ).stdout
    return f"{signing_input}.{b64url(der_signature_to_raw(der))}"


def serve_issuer(directory: str, jwk: dict) -> str:
    """The issuer on https://127.0.0.1:<port>; returns its URL."""
    state = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            base = state["url"]
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": base, "jwks_uri": f"{base}/jwks"}
            elif self.path == "/jwks":
                body = {"keys": [jwk]}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("cache-control", "max-age=3600")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{directory}/leaf.pem", f"{directory}/leaf.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state["url"] = f"https://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state["url"]


class Api:
    def __init__(self, base: str):
        parsed = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port)

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, bytes, float]:
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        start = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        return response.status, payload, time.perf_counter() - start


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    directory, base, admin, rounds, per_round = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    kid = "bench-1"
    issuer = serve_issuer(directory, public_jwk(directory, kid))
    api = Api(base)
    audience = "https://proctor.bench"
    status, body, _ = api.request(
        "POST", "/api/v1/projects/web/trusted-publishers",
        {"issuer": issuer, "audience": audience, "claims": {"repository": "acme/web", "ref": "refs/heads/*"}},
        {"authorization": f"Bearer {admin}"},
    )
    assert status == 201, (status, body)

    total = rounds * per_round + 1
    assert total <= 550, "the per-issuer limit is 600 exchanges a minute"
    now = int(time.time())
    tokens = [
        sign(directory, kid, {
            "iss": issuer, "aud": audience, "sub": "repo:acme/web:ref:refs/heads/main",
            "repository": "acme/web", "ref": "refs/heads/main", "sha": "9f2c1e0", "run_id": str(4700 + i),
            "iat": now, "nbf": now, "exp": now + 600, "jti": str(uuid.uuid4()),
        })
        for i in range(total)
    ]

    def exchange(i: int) -> float:
        status, body, secs = api.request(
            "POST", "/api/v1/oidc/exchange", {"project": "web", "token": tokens[i]},
            {"x-forwarded-for": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"},
        )
        assert status == 201, (status, body)
        return secs

    # The first exchange fetches the issuer's keys; the rest find them cached.
    cold = exchange(0)
    exchanged = json.loads(api.request("POST", "/api/v1/oidc/exchange", {"project": "web", "token": tokens[0]},
                                       {"x-forwarded-for": "10.255.255.255"})[1])
    assert exchanged["error"] == "oidc_rejected", exchanged  # the same jti twice

    def whoami() -> float:
        status, body, secs = api.request("GET", "/api/v1/whoami", headers={"authorization": f"Bearer {admin}"})
        assert status == 200, (status, body)
        return secs

    for _ in range(50):
        whoami()
    print(f"cold exchange (fetches discovery and keys): {cold * 1000:.2f} ms")
    print("round  exchange p50  p95 (ms)  whoami p50  p95 (ms)  ratio p50  p95")
    all_exchange, all_whoami = [], []
    next_token = 1
    for r in range(1, rounds + 1):
        ex = []
        wh = []
        for _ in range(per_round):
            ex.append(exchange(next_token))
            next_token += 1
            wh.append(whoami())
        all_exchange += ex
        all_whoami += wh
        e50, e95, w50, w95 = (percentile(ex, 50), percentile(ex, 95), percentile(wh, 50), percentile(wh, 95))
        print(f"{r:5}  {e50 * 1000:12.3f}  {e95 * 1000:8.3f}  {w50 * 1000:10.3f}  {w95 * 1000:8.3f}"
              f"  {e50 / w50:9.2f}  {e95 / w95:4.2f}")
    e50, e95 = percentile(all_exchange, 50), percentile(all_exchange, 95)
    w50, w95 = percentile(all_whoami, 50), percentile(all_whoami, 95)
    print(f"all    {e50 * 1000:12.3f}  {e95 * 1000:8.3f}  {w50 * 1000:10.3f}  {w95 * 1000:8.3f}"
          f"  {e50 / w50:9.2f}  {e95 / w95:4.2f}")
    print(f"mean exchange {statistics.mean(all_exchange) * 1000:.3f} ms over {len(all_exchange)}, "
          f"whoami {statistics.mean(all_whoami) * 1000:.3f} ms over {len(all_whoami)}")


if __name__ == "__main__":
    main()
