"""compose.yaml: every variable of .env.example reaches the containers that run Lifeboat."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker", "beat")


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


def env_example_names() -> list[str]:
    names = re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    return list(dict.fromkeys(names))


def config(tmp_path: Path, env_file: Path) -> dict:
    options = ["--env-file", str(env_file)]
    result = subprocess.run(
        [*compose_command(), "--project-directory", str(ROOT), *options,
         "-f", str(ROOT / "compose.yaml"), "config"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_with_no_env_file_it_is_the_demo_on_the_bundled_db_and_redis(tmp_path):
    empty = tmp_path / "empty.env"  # as with no .env (a checkout's own .env must not count)
    empty.write_text("")
    services = config(tmp_path, empty)["services"]
    # docker-compose 1.x lists services of every profile; Compose v2 only the default ones.
    assert set(services) - {"s3", "s3-bucket"} == {
        "db",
        "redis",
        "migrate",
        "web",
        "worker",
        "beat",
    }
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["LIFEBOAT_MODE"] == "demo"
        assert environment["DATABASE_URL"] == "postgres://lifeboat:lifeboat@db:5432/lifeboat"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"


def test_every_variable_of_env_example_reaches_every_lifeboat_container(tmp_path):
    names = env_example_names()
    assert {"DATABASE_URL", "REDIS_URL", "ADMIN_GROUP_IDS", "LOG_LEVEL", "DEBUG",
            "SECURE_HSTS_SECONDS", "MICROSOFT_CA_BUNDLE", "SENTRY_DSN"} <= set(names)  # fmt: skip
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}=value-of-{name.lower()}\n" for name in names))
    services = config(tmp_path, env_file)["services"]
    for service in APP_SERVICES:
        environment = services[service]["environment"]
        missing = [n for n in names if environment.get(n) != f"value-of-{n.lower()}"]
        assert not missing, f"{service} does not get {missing}"


def test_settings_read_no_variable_that_env_example_does_not_document():
    documented = set(env_example_names())
    read: set[str] = set()
    for source in ("portal/settings.py", "portal/gunicorn_conf.py"):
        text = (ROOT / source).read_text()
        read |= set(re.findall(r"""env\.[a-z_]+\(\s*"([A-Z][A-Z0-9_]*)\"""", text))
        read |= set(re.findall(r"""_positive\("([A-Z][A-Z0-9_]*)\"""", text))
        read |= set(re.findall(r"""os\.environ\.get\("([A-Z][A-Z0-9_]*)\"""", text))
    read -= {"DJANGO_SETTINGS_MODULE"}
    assert read - documented == set()


def test_the_s3_store_is_an_optional_profile():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    for name in ("s3", "s3-bucket"):
        assert compose["services"][name]["profiles"] == ["s3"]
    assert "healthcheck" in compose["services"]["s3"]
    environment = compose["x-app"]["environment"]
    assert {"BLOB_STORE_URL", "BLOB_S3_ENDPOINT_URL", "BLOB_ENCRYPTION_KEYS"} <= set(environment)


def test_scaling_and_shutdown_are_possible():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    worker = compose["services"]["worker"]
    # --scale worker=3: nothing in a worker may be unique to one container.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "hostname" not in worker
    # Longer than the longest warm shutdown seen (36 s) and gunicorn's graceful timeout.
    seconds = {name: int(compose["services"][name]["stop_grace_period"].rstrip("s"))
               for name in ("web", "worker", "beat")}  # fmt: skip
    assert seconds["worker"] >= 60
    assert seconds["web"] > 20
    for name in ("db", "redis", "web", "worker", "beat"):
        assert "healthcheck" in compose["services"][name], name
    volumes = compose["x-app"]["volumes"]
    assert any(v.endswith(":/app/blobs") for v in volumes)
    assert any(":/run/secrets/lifeboat" in v for v in volumes)
