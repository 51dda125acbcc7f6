"""Settings come from the environment; a bad value stops start-up and names the variable."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from portal.env import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "portal" / "settings.py"

PRODUCTION = {
    "LIFEBOAT_MODE": "production",
    "SECRET_KEY": "prod-secret-" + "x7Gq2LmN9pR4sT8vW1yZ3bC6dF0hJ5kQ" * 2,
    "TOKEN_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLTMyYnl0ZSE=",
    "DATABASE_URL": "postgres://lifeboat:pw@db.internal:5432/lifeboat",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "restore.contoso.com",
    "PORTAL_URL": "https://restore.contoso.com",
    "MICROSOFT_TENANT_ID": "11111111-2222-3333-4444-555555555555",
    "MICROSOFT_CLIENT_ID": "66666666-7777-8888-9999-000000000000",
    "MICROSOFT_CLIENT_SECRET": "a-client-secret-value",
    "BLOB_ENCRYPTION_KEYS": "cHJvZHVjdGlvbi10ZXN0LWJsb2Ita2V5LTMyLWJ5dGU=",
    "BLOB_ADDRESS_KEY": "cHJvZHVjdGlvbi10ZXN0LWFkZHJlc3Mta2V5LTMyYnk=",
    "BLOB_STORE_URL": "file:///var/lib/lifeboat/blobs",
}


def load_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **variables: str) -> dict:
    """Execute portal/settings.py afresh with exactly these variables set."""
    for name in [
        *PRODUCTION,
        "DEBUG",
        "SANDBOX_ENABLED",
        "MICROSOFT_ROUTES",
        "PORTAL_URL",
        "BLOB_ROOT",
    ]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIFEBOAT_VAR_DIR", str(tmp_path))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_demo_mode_needs_no_environment_at_all(monkeypatch, tmp_path):
    loaded = load_settings(monkeypatch, tmp_path)
    assert loaded["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded["DATABASES"]["default"]["NAME"] == str(tmp_path / "lifeboat.sqlite3")
    assert loaded["CELERY_BROKER_URL"].startswith("sqla+sqlite:///")
    assert loaded["SANDBOX_ENABLED"] is True
    assert loaded["MICROSOFT_ROUTES"]["login.microsoftonline.com"].endswith("/sandbox/login")
    assert loaded["DEBUG"] is False


def test_demo_secrets_are_generated_once_per_checkout(monkeypatch, tmp_path):
    first = load_settings(monkeypatch, tmp_path)
    second = load_settings(monkeypatch, tmp_path)
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert first["TOKEN_ENCRYPTION_KEYS"] == second["TOKEN_ENCRYPTION_KEYS"]
    assert first["BLOB_ENCRYPTION_KEYS"] == second["BLOB_ENCRYPTION_KEYS"]
    assert first["BLOB_ADDRESS_KEY"] == second["BLOB_ADDRESS_KEY"]
    assert (tmp_path / "demo-blob-key").is_file()
    other = load_settings(monkeypatch, tmp_path / "other-checkout")
    assert other["SECRET_KEY"] != first["SECRET_KEY"]


def test_production_settings_load_from_a_complete_environment(monkeypatch, tmp_path):
    loaded = load_settings(monkeypatch, tmp_path, **PRODUCTION)
    assert loaded["DATABASES"]["default"]["HOST"] == "db.internal"
    assert loaded["CELERY_BROKER_URL"] == "redis://redis.internal:6379/0"
    assert loaded["SANDBOX_ENABLED"] is False
    assert loaded["MICROSOFT_ROUTES"] == {}
    assert loaded["MICROSOFT_ALLOWED_TENANT_IDS"] == ["11111111-2222-3333-4444-555555555555"]
    assert loaded["SESSION_COOKIE_SECURE"] is True


def test_secrets_can_come_from_files(monkeypatch, tmp_path):
    secret_file = tmp_path / "client-secret"
    secret_file.write_text("secret-from-a-file\n")
    variables = {**PRODUCTION, "MICROSOFT_CLIENT_SECRET_FILE": str(secret_file)}
    del variables["MICROSOFT_CLIENT_SECRET"]
    loaded = load_settings(monkeypatch, tmp_path, **variables)
    assert loaded["MICROSOFT_CLIENT_SECRET"] == "secret-from-a-file"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://nope", "DATABASE_URL must be a postgres:// or sqlite:// URL"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("DATABASE_URL", "sqlite:///var/x.sqlite3", "DATABASE_URL must be a postgres:// URL in production"),
        ("REDIS_URL", "http://redis:6379", "REDIS_URL must be a URL starting with redis://"),
        ("TOKEN_ENCRYPTION_KEYS", "not-a-fernet-key", "TOKEN_ENCRYPTION_KEYS must hold Fernet keys"),
        ("SECRET_KEY", "short", "SECRET_KEY must be at least 50 characters"),
        ("DEBUG", "yes please", "DEBUG must be True or False"),
        ("DEBUG", "True", "DEBUG must be False when LIFEBOAT_MODE is production"),
        ("PORTAL_URL", "http://restore.contoso.com", "PORTAL_URL must be a URL starting with https://"),
        ("MICROSOFT_TENANT_ID", "not a tenant!", "MICROSOFT_TENANT_ID must be a tenant id"),
        ("MICROSOFT_CLIENT_ID", "12345", "MICROSOFT_CLIENT_ID must be a GUID"),
        ("MICROSOFT_AUTHORITY_HOST", "https://login", "MICROSOFT_AUTHORITY_HOST must be a host name"),
        ("MICROSOFT_GRAPH_URL", "http://graph.microsoft.com", "MICROSOFT_GRAPH_URL must be a URL"),
        ("MICROSOFT_ALLOWED_TENANT_IDS", "a,b", "MICROSOFT_ALLOWED_TENANT_IDS must be a comma-separated list of GUIDs"),
        ("MICROSOFT_ROUTES", "graph.example.org", "MICROSOFT_ROUTES must be a comma-separated list"),
        ("CELERY_TASK_TIME_LIMIT", "ten", "CELERY_TASK_TIME_LIMIT must be a whole number"),
        ("LIFEBOAT_MODE", "staging", "LIFEBOAT_MODE must be one of: demo, production"),
        ("BLOB_ENCRYPTION_KEYS", "too-short-to-be-a-key", "BLOB_ENCRYPTION_KEYS must hold keys"),
        ("BLOB_ADDRESS_KEY", "c2hvcnQ=", "BLOB_ADDRESS_KEY must hold keys"),
        ("BLOB_STORE_URL", "ftp://blobs.example", "BLOB_STORE_URL must be a URL starting with"),
        ("BLOB_STORE_URL", "s3:///only-a-prefix", "BLOB_STORE_URL must name a bucket"),
    ],
)  # fmt: skip
def test_a_malformed_variable_is_named_and_its_value_not_echoed(
    monkeypatch, tmp_path, name, value, message
):
    with pytest.raises(ConfigurationError) as raised:
        load_settings(monkeypatch, tmp_path, **{**PRODUCTION, name: value})
    assert message in str(raised.value)
    if len(value) > 8:
        assert value not in str(raised.value)


@pytest.mark.parametrize(
    "name",
    ["SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS",
     "PORTAL_URL", "MICROSOFT_TENANT_ID", "MICROSOFT_CLIENT_ID", "BLOB_ENCRYPTION_KEYS",
     "BLOB_ADDRESS_KEY"],
)  # fmt: skip
def test_production_refuses_to_start_without_a_required_variable(monkeypatch, tmp_path, name):
    variables = {k: v for k, v in PRODUCTION.items() if k != name}
    with pytest.raises(ConfigurationError, match=name):
        load_settings(monkeypatch, tmp_path, **variables)


def test_production_needs_a_client_secret_or_certificate(monkeypatch, tmp_path):
    variables = {k: v for k, v in PRODUCTION.items() if k != "MICROSOFT_CLIENT_SECRET"}
    with pytest.raises(
        ConfigurationError, match="MICROSOFT_CLIENT_SECRET or MICROSOFT_CLIENT_CERTIFICATE_PATH"
    ):
        load_settings(monkeypatch, tmp_path, **variables)


def test_manage_py_reports_a_bad_variable_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LIFEBOAT_VAR_DIR": str(tmp_path), "DEBUG": "maybe"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "Lifeboat configuration error: DEBUG must be True or False." in result.stderr
    assert "Traceback" not in result.stderr
