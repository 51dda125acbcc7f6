"""SENTRY_DSN: a real sentry-sdk sends to a tiny local server; no token ever arrives."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import ROOT

JWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
SCRIPT = f"""
import sentry_sdk
from django.conf import settings
assert settings.SENTRY_DSN
def refresh(refresh_token):
    raise ValueError("Entra said no: refresh_token=" + refresh_token + " with Bearer {JWT}")
try:
    refresh("-".join(["rt", "secret", "value", "123"]))  # not literally in the source
except ValueError:
    sentry_sdk.capture_exception()
sentry_sdk.flush(10)
"""


class Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        Collector.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_token_in_an_exception_never_reaches_the_error_report(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            "PATH": "/usr/bin:/bin",
            "LIFEBOAT_VAR_DIR": str(tmp_path),
            "SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_port}/1",
        }
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SCRIPT],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
    sent = b"".join(Collector.received)
    assert b"ValueError" in sent  # the event arrived ...
    assert b"refresh_token=[redacted]" in sent
    assert b"rt-secret-value-123" not in sent  # ... without the token
    assert JWT.encode() not in sent
    assert JWT.split(".")[1].encode() not in sent
