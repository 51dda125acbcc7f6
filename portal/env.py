"""Reading configuration from the environment, failing loudly and by name.

Every variable may also be given as NAME_FILE, the path of a file holding the value
(Docker and Kubernetes secrets). Errors name the variable but never echo its value,
because many of these values are secrets.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
import secrets
import uuid
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET = _Unset.UNSET
REQUIRED = _UNSET  # pass as a default to say "no default"


class ConfigurationError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed."""


def raw(name: str) -> str | None:
    """Return NAME from the environment (or the file named by NAME_FILE), or None."""
    if path := os.environ.get(f"{name}_FILE"):
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"{name}_FILE names a file that cannot be read ({exc.strerror})."
            ) from None
    value = os.environ.get(name)
    if value is None:
        return None
    return value.strip()


def string(name: str, default: str | _Unset = _UNSET) -> str:
    value = raw(name)
    if value is None or value == "":
        if default is _UNSET:
            raise ConfigurationError(f"Set the {name} environment variable.")
        return default
    return value


def boolean(name: str, default: bool) -> bool:
    value = raw(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be True or False.")


def integer(name: str, default: int, *, minimum: int = 0) -> int:
    value = raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number.") from None
    if number < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}.")
    return number


def string_list(name: str, default: list[str] | _Unset = _UNSET) -> list[str]:
    value = raw(name)
    if value is None or value == "":
        if default is _UNSET:
            raise ConfigurationError(f"Set the {name} environment variable.")
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(item == "" for item in items):
        raise ConfigurationError(f"{name} must be a comma-separated list without empty items.")
    return items


def url(name: str, default: str | _Unset = _UNSET, *, schemes: tuple[str, ...]) -> str:
    value = string(name, default)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise ConfigurationError(f"{name} must be a URL starting with {allowed}.")
    return value


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = string(name, default)
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of: {', '.join(choices)}.")
    return value


def guid(name: str, default: str | _Unset = _UNSET) -> str:
    value = string(name, default)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ConfigurationError(f"{name} must be a GUID such as the one Entra shows.") from None


def guid_list(name: str, default: list[str] | _Unset = _UNSET) -> list[str]:
    items = string_list(name, default)
    try:
        return [str(uuid.UUID(item)) for item in items]
    except ValueError:
        raise ConfigurationError(f"{name} must be a comma-separated list of GUIDs.") from None


def routes(name: str, default: dict[str, str]) -> dict[str, str]:
    """Parse "host=https://base,host=http://base" into {host: base}."""
    value = raw(name)
    if value is None or value == "":
        return dict(default)
    result = {}
    for pair in value.split(","):
        host, sep, base = pair.strip().partition("=")
        parts = urlsplit(base)
        if not sep or not _DOMAIN.match(host) or parts.scheme not in ("http", "https"):
            raise ConfigurationError(
                f"{name} must be a comma-separated list of host=URL pairs, "
                "e.g. login.microsoftonline.com=http://127.0.0.1:8000/sandbox/login."
            )
        result[host.lower()] = base.rstrip("/")
    return result


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)


def tenant(name: str, default: str | _Unset = _UNSET) -> str:
    """A tenant id (GUID) or a verified domain such as contoso.onmicrosoft.com."""
    value = string(name, default)
    try:
        return str(uuid.UUID(value))
    except ValueError:
        if _DOMAIN.match(value):
            return value.lower()
    raise ConfigurationError(f"{name} must be a tenant id (GUID) or a domain name.")


def hostname(name: str, default: str) -> str:
    value = string(name, default)
    if not _DOMAIN.match(value):
        raise ConfigurationError(f"{name} must be a host name such as login.microsoftonline.com.")
    return value.lower()


def stored_secret(path: Path, make: Callable[[], str]) -> str:
    """Return the secret kept in `path`, creating it on first use.

    Only the demo uses this: it keeps a per-checkout random secret so no key is shared
    between installations. Creation is atomic (link, not write-in-place), so processes
    starting at the same moment all end up with the same value.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    tmp.write_text(make())
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


def timezone_name(name: str, default: str) -> str:
    """An IANA time zone such as Europe/Paris (what Django's TIME_ZONE takes)."""
    value = string(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"{name} must be an IANA time zone name such as UTC or Europe/Paris."
        ) from None
    return value


_RATE = re.compile(r"^[1-9][0-9]*/[1-9]?[0-9]*[smhd]$")


def rate(name: str, default: str) -> str:
    """A request rate in django-ratelimit's syntax: 30/m, 100/h, 5/10s."""
    value = string(name, default)
    if not _RATE.match(value):
        raise ConfigurationError(
            f"{name} must be a rate such as 30/m (a count, a slash, s, m, h or d)."
        )
    return value


def networks(name: str, default: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or networks in CIDR notation (127.0.0.1, 10.0.0.0/8)."""
    items = string_list(name, default)
    try:
        return [ipaddress.ip_network(item, strict=False) for item in items]
    except ValueError:
        raise ConfigurationError(
            f"{name} must be a comma-separated list of addresses or networks (10.0.0.0/8)."
        ) from None


def _read_file(name: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"{name} names a file that cannot be read ({exc.strerror})."
        ) from None


def certificate_file(name: str) -> str | None:
    """A PEM file holding the app's private key and its certificate, not yet expired.

    Returns the path, or None when the variable is not set."""
    path = raw(name)
    if not path:
        return None
    data = _read_file(name, path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
        certificate = x509.load_pem_x509_certificate(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(
            f"{name} must name a PEM file holding an unencrypted private key and its certificate."
        ) from None
    if certificate.not_valid_after_utc <= datetime.now(UTC):
        raise ConfigurationError(
            f"{name}: the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}."
        )
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ConfigurationError(f"{name}: the private key does not belong to the certificate.")
    return path


def ca_bundle(name: str) -> str | None:
    """A PEM file of one or more CA certificates, or None when not set."""
    path = raw(name)
    if not path:
        return None
    try:
        if not x509.load_pem_x509_certificates(_read_file(name, path)):
            raise ValueError
    except ValueError:
        raise ConfigurationError(f"{name} must name a PEM file of CA certificates.") from None
    return path
