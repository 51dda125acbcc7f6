"""Make sure what the test suite needs is running: PostgreSQL, Redis and Chromium.

Starts PostgreSQL and Redis when they are installed but stopped, installs Debian's
Chromium for the browser tests when apt is available, installs the contract suite's
OpenID provider (oidc-provider, pinned by tests/contract/provider/package-lock.json) with
`npm ci`, and otherwise says exactly what is missing and how to get it. Run by
`make test`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def test_setting(name: str) -> str:
    """The value pytest will use: the environment, else pyproject's [tool.pytest_env]."""
    if value := os.environ.get(name):
        return value
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entry = config["tool"]["pytest_env"][name]
    return entry["value"] if isinstance(entry, dict) else entry


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(host, port):
            return True
        time.sleep(0.25)
    return False


def run(command: list[str]) -> None:
    print("  $", " ".join(command))
    subprocess.run(command, check=False)  # noqa: S603 (fixed commands)


def start_postgresql() -> None:
    if shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        for version in sorted(os.listdir("/etc/postgresql")):
            run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"])
    elif shutil.which("pg_ctl") and os.environ.get("PGDATA"):
        run(
            [
                "pg_ctl",
                "start",
                "--wait",
                "--log",
                str(Path(tempfile.gettempdir()) / "lifeboat-postgresql.log"),
            ]
        )


def start_redis(port: int) -> None:
    if shutil.which("redis-server"):
        workdir = (
            "/var/lib/redis" if os.access("/var/lib/redis", os.W_OK) else tempfile.gettempdir()
        )
        run(
            [
                "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
                "--save", "", "--appendonly", "no", "--dir", workdir,
            ]
        )  # fmt: skip


def ensure_service(
    name: str, url: str, default_port: int, start: Callable[..., object], how_to_get: str
) -> bool:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    if reachable(host, port):
        print(f"{name}: reachable at {host}:{port}")
        return True
    local = host in ("127.0.0.1", "localhost", "::1")
    if local:
        print(f"{name}: not answering on {host}:{port}; trying to start it")
        start(port) if name == "Redis" else start()
        if wait_for(host, port):
            print(f"{name}: started")
            return True
    print(f"\n{name} is needed by the tests and is not reachable at {host}:{port}.\n{how_to_get}\n")
    return False


def apt_install(package: str) -> None:
    """Install a Debian package when we may (root with apt); otherwise do nothing."""
    apt = shutil.which("apt-get")
    if not apt or os.geteuid() != 0:
        return
    print(f"Installing Debian's {package} for the tests")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run([apt, "install", "-y", "-q", package], check=False, env=env).returncode:  # noqa: S603
        subprocess.run([apt, "update", "-q"], check=False, env=env)  # noqa: S603
        subprocess.run([apt, "install", "-y", "-q", package], check=False, env=env)  # noqa: S603


def ensure_chromium() -> bool:
    if not Path(CHROMIUM).exists():
        apt_install("chromium")
    if Path(CHROMIUM).exists():
        print(f"Chromium: {CHROMIUM}")
        return True
    print(
        "\nThe browser tests drive Debian's Chromium at /usr/bin/chromium, which is missing.\n"
        "Install it with: sudo apt-get install chromium\n"
    )
    return False


def has_compose() -> bool:
    if shutil.which("docker-compose"):
        return True
    docker = shutil.which("docker")
    return (
        docker is not None
        and subprocess.run(  # noqa: S603
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )


def ensure_compose() -> bool:
    """The compose file is validated with `docker compose config` (no engine needed)."""
    if not has_compose():
        apt_install("docker-compose")
    if has_compose():
        print("Compose: available to validate compose.yaml")
        return True
    print(
        "\nValidating compose.yaml needs `docker compose` or `docker-compose`.\n"
        "Install one (Debian/Ubuntu: sudo apt-get install docker-compose)\n"
    )
    return False


CONTRACT_PROVIDER = ROOT / "tests" / "contract" / "provider"


def ensure_contract_provider() -> bool:
    """npm ci the pinned oidc-provider when the lock file is newer than what is installed.
    Without node and npm the contract suite skips itself, saying why (not a failure)."""
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        print(
            "\n*** Node.js and npm are missing: the contract suite (tests/contract) will be "
            "SKIPPED.\n*** Install them (Debian/Ubuntu: sudo apt-get install nodejs npm) to "
            "run it.\n"
        )
        return True
    lock = CONTRACT_PROVIDER / "package-lock.json"
    installed = CONTRACT_PROVIDER / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        print("Contract provider: oidc-provider installed")
        return True
    print("Contract provider: installing oidc-provider from the npm registry (npm ci)")
    result = subprocess.run(  # noqa: S603 (fixed command)
        [npm, "ci", "--no-audit", "--no-fund"], cwd=CONTRACT_PROVIDER, check=False
    )
    if result.returncode:
        print("\nnpm ci failed in tests/contract/provider; see the output above.\n")
        return False
    return True


def ensure_commands(*names: str) -> bool:
    """Command-line tools a test runs as a person would (docs/api.md's walk-through: curl,
    jq), installed from Debian's packages when missing and we may."""
    ok = True
    for name in names:
        if shutil.which(name) is None:
            apt_install(name)
        if shutil.which(name) is None:
            print(f"{name} is missing: install it (Debian/Ubuntu: sudo apt-get install {name}).")
            ok = False
    return ok


def main() -> int:
    ok = ensure_service(
        "PostgreSQL",
        test_setting("DATABASE_URL"),
        5432,
        start_postgresql,
        "Install and start it (Debian/Ubuntu: sudo apt-get install postgresql), allow the\n"
        "test user to connect (trust or a password in DATABASE_URL), or point DATABASE_URL\n"
        "at a server you have, e.g. DATABASE_URL=postgres://user:pass@host:5432/lifeboat make test",
    )
    ok &= ensure_service(
        "Redis",
        test_setting("REDIS_URL"),
        6379,
        start_redis,
        "Install and start it (Debian/Ubuntu: sudo apt-get install redis-server), or point\n"
        "REDIS_URL at a server you have, e.g. REDIS_URL=redis://host:6379/9 make test",
    )
    ok &= ensure_chromium()
    ok &= ensure_commands("curl", "jq")
    ok &= ensure_compose()
    ok &= ensure_contract_provider()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
