"""The app credentials used for a tenant's application tokens.

`Tenant.credentials_ref` names where the client secret, or a certificate, of the app used
in that tenant is kept: an environment variable NAME, or NAME_FILE naming a file that
holds it (as portal/env.py reads every setting). A NAME ending in `_CERTIFICATE_PATH`
holds the path of a PEM file with the private key and the certificate; any other NAME
holds a client secret. `Tenant.client_id` names the app registered for that tenant
alone; empty, the configured MICROSOFT_CLIENT_ID. An empty reference, or the configured
settings' own names, means the configured MICROSOFT_CLIENT_SECRET / certificate.

Only the reference is ever shown or logged, never what it holds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from authflow.models import Tenant
from portal import env

# References that mean "the configured credentials" (what tenants.ensure_first stores).
CONFIGURED = frozenset({"", "MICROSOFT_CLIENT_SECRET", "MICROSOFT_CLIENT_CERTIFICATE_PATH"})


class CredentialsMissing(Exception):
    """The tenant's credentials reference resolves to nothing; the message names the
    reference (never a secret) and is safe to show."""


@dataclass(frozen=True)
class AppCredentials:
    client_id: str
    credential: str | dict[str, str] | None  # None: the configured credentials
    ref: str

    def __repr__(self) -> str:  # never a secret in a log line or a traceback
        return f"AppCredentials(client_id={self.client_id!r}, ref={self.ref!r})"


def certificate_credential(path: str) -> dict[str, str]:
    """msal's credential for one PEM with the private key and the certificate. Given the
    certificate, msal signs the client assertion with PS256 and names the key by its
    SHA-256 thumbprint (x5t#S256), as Entra recommends over SHA-1."""
    pem = Path(path).read_text()
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return {
        "private_key": pem,
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


def _row(tenant_id: str) -> Tenant | None:
    try:
        key = uuid.UUID(str(tenant_id))
    except ValueError:
        return None  # a domain or `organizations`: no tenant row, the configured app
    return Tenant.objects.filter(tenant_id=key).only("client_id", "credentials_ref").first()


def for_tenant(tenant_id: str) -> AppCredentials:
    """The client id and credential for app tokens in `tenant_id`. Raises
    CredentialsMissing when its reference names nothing set."""
    row = _row(tenant_id)
    client_id = (row.client_id if row else "") or settings.MICROSOFT_CLIENT_ID
    ref = (row.credentials_ref if row else "").strip()
    if ref in CONFIGURED:
        return AppCredentials(client_id, None, ref)
    problem = problem_of(ref)
    if problem:
        raise CredentialsMissing(problem)
    value = env.raw(ref) or ""
    if ref.endswith("_CERTIFICATE_PATH"):
        return AppCredentials(client_id, certificate_credential(value), ref)
    return AppCredentials(client_id, value, ref)


def problem_of(ref: str) -> str:
    """Why `ref` gives no credentials ("credentials missing: NAME not set"), or ""."""
    ref = ref.strip()
    if ref in CONFIGURED:
        return ""
    try:
        value = env.raw(ref)
    except env.ConfigurationError:
        return f"credentials missing: {ref}_FILE cannot be read"
    if not value:
        return f"credentials missing: {ref} not set"
    if ref.endswith("_CERTIFICATE_PATH") and not Path(value).is_file():
        return f"credentials missing: {ref} names no readable certificate file"
    return ""


def problem(tenant: Tenant) -> str:
    """Why `tenant` has no usable credentials, or ""."""
    return problem_of(tenant.credentials_ref)
