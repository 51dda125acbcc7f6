"""`manage.py grant ROLE UPN [--in-tenant DOMAIN|ID]`: give someone a portal role (how
the first admin is made), or, with `--in-tenant`, the admin or helpdesk role in that
connected tenant only (a TenantAdmin grant; docs/tenants.md).

The UPN is looked up in Microsoft Graph, so the grant is bound to the person's immutable
identity (userId.tenantId) even before their first sign-in.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from authflow import accounts, flows, principals, tenants
from authflow.identities import grant_in_tenant, set_role
from authflow.models import Role
from portal.graph import GraphError


class Command(BaseCommand):
    help = "Grant a portal role (end_user, helpdesk, admin) to a user, by UPN."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("role", choices=Role.values)
        parser.add_argument("upn")
        parser.add_argument(
            "--in-tenant",
            default="",
            help="Grant the role (admin or helpdesk) in this connected tenant only.",
        )

    def handle(self, *args: Any, role: str, upn: str, in_tenant: str, **options: Any) -> None:
        tenant = None
        if in_tenant:
            if role not in (Role.ADMIN, Role.HELPDESK):
                raise CommandError("--in-tenant grants the admin or the helpdesk role.")
            try:
                tenant = tenants.find(in_tenant)
            except tenants.TenantError as exc:
                raise CommandError(str(exc)) from exc
        try:
            expected = principals.resolve_user(upn)
        except principals.PrincipalNotFound as exc:
            raise CommandError(str(exc)) from exc
        except (GraphError, flows.FlowError) as exc:
            raise CommandError(f"Could not look {upn} up in Microsoft Graph: {exc}") from exc
        user = accounts.user_for_expected(expected)
        if tenant is not None:
            changed = grant_in_tenant(user, Role(role), tenant, by=None)
            verb = "is now" if changed else "already was"
            self.stdout.write(
                f"{expected.upn} ({user.identity}) {verb} {Role(role).label} in {tenant} only."
            )
            return
        try:
            changed = set_role(user, Role(role), by=None)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "is now" if changed else "already was"
        self.stdout.write(f"{expected.upn} ({user.identity}) {verb} {Role(role).label}.")
