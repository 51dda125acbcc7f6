from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.portal.test_settings import PRODUCTION

ROOT = Path(__file__).resolve().parents[2]


def test_production_settings_pass_check_deploy_with_no_warnings(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "LIFEBOAT_VAR_DIR": str(tmp_path),
        **PRODUCTION,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
