"""`make run` says where the portal is: PORTAL_URL and GUNICORN_BIND, as configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def banner(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("PORTAL_URL", "GUNICORN_BIND")}
    answer = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_banner.py")],
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return answer.stdout.strip()


def test_the_banner_names_the_configured_address_and_bind():
    line = banner(PORTAL_URL="http://lifeboat.test:9000", GUNICORN_BIND="0.0.0.0:9000",
                  ALLOWED_HOSTS="lifeboat.test")  # fmt: skip
    assert line.startswith("Lifeboat is starting at http://lifeboat.test:9000 ")
    assert "listens on 0.0.0.0:9000" in line
    assert "listens on 127.0.0.1:8000" in banner()
