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
        ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE must be an IANA time zone name"),
        ("API_TOKEN_RATE", "lots", "API_TOKEN_RATE must be a rate such as 30/m"),
        ("API_TOKEN_RATE", "0/m", "API_TOKEN_RATE must be a rate"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of: json, text"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
        ("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,intranet", "METRICS_ALLOWED_NETWORKS must be a comma-separated list of addresses"),
        ("METRICS_BEARER_TOKEN", "short-token", "METRICS_BEARER_TOKEN must be at least 32 characters"),
        ("METRICS_WORKER_PORT", "http", "METRICS_WORKER_PORT must be a whole number"),
        ("SENTRY_DSN", "ftp://key@sentry.example/1", "SENTRY_DSN must be a URL starting with https://"),
        ("BEAT_LOCK_SECONDS", "3", "BEAT_LOCK_SECONDS must be at least 10"),
        ("WORKER_HEARTBEAT_SECONDS", "0", "WORKER_HEARTBEAT_SECONDS must be at least 1"),
        ("SESSION_COOKIE_AGE", "a day", "SESSION_COOKIE_AGE must be a whole number"),
        ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS must be at least 0"),
        ("MICROSOFT_HTTP_TIMEOUT", "0", "MICROSOFT_HTTP_TIMEOUT must be at least 1"),
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


def make_pem(tmp_path: Path, *, days: int = 30, matching_key: bool = True) -> Path:
    """A PEM file with a private key and a self-signed certificate, as Entra takes them."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = key if matching_key else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lifeboat")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(signer.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=60)).not_valid_after(now + timedelta(days=days))
        .sign(signer, hashes.SHA256())
    )  # fmt: skip
    path = tmp_path / f"app-{days}-{matching_key}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + certificate.public_bytes(serialization.Encoding.PEM)
    )  # fmt: skip
    return path


def test_a_valid_certificate_file_is_accepted(monkeypatch, tmp_path):
    variables = {k: v for k, v in PRODUCTION.items() if k != "MICROSOFT_CLIENT_SECRET"}
    pem = make_pem(tmp_path)
    loaded = load_settings(
        monkeypatch, tmp_path, **variables, MICROSOFT_CLIENT_CERTIFICATE_PATH=str(pem)
    )
    assert loaded["MICROSOFT_CLIENT_CERTIFICATE_PATH"] == str(pem)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "MICROSOFT_CLIENT_CERTIFICATE_PATH names a file that cannot be read"),
        ("not-pem", "MICROSOFT_CLIENT_CERTIFICATE_PATH must name a PEM file holding"),
        ("certificate-only", "MICROSOFT_CLIENT_CERTIFICATE_PATH must name a PEM file holding"),
        ("expired", "MICROSOFT_CLIENT_CERTIFICATE_PATH: the certificate expired on"),
        ("other-key", "MICROSOFT_CLIENT_CERTIFICATE_PATH: the private key does not belong"),
    ],
)
def test_a_bad_certificate_file_stops_start_up(monkeypatch, tmp_path, kind, message):
    path = tmp_path / "app.pem"
    if kind == "not-pem":
        path.write_text("this is a password, not a certificate")
    elif kind == "certificate-only":
        pem = make_pem(tmp_path).read_text()
        path.write_text(pem[pem.index("-----BEGIN CERTIFICATE-----") :])
    elif kind == "expired":
        path = make_pem(tmp_path, days=-1)
    elif kind == "other-key":
        path = make_pem(tmp_path, matching_key=False)
    variables = {**PRODUCTION, "MICROSOFT_CLIENT_CERTIFICATE_PATH": str(path)}
    with pytest.raises(ConfigurationError) as raised:
        load_settings(monkeypatch, tmp_path, **variables)
    assert message in str(raised.value)
    assert "password" not in str(raised.value)


def test_a_ca_bundle_must_hold_certificates(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="MICROSOFT_CA_BUNDLE must name a PEM file"):
        load_settings(monkeypatch, tmp_path, **PRODUCTION, MICROSOFT_CA_BUNDLE=str(bundle))
    pem = make_pem(tmp_path).read_text()
    bundle.write_text(pem[pem.index("-----BEGIN CERTIFICATE-----") :])
    loaded = load_settings(monkeypatch, tmp_path, **PRODUCTION, MICROSOFT_CA_BUNDLE=str(bundle))
    assert loaded["MICROSOFT_CA_BUNDLE"] == str(bundle)


BIN = Path(sys.executable).parent
COMMANDS = {
    "manage.py": [sys.executable, "manage.py", "check"],
    "gunicorn": [str(BIN / "gunicorn"), "portal.wsgi", "--config", "portal/gunicorn_conf.py",
                 "--bind", "127.0.0.1:0"],
    "celery worker": [str(BIN / "celery"), "--app", "portal", "worker", "--pool", "solo"],
    "celery beat": [str(BIN / "celery"), "--app", "portal", "beat"],
}  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE must be an IANA time zone name"),
        ("API_TOKEN_RATE", "lots", "API_TOKEN_RATE must be a rate such as 30/m"),
    ],
)
def test_every_process_reports_a_bad_variable_in_one_line(tmp_path, command, name, value, message):
    env = {"PATH": "/usr/bin:/bin", "LIFEBOAT_VAR_DIR": str(tmp_path), name: value}
    result = subprocess.run(
        COMMANDS[command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Lifeboat configuration error: {message}")
    assert not (tmp_path / "lifeboat.sqlite3").exists()  # nothing started


def test_gunicorn_refuses_a_malformed_worker_count(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LIFEBOAT_VAR_DIR": str(tmp_path), "GUNICORN_WORKERS": "many"}
    result = subprocess.run(
        COMMANDS["gunicorn"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Lifeboat configuration error: GUNICORN_WORKERS must be a whole number."
    )
