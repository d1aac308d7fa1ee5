"""Schemathesis hooks for .ci/schemathesis.sh: the run's own token.

The fuzzer calls every operation, among them "rotate", "revoke" and
"disable" of tokens whose ids it read from a list, so sooner or later it
ends the very token it runs with. Each request therefore asks for the
token at most once a second; when the server no longer takes it, a new one
is minted with the offline CLI (the same database, while the server runs),
so every operation keeps being tested with a working token.
"""

import os
import subprocess
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["ST_BASE"]
BIN = os.environ["ST_BIN"]
DATA = os.environ["ST_DATA"]
KIND = os.environ["ST_TOKEN_KIND"]  # "admin" or "key"
PERMISSIONS = {
    "admin": "runs:read,runs:write,artifacts:write,tests:manage,projects:read,projects:manage,"
    "tokens:create,tokens:admin,users:admin,audit:read",
    "key": "projects:read,runs:read,runs:write,artifacts:write",
}


def works(token: str) -> bool:
    request = urllib.request.Request(f"{BASE}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status == 200
    except urllib.error.URLError:
        return False


def mint() -> str:
    common = [BIN, "--data-dir", DATA]
    if KIND == "admin":
        args = ["token", "create", "--owner", "admin@example.com", "--expires-in-days", "7"]
    else:
        args = ["key", "create", "--project", "web", "--expires-in-days", "7"]
    args += ["--name", f"schemathesis {KIND}", "--permissions", PERMISSIONS[KIND]]
    return subprocess.run(common + args, check=True, capture_output=True, text=True).stdout.strip()


@schemathesis.auth(refresh_interval=1)
class RunToken:
    token = os.environ["ST_TOKEN"]

    def get(self, case, ctx):
        if not works(RunToken.token):
            RunToken.token = mint()
        return RunToken.token

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
