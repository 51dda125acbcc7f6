"""The sandbox tenant's state, in the project database so every process sees the same tenant.

- directory: tenants, users, groups, app registrations and their service principals;
- identity: signing keys, device codes, authorization codes, refresh tokens, consents;
- the Graph content (mailboxes, drives) lives in its own modules.
"""

from __future__ import annotations

from sandbox.models.directory import (
    Application,
    DirectoryUser,
    Group,
    ServicePrincipal,
    Tenant,
    TenantDomain,
)
from sandbox.models.identity import (
    AuthorizationCode,
    Consent,
    DeviceCode,
    Fault,
    Policy,
    RefreshToken,
    SigningKey,
)

__all__ = [
    "Application",
    "AuthorizationCode",
    "Consent",
    "DeviceCode",
    "DirectoryUser",
    "Fault",
    "Group",
    "Policy",
    "RefreshToken",
    "ServicePrincipal",
    "SigningKey",
    "Tenant",
    "TenantDomain",
]
