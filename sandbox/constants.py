"""Fixed identifiers of the sandbox tenant.

The sandbox is seeded deterministically, so these never change: the demo settings and
the tests can rely on them. None of them is a secret; the sandbox exists only on the
machine that runs it.
"""

from __future__ import annotations

TENANT_ID = "5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f"
TENANT_DOMAIN = "contoso.example"
TENANT_NAME = "Contoso (sandbox)"

# A second tenant, for cross-tenant checks (its users must never reach Contoso's data).
OTHER_TENANT_ID = "9c8d7e6f-5a4b-4c3d-8e2f-0a1b2c3d4e5f"
OTHER_TENANT_DOMAIN = "fabrikam.example"
OTHER_TENANT_NAME = "Fabrikam (sandbox)"

# A third tenant that has never consented to the portal (no service principal): what an
# organisation looks like before "Connect a tenant".
THIRD_TENANT_ID = "3e2d1c0b-7a69-4f58-9e47-1d2c3b4a5f60"
THIRD_TENANT_DOMAIN = "northwind.example"
THIRD_TENANT_NAME = "Northwind (sandbox)"

# The portal's app registrations in the sandbox tenant: a public client for device-code
# sign-ins ("Allow public client flows" = yes) and a confidential web app for browser
# sign-in, backups (application permissions) and the portal's own API.
PUBLIC_CLIENT_ID = "0e4a6c8d-2b1f-4e3a-9c5d-7f6e8a9b0c1d"
CONFIDENTIAL_CLIENT_ID = "3f2e1d0c-9b8a-4765-8432-10fedcba9876"
CONFIDENTIAL_CLIENT_SECRET = "sandbox-client-secret-not-a-real-secret"  # noqa: S105

# Directory admins (Entra's Global Administrator role): only they may grant admin consent.
DIRECTORY_ADMINS = frozenset(
    {"ivan@contoso.example", "trent@fabrikam.example", "nina@northwind.example"}
)
