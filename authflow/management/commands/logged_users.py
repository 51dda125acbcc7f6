"""`manage.py logged_users`: every identity the portal holds (or held) delegated tokens for.

Bacula's `login:logged-users`, with the facts an admin needs.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from authflow import tenants
from authflow.models import TokenCache

STATUS = {"valid": "valid", "needs_sign_in": "needs-sign-in", "revoked": "revoked"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def rows(tenant_id: str | None = None) -> list[dict[str, Any]]:
    found = TokenCache.objects.select_related("user", "started_by").order_by(
        "user__tenant_id", "user__upn"
    )
    if tenant_id:
        found = found.filter(user__tenant_id=tenant_id)
    return [
        {
            "upn": row.user.upn,
            "identity": row.user.identity,
            "tenant_id": str(row.user.tenant_id),
            "status": STATUS[row.status],
            "method": row.method,
            "access_token_expires_at": _iso(row.access_token_expires_at),
            "refresh_token_renewed_at": _iso(row.refresh_token_renewed_at),
            "signed_in_at": _iso(row.signed_in_at),
            "started_by": row.started_by.upn if row.started_by else "self",
        }
        for row in found
    ]


class Command(BaseCommand):
    help = "List the identities for which the portal holds delegated tokens."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        parser.add_argument("--tenant", default="", help="only this tenant (domain or id)")

    def handle(self, *args: Any, as_json: bool, tenant: str, **options: Any) -> None:
        try:
            tenant_id = str(tenants.find(tenant).tenant_id) if tenant else None
        except tenants.TenantError as exc:
            raise CommandError(str(exc)) from exc
        found = rows(tenant_id)
        if as_json:
            self.stdout.write(json.dumps(found, indent=2))
            return
        if not found:
            self.stdout.write("No logged-in users.")
        current = None
        for row in found:
            if not tenant_id and row["tenant_id"] != current:
                current = row["tenant_id"]
                self.stdout.write(f"tenant={current}")
            self.stdout.write(
                f"user={row['upn']} identity={row['identity']} status={row['status']} "
                f"access_token_expires_at={row['access_token_expires_at']} "
                f"started_by={row['started_by']}"
            )
