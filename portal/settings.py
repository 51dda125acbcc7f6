"""Lifeboat settings: one file, read from the environment.

Two modes, chosen by LIFEBOAT_MODE:

- ``demo`` (the default): every variable has an embedded default, so ``make run`` and
  ``.venv/bin/python manage.py ...`` work in a fresh checkout with no environment at all.
  State lives under ``var/`` (a SQLite database, a SQLite-backed Celery broker, blobs and a
  per-checkout random secret key). With no Microsoft tenant configured, the portal talks
  to the bundled sandbox tenant. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
- ``production``: nothing security-relevant has a default. A missing or malformed variable
  stops start-up with a message naming it.

Every variable is documented in .env.example and the README.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from cryptography.fernet import Fernet
from django.utils.csp import CSP

from portal import clouds, env
from portal import logging as structured_logging

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.string("LIFEBOAT_VAR_DIR", str(BASE_DIR / "var")))

LIFEBOAT_MODE = env.choice("LIFEBOAT_MODE", "demo", ("demo", "production"))
PRODUCTION = LIFEBOAT_MODE == "production"


def _required_in_production(name: str, demo_default: str) -> str:
    return env.string(name) if PRODUCTION else env.string(name, demo_default)


# --- Core -----------------------------------------------------------------------------

DEBUG = env.boolean("DEBUG", False)
if PRODUCTION and DEBUG:
    raise env.ConfigurationError("DEBUG must be False when LIFEBOAT_MODE is production.")

if PRODUCTION:
    SECRET_KEY = env.string("SECRET_KEY")
else:
    SECRET_KEY = env.raw("SECRET_KEY") or env.stored_secret(
        VAR_DIR / "demo-secret-key", lambda: secrets.token_urlsafe(50)
    )
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise env.ConfigurationError(
        "SECRET_KEY must be at least 50 characters of random text "
        '(python -c "import secrets; print(secrets.token_urlsafe(50))").'
    )

# Public base URL of the portal, as people type it. Used for OAuth redirect URIs,
# links in sign-in instructions and trusted origins.
PORTAL_URL = env.url(
    "PORTAL_URL",
    env.string("PORTAL_URL") if PRODUCTION else "http://127.0.0.1:8000",
    schemes=("https",) if PRODUCTION else ("http", "https"),
).rstrip("/")
_portal = urlsplit(PORTAL_URL)
PORTAL_USES_HTTPS = _portal.scheme == "https"

ALLOWED_HOSTS = env.string_list(
    "ALLOWED_HOSTS", env.string_list("ALLOWED_HOSTS") if PRODUCTION else ["127.0.0.1", "localhost"]
)
if _portal.hostname not in ALLOWED_HOSTS and "*" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_portal.hostname or "")
CSRF_TRUSTED_ORIGINS = [f"{_portal.scheme}://{_portal.netloc}"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # only for its templates and the Swagger UI assets it ships (no CDN)
    "portal",
    "authflow",
    "restore",
    # The sandbox tenant (the demo's and the tests' Microsoft) is not installed in
    # production: no models, no tables, no commands. Its URLs follow SANDBOX_ENABLED.
    *([] if PRODUCTION else ["sandbox"]),
    "api",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.CorrelationIdMiddleware",
    "portal.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "authflow.User"
LOGIN_URL = "authflow:sign-in"
LOGIN_REDIRECT_URL = "portal:home"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # "N restores wait for your answer" on every page (restore/jobs/consent.py).
                "restore.jobs.consent.waiting_requests",
                # "N items, size" in the selection basket (restore/catalog/basket.py).
                "restore.catalog.basket.summary",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------

DATABASE_URL = _required_in_production("DATABASE_URL", f"sqlite:///{VAR_DIR / 'lifeboat.sqlite3'}")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
except (ValueError, KeyError):
    raise env.ConfigurationError(
        "DATABASE_URL must look like postgres://user:password@host:5432/name "
        "or sqlite:///path/to/file.sqlite3."
    ) from None
if _database["ENGINE"] not in (
    "django.db.backends.postgresql",
    "django.db.backends.sqlite3",
):
    raise env.ConfigurationError("DATABASE_URL must be a postgres:// or sqlite:// URL.")
if PRODUCTION and _database["ENGINE"] != "django.db.backends.postgresql":
    raise env.ConfigurationError("DATABASE_URL must be a postgres:// URL in production.")
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the demo database: WAL lets readers and one writer work
    # side by side, IMMEDIATE transactions take the write lock up front (no upgrade
    # deadlocks) and the timeout makes a busy writer wait instead of failing.
    Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _database["CONN_MAX_AGE"] = 0
    _database["CONN_HEALTH_CHECKS"] = False
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Covering indexes (INCLUDE columns, restore.Item's search indexes) are PostgreSQL's;
    # the demo's SQLite builds them without those columns, which is all it needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DATABASES = {"default": _database}

# --- Redis, Celery and the cache ------------------------------------------------------

REDIS_URL = env.raw("REDIS_URL") or None
if PRODUCTION and not REDIS_URL:
    raise env.ConfigurationError("Set the REDIS_URL environment variable.")
if REDIS_URL:
    REDIS_URL = env.url("REDIS_URL", schemes=("redis", "rediss", "unix"))

# Job state lives in the database; the broker only carries messages. Without Redis the
# demo uses kombu's SQLAlchemy transport on its own SQLite file (see the README for why).
CELERY_BROKER_URL = (
    env.string("CELERY_BROKER_URL", REDIS_URL)
    if REDIS_URL
    else env.string("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A worker outlives broker restarts (celery/app/defaults.py, Celery 5.7; docs/reliability.md):
# it retries the broker connection at start-up and after losing it, without the default
# limit of 100 attempts after which it exits with "Unrecoverable error". A restore that
# is running meanwhile goes on (its state is in the database, not the broker): it is not
# cancelled on connection loss; a redelivered message finds the job claimed and does nothing.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 60 * 60, minimum=60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
if CELERY_BROKER_URL.startswith(("redis", "rediss", "unix")):
    # With acks_late on Redis an unacknowledged message is redelivered after the
    # visibility timeout: keep it longer than the longest task.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": 2 * CELERY_TASK_TIME_LIMIT
    }
elif CELERY_BROKER_URL.startswith("sqla+sqlite"):
    # Passed to SQLAlchemy's create_engine: wait for a busy SQLite file, don't fail.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"connect_args": {"timeout": 30}}
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_BEAT_SCHEDULE_FILENAME = env.string(
    "CELERY_BEAT_SCHEDULE_FILENAME", str(VAR_DIR / "celerybeat-schedule")
)
# One beat sends: a second one waits as a standby behind a lock in the database and
# takes over when the first stops renewing it (portal/beat.py).
CELERY_BEAT_SCHEDULER = "portal.beat:LeaderScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
BEAT_LOCK_SECONDS = env.integer("BEAT_LOCK_SECONDS", 30, minimum=2 * CELERY_BEAT_MAX_LOOP_INTERVAL)
# Each worker records its own heartbeat every WORKER_HEARTBEAT_SECONDS (portal/health.py);
# one silent for WORKER_STALE_SECONDS counts as dead.
WORKER_HEARTBEAT_SECONDS = env.integer("WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
WORKER_STALE_SECONDS = env.integer(
    "WORKER_STALE_SECONDS", 3 * WORKER_HEARTBEAT_SECONDS, minimum=WORKER_HEARTBEAT_SECONDS + 1
)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # A safety net: sign-ins kick the poller themselves; this restarts it after a crash.
    "run-sign-in-poller": {"task": "authflow.tasks.run_poller", "schedule": 10.0},
    "refresh-tokens-ahead": {"task": "authflow.tasks.refresh_tokens_ahead", "schedule": 300.0},
    "purge-old-sign-ins": {"task": "authflow.tasks.purge_old_sign_ins", "schedule": 86400.0},
    # Ends, within 10 minutes, the access of accounts disabled, deleted or whose sessions
    # were revoked in the tenant, even when idle (authflow/account_checks.py).
    "check-accounts": {"task": "authflow.tasks.check_accounts", "schedule": 300.0},
    # Reads what each tenant granted the app (consent can be withdrawn): docs/tenants.md.
    "verify-tenants": {"task": "authflow.tasks.verify_tenants", "schedule": 86400.0},
    # Backs up every enabled object whose last run is older than BACKUP_INTERVAL.
    "backup-due-objects": {"task": "restore.tasks.backup_due_objects", "schedule": 300.0},
    # Restarts restore jobs whose worker died (no heartbeat) and queued jobs never picked up.
    "resume-stalled-restores": {"task": "restore.tasks.resume_stalled_jobs", "schedule": 60.0},
    # Verifies one rotating slice of the stored content (1/BLOB_VERIFY_SLICES) a day.
    "verify-blob-slice": {"task": "restore.tasks.verify_blob_slice", "schedule": 86400.0},
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "lifeboat",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Tokens at rest -------------------------------------------------------------------

# Comma-separated Fernet keys. The first encrypts; all decrypt, so a new key can be put
# in front and `manage.py rotate_token_keys` re-encrypts everything under it.
if PRODUCTION:
    TOKEN_ENCRYPTION_KEYS = env.string_list("TOKEN_ENCRYPTION_KEYS")
else:
    TOKEN_ENCRYPTION_KEYS = env.string_list(
        "TOKEN_ENCRYPTION_KEYS",
        [
            env.stored_secret(
                VAR_DIR / "demo-token-key", lambda: Fernet.generate_key().decode("ascii")
            )
        ],
    )
for _key in TOKEN_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise env.ConfigurationError(
            "TOKEN_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes; "
            'python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())").'
        ) from None

# --- Microsoft (Entra ID and Graph) ---------------------------------------------------

# With no tenant configured, the demo uses the bundled sandbox tenant, served by this
# same site under /sandbox/. The portal reaches it through exactly the code paths it
# uses for Microsoft: only MICROSOFT_ROUTES sends Microsoft's host names elsewhere.
SANDBOX_ENABLED = env.boolean(
    "SANDBOX_ENABLED", not PRODUCTION and not env.raw("MICROSOFT_TENANT_ID")
)
if PRODUCTION and SANDBOX_ENABLED:
    raise env.ConfigurationError(
        "SANDBOX_ENABLED must be False in production: the sandbox signs in anyone."
    )
# Where this deployment's processes reach the sandbox (back channel) ...
SANDBOX_URL = env.url("SANDBOX_URL", f"{PORTAL_URL}/sandbox", schemes=("http", "https")).rstrip("/")
# ... and where browsers do (device login and sign-in pages). They differ in containers.
SANDBOX_PUBLIC_URL = env.url(
    "SANDBOX_PUBLIC_URL", f"{PORTAL_URL}/sandbox", schemes=("http", "https")
).rstrip("/")

# One setting picks the cloud: its authority host, issuer hosts, Graph URL and Graph
# resource (portal/clouds.py, docs/clouds.md). Each can still be overridden on its own.
MICROSOFT_CLOUD = env.choice("MICROSOFT_CLOUD", "global", tuple(clouds.CLOUDS))
_cloud = clouds.CLOUDS[MICROSOFT_CLOUD]
MICROSOFT_AUTHORITY_HOST = env.hostname("MICROSOFT_AUTHORITY_HOST", _cloud.authority_host)
MICROSOFT_GRAPH_URL = env.url("MICROSOFT_GRAPH_URL", _cloud.graph_url, schemes=("https",)).rstrip(
    "/"
)
_graph = urlsplit(MICROSOFT_GRAPH_URL)
# The resource Graph tokens are for: every Graph scope is qualified with it.
MICROSOFT_GRAPH_RESOURCE = env.url(
    "MICROSOFT_GRAPH_RESOURCE", f"{_graph.scheme}://{_graph.netloc}", schemes=("https",)
).rstrip("/")
# Microsoft's own authorities get msal's instance discovery and authority validation;
# any other host is a custom (standards-only) OpenID provider.
MICROSOFT_AUTHORITY_KIND = (
    "microsoft" if MICROSOFT_AUTHORITY_HOST in clouds.MICROSOFT_AUTHORITY_HOSTS else "custom"
)
# Hosts a tenant's discovery document may name as its issuer. The cloud's own when the
# authority is the cloud's; only the authority host itself for any other authority.
MICROSOFT_ISSUER_HOSTS = [
    host.lower()
    for host in env.string_list(
        "MICROSOFT_ISSUER_HOSTS",
        list(_cloud.issuer_hosts)
        if _cloud.authority_host == MICROSOFT_AUTHORITY_HOST
        else [MICROSOFT_AUTHORITY_HOST],
    )
]
# `prompt` for browser sign-in. Unset: select_account, only where the tenant's discovery
# document lists it in prompt_values_supported. Set: always sent (e.g. consent).
MICROSOFT_PROMPT = env.string("MICROSOFT_PROMPT", "")

# The sandbox tenant's fixed ids, written out here: settings import nothing of the
# sandbox. tests/sandbox/test_demo_defaults.py checks them against what it serves.
if SANDBOX_ENABLED and not env.raw("MICROSOFT_TENANT_ID"):
    MICROSOFT_TENANT_ID = "5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f"  # contoso.example
    MICROSOFT_CLIENT_ID = "3f2e1d0c-9b8a-4765-8432-10fedcba9876"  # confidential web app
    MICROSOFT_PUBLIC_CLIENT_ID = "0e4a6c8d-2b1f-4e3a-9c5d-7f6e8a9b0c1d"  # device code
    # Not a secret: the sandbox exists only on the machine that runs it.
    MICROSOFT_CLIENT_SECRET: str | None = "sandbox-client-secret-not-a-real-secret"  # noqa: S105
    MICROSOFT_CLIENT_CERTIFICATE_PATH: str | None = None
else:
    MICROSOFT_TENANT_ID = env.tenant("MICROSOFT_TENANT_ID")
    MICROSOFT_CLIENT_ID = env.guid("MICROSOFT_CLIENT_ID")
    MICROSOFT_PUBLIC_CLIENT_ID = env.guid("MICROSOFT_PUBLIC_CLIENT_ID", MICROSOFT_CLIENT_ID)
    MICROSOFT_CLIENT_SECRET = env.raw("MICROSOFT_CLIENT_SECRET") or None
    MICROSOFT_CLIENT_CERTIFICATE_PATH = env.certificate_file("MICROSOFT_CLIENT_CERTIFICATE_PATH")
    if not (MICROSOFT_CLIENT_SECRET or MICROSOFT_CLIENT_CERTIFICATE_PATH):
        raise env.ConfigurationError(
            "Set MICROSOFT_CLIENT_SECRET or MICROSOFT_CLIENT_CERTIFICATE_PATH "
            "(the browser sign-in and the backups need the app's credential)."
        )

# Tenants whose users may sign in. Defaults to the configured tenant when that is a GUID;
# a tenant given by domain name needs the list spelled out.
MICROSOFT_ALLOWED_TENANT_IDS = env.guid_list(
    "MICROSOFT_ALLOWED_TENANT_IDS",
    [MICROSOFT_TENANT_ID] if "." not in MICROSOFT_TENANT_ID else env.REQUIRED,
)

# Portal roles from Entra groups (the id_token's groups claim); app roles
# Lifeboat.Admin / Lifeboat.Helpdesk work without configuration.
ADMIN_GROUP_IDS = env.guid_list("ADMIN_GROUP_IDS", [])
HELPDESK_GROUP_IDS = env.guid_list("HELPDESK_GROUP_IDS", [])

# Signing oneself in with a device code in a browser is what device-code phishing abuses
# (RFC 8628 §5.4; docs/sign-in-security.md): off in production unless an admin turns it
# on, optionally only from given networks. Helpdesk sign-ins (bound to an expected
# account), `manage.py login` and operators' own scripts are not affected.
SELF_DEVICE_CODE_SIGN_IN = env.boolean("SELF_DEVICE_CODE_SIGN_IN", not PRODUCTION)
SELF_DEVICE_CODE_NETWORKS = env.networks("SELF_DEVICE_CODE_NETWORKS", [])
# The name Microsoft's consent and code pages show for the portal's app registration.
MICROSOFT_APP_NAME = env.string("MICROSOFT_APP_NAME", "Lifeboat")

# Where Microsoft's host names are really sent: "host=base-url" pairs. Empty for a real
# tenant. The sandbox fills it so that https://login.microsoftonline.com/... and
# https://graph.microsoft.com/... reach the local sandbox instead.
MICROSOFT_ROUTES = env.routes(
    "MICROSOFT_ROUTES",
    {
        MICROSOFT_AUTHORITY_HOST: f"{SANDBOX_URL}/login",
        _graph.hostname or "": f"{SANDBOX_URL}/graph",
    }
    if SANDBOX_ENABLED
    else {},
)
# CA bundle for Microsoft endpoints (a TLS-inspecting proxy, a private cloud). Passed with
# every request, so it wins over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment.
MICROSOFT_CA_BUNDLE = env.ca_bundle("MICROSOFT_CA_BUNDLE")
MICROSOFT_HTTP_TIMEOUT = env.integer("MICROSOFT_HTTP_TIMEOUT", 30, minimum=1)

# --- Backups and restores -------------------------------------------------------------

# Where backed-up MIME and file bytes live (restore/blobs/): file:///path (one host, or a
# shared file system) or s3://bucket/prefix (any S3-compatible store; several hosts share
# it). BLOB_ROOT, the older name of a file store's path, still works.
BLOB_STORE_URL = env.url(
    "BLOB_STORE_URL",
    f"file://{Path(env.string('BLOB_ROOT', str(VAR_DIR / 'blobs'))).resolve()}",
    schemes=("file", "s3"),
)
if BLOB_STORE_URL.startswith("s3://") and not urlsplit(BLOB_STORE_URL).netloc:
    raise env.ConfigurationError("BLOB_STORE_URL must name a bucket: s3://bucket/prefix.")
# For s3://: the server (empty = AWS), its region, and credentials (empty = boto3's usual
# chain: AWS_* variables, instance profile, ~/.aws).
BLOB_S3_ENDPOINT_URL = env.raw("BLOB_S3_ENDPOINT_URL") or ""
if BLOB_S3_ENDPOINT_URL:
    env.url("BLOB_S3_ENDPOINT_URL", schemes=("http", "https"))
BLOB_S3_REGION = env.string("BLOB_S3_REGION", "")
BLOB_S3_ACCESS_KEY_ID = env.string("BLOB_S3_ACCESS_KEY_ID", "")
BLOB_S3_SECRET_ACCESS_KEY = env.string("BLOB_S3_SECRET_ACCESS_KEY", "")
BLOB_S3_ADDRESSING_STYLE = env.choice(
    "BLOB_S3_ADDRESSING_STYLE", "auto", ("auto", "path", "virtual")
)

# Content at rest is sealed with AES-256-GCM (restore/blobs/sealing.py). Comma-separated
# keys of 32 url-safe base64 bytes: the first seals, all open, so a new key goes in front
# and `manage.py rotate_blob_keys` re-seals everything under it. BLOB_ADDRESS_KEY keys the
# per-tenant content addresses and never changes. Keep both with the database backup.
_BLOB_KEY_HELP = (
    'python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
)
if PRODUCTION:
    BLOB_ENCRYPTION_KEYS = env.string_list("BLOB_ENCRYPTION_KEYS")
    BLOB_ADDRESS_KEY = env.string("BLOB_ADDRESS_KEY")
else:
    BLOB_ENCRYPTION_KEYS = env.string_list(
        "BLOB_ENCRYPTION_KEYS",
        [env.stored_secret(VAR_DIR / "demo-blob-key", lambda: Fernet.generate_key().decode())],
    )
    BLOB_ADDRESS_KEY = env.string(
        "BLOB_ADDRESS_KEY",
        env.stored_secret(
            VAR_DIR / "demo-blob-address-key", lambda: Fernet.generate_key().decode()
        ),
    )
for _name, _values in (
    ("BLOB_ENCRYPTION_KEYS", BLOB_ENCRYPTION_KEYS),
    ("BLOB_ADDRESS_KEY", [BLOB_ADDRESS_KEY]),
):
    for _key in _values:
        try:
            _blob_key = base64.urlsafe_b64decode(_key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            _blob_key = b""
        if len(_blob_key) != 32:
            raise env.ConfigurationError(
                f"{_name} must hold keys of 32 url-safe base64-encoded bytes ({_BLOB_KEY_HELP})."
            )
# Each day the beat task checks this fraction (1/N) of the stored content (rotating).
BLOB_VERIFY_SLICES = env.integer("BLOB_VERIFY_SLICES", 30, minimum=1)
# How often each protected object is backed up (seconds).
BACKUP_INTERVAL = env.integer("BACKUP_INTERVAL", 24 * 60 * 60, minimum=60)
# How long a restore session's resolved scope is reused before Graph is asked again.
RESTORE_SESSION_AGE = env.integer("RESTORE_SESSION_AGE", 15 * 60, minimum=60)
# Concurrent Graph requests per mailbox during a restore (Outlook allows 4).
RESTORE_CONCURRENCY_PER_MAILBOX = env.integer("RESTORE_CONCURRENCY_PER_MAILBOX", 4, minimum=1)
# A running restore whose worker has not beaten for this long is taken over by another.
RESTORE_STALE_SECONDS = env.integer("RESTORE_STALE_SECONDS", 60, minimum=1)
# A request slot of a mailbox frees itself after this long if its worker died holding it.
RESTORE_SLOT_LEASE_SECONDS = env.integer("RESTORE_SLOT_LEASE_SECONDS", 60, minimum=1)
# Outlook's upload budget per app and mailbox (150 MB per 5 minutes): a restore spaces its
# uploads to stay within it instead of meeting 429s (restore/jobs/throttle.py). 0: off.
RESTORE_UPLOAD_BYTES_PER_WINDOW = env.integer(
    "RESTORE_UPLOAD_BYTES_PER_WINDOW", 150 * 1024 * 1024, minimum=0
)
RESTORE_UPLOAD_WINDOW_SECONDS = env.integer("RESTORE_UPLOAD_WINDOW_SECONDS", 300, minimum=1)
# How long a restore item waits out transient faults (database or Redis down, connection
# resets, Graph 429/5xx) before it is given up as failed (restore/jobs/faults.py).
RESTORE_RETRY_BUDGET_SECONDS = env.integer("RESTORE_RETRY_BUDGET_SECONDS", 30 * 60, minimum=1)
# A restore into another person's mailbox or drive waits this long for them to agree.
RESTORE_CONSENT_HOURS = env.integer("RESTORE_CONSENT_HOURS", 72, minimum=1)
# A download job can be fetched (again and again) for this long after it was prepared.
RESTORE_DOWNLOAD_HOURS = env.integer("RESTORE_DOWNLOAD_HOURS", 24, minimum=1)

# --- The REST API (/api/v1/) --------------------------------------------------------

# The scope restore operators' scripts ask for: api://<MICROSOFT_CLIENT_ID>/<this>.
PORTAL_API_SCOPE = env.string("PORTAL_API_SCOPE", "access_as_user")
# Lifetimes of the portal's own API tokens (opaque, stored hashed).
API_ACCESS_TOKEN_LIFETIME = env.integer("API_ACCESS_TOKEN_LIFETIME", 3600, minimum=60)
API_REFRESH_TOKEN_LIFETIME = env.integer("API_REFRESH_TOKEN_LIFETIME", 14 * 86400, minimum=300)
# A token family (one grant and all its refreshes) ends this long after the grant, however
# often it is refreshed: then the script must prove itself to Microsoft again.
API_TOKEN_FAMILY_LIFETIME = env.integer("API_TOKEN_FAMILY_LIFETIME", 14 * 86400, minimum=300)
# A refresh asks Microsoft whether the person's account and sessions are still valid at
# most this often per person (the answer is cached); it fails closed when Microsoft cannot say.
API_GRANT_CHECK_SECONDS = env.integer("API_GRANT_CHECK_SECONDS", 300, minimum=0)
# POST /api/v1/token per client address (django-ratelimit syntax), and its largest body.
API_TOKEN_RATE = env.rate("API_TOKEN_RATE", "30/m")
API_TOKEN_MAX_BODY = 64 * 1024

# --- Passwords, sessions, security headers --------------------------------------------

# Nobody signs in with a password: people sign in with Microsoft. Django still needs a
# hasher for the unusable passwords it stores.
AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []

SESSION_COOKIE_AGE = env.integer("SESSION_COOKIE_AGE", 8 * 60 * 60, minimum=300)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PORTAL_USES_HTTPS
CSRF_COOKIE_SECURE = PORTAL_USES_HTTPS
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_NAME = "__Host-lifeboat-session" if PORTAL_USES_HTTPS else "lifeboat-session"
CSRF_COOKIE_NAME = "__Host-lifeboat-csrf" if PORTAL_USES_HTTPS else "lifeboat-csrf"
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", PRODUCTION)
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto header. Only set this when
# the proxy always overwrites the header.
if env.boolean("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Health checks come from the orchestrator over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|livez|readyz|metrics)$"]

# Django's built-in Content Security Policy. Nothing inline: scripts carry a nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "frame-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# Request bodies: the portal takes small forms and JSON, never uploads.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Internationalisation, static files -----------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.timezone_name("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves collected, hashed files (`collectstatic`, done in the Dockerfile); the
# demo serves them straight from the app directories.
STATIC_MANIFEST = env.boolean("STATIC_MANIFEST", PRODUCTION)
STATIC_ROOT = (
    Path(env.string("STATIC_ROOT", str(BASE_DIR / "staticfiles"))) if STATIC_MANIFEST else None
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# --- Logging, metrics, error reporting -------------------------------------------------

LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
# json: one JSON object a line (for a log shipper); text: readable lines. Both carry the
# request id, or the task and its job / run / sign-in id, and both are redacted.
LOG_FORMAT = env.choice("LOG_FORMAT", "json" if PRODUCTION else "text", ("json", "text"))
LOGGING = structured_logging.config(LOG_LEVEL, LOG_FORMAT)

# GET /metrics (Prometheus): from these networks, or anywhere with the bearer token.
METRICS_ALLOWED_NETWORKS = env.networks("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
METRICS_BEARER_TOKEN = env.raw("METRICS_BEARER_TOKEN") or None
# Celery workers' own counters (Graph requests, token refresh failures): served on this
# port by each worker when set; keep it inside the deployment's network.
METRICS_WORKER_PORT = env.integer("METRICS_WORKER_PORT", 0, minimum=0)
METRICS_WORKER_ADDRESS = env.string("METRICS_WORKER_ADDRESS", "0.0.0.0")  # noqa: S104
if METRICS_BEARER_TOKEN is not None and len(METRICS_BEARER_TOKEN) < 32:
    raise env.ConfigurationError("METRICS_BEARER_TOKEN must be at least 32 characters.")

# Optional error reporting to Sentry (or a compatible service), scrubbed like the logs.
SENTRY_DSN = env.url("SENTRY_DSN", "", schemes=("https", "http")) if env.raw("SENTRY_DSN") else ""
SENTRY_ENVIRONMENT = env.string("SENTRY_ENVIRONMENT", LIFEBOAT_MODE)
if SENTRY_DSN:
    from portal import error_reporting

    error_reporting.init(SENTRY_DSN, SENTRY_ENVIRONMENT)
