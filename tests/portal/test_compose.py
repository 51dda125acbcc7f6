from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    if (
        shutil.which("docker")
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("Neither `docker compose` nor `docker-compose` is installed")


def test_compose_file_is_valid_with_no_env_file(tmp_path):
    result = subprocess.run(
        [*compose_command(), "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml"),
         "config", "--services"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # docker-compose 1.x lists services of every profile; Compose v2 only the default ones.
    services = set(result.stdout.split()) - {"s3", "s3-bucket"}
    assert services == {"db", "redis", "migrate", "web", "worker", "beat"}


def test_the_s3_store_is_an_optional_profile():
    import yaml

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for name in ("s3", "s3-bucket"):
        assert compose["services"][name]["profiles"] == ["s3"]
    assert "healthcheck" in compose["services"]["s3"]
    environment = compose["x-app"]["environment"]
    assert {"BLOB_STORE_URL", "BLOB_S3_ENDPOINT_URL", "BLOB_ENCRYPTION_KEYS"} <= set(environment)


def test_every_long_running_service_has_a_health_check():
    import yaml

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for name in ("db", "redis", "web", "worker", "beat"):
        assert "healthcheck" in compose["services"][name], name
