"""In production the sandbox is not part of the site: not installed, no tables, no URLs.

Each check runs manage.py (or Django set-up) in a subprocess with a complete production
environment, as a deployment would; the same checks in demo mode find the sandbox, so
they can fail. `check --deploy` staying clean is tests/portal/test_deploy_check.py.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dj_database_url
import psycopg
import pytest
from psycopg import sql

from tests.portal.test_settings import PRODUCTION

ROOT = Path(__file__).resolve().parents[2]

# What a production process sees once Django is set up and the URLconf loaded.
INSPECT = """
import json, sys
import django
django.setup()
from django.apps import apps
from django.conf import settings
from django.core.management import get_commands
from django.db.migrations.loader import MigrationLoader
from django.urls import Resolver404, resolve

def resolves(path):
    try:
        resolve(path)
    except Resolver404:
        return False
    return True

print(json.dumps({
    "installed_apps": settings.INSTALLED_APPS,
    "sandbox_installed": apps.is_installed("sandbox"),
    "migrated_apps": sorted({app for app, _ in MigrationLoader(None).graph.nodes}),
    "sandbox_urls": resolves("/sandbox/") or resolves("/sandbox/login/common/discovery/keys"),
    "commands": sorted(name for name, app in get_commands().items() if app == "sandbox"),
    "sandbox_imported": sorted(name for name in sys.modules if name.split(".")[0] == "sandbox"),
}))
"""


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "LIFEBOAT_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def inspect(tmp_path: Path, **env: str) -> dict:
    result = run(["-c", INSPECT], tmp_path, DJANGO_SETTINGS_MODULE="portal.settings", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_installs_nothing_of_the_sandbox(tmp_path):
    seen = inspect(tmp_path, **PRODUCTION)
    assert "sandbox" not in seen["installed_apps"]
    assert not seen["sandbox_installed"]
    assert "sandbox" not in seen["migrated_apps"]
    assert {"authflow", "restore", "api"} <= set(seen["migrated_apps"])
    assert not seen["sandbox_urls"]
    assert seen["commands"] == []  # no `manage.py sandbox`, no `seed_demo`
    assert seen["sandbox_imported"] == []  # not even imported on the way


def test_the_demo_has_the_sandbox(tmp_path):
    seen = inspect(tmp_path, LIFEBOAT_MODE="demo")
    assert seen["sandbox_installed"]
    assert "sandbox" in seen["migrated_apps"]
    assert seen["sandbox_urls"]
    assert {"sandbox", "seed_demo"} <= set(seen["commands"])


@pytest.fixture
def scratch_database() -> Iterator[tuple[str, dict[str, Any]]]:
    """An empty PostgreSQL database on the test server, dropped afterwards."""
    server = dj_database_url.parse(os.environ["DATABASE_URL"])
    name = f"lifeboat_production_{secrets.token_hex(4)}"
    connect: dict[str, Any] = {
        "host": server["HOST"],
        "port": server["PORT"] or 5432,
        "user": server["USER"],
        "password": server["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**connect) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name, {**connect, "dbname": name}
    finally:
        with psycopg.connect(**connect) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_migrating_a_production_database_creates_no_sandbox_table(tmp_path, scratch_database):
    name, connect = scratch_database
    auth = (
        f"{connect['user']}:{connect['password']}@"
        if connect["password"]
        else f"{connect['user']}@"
    )
    url = f"postgres://{auth}{connect['host']}:{connect['port']}/{name}"
    result = run(
        ["manage.py", "migrate", "--noinput"], tmp_path, **{**PRODUCTION, "DATABASE_URL": url}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(**connect) as database:
        tables = {
            row[0]
            for row in database.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
        applied = {row[0] for row in database.execute("SELECT DISTINCT app FROM django_migrations")}
    assert "restore_restorepoint" in tables  # the product's tables are there
    assert not {table for table in tables if table.startswith("sandbox_")}
    assert "sandbox" not in applied
