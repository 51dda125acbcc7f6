"""`manage.py grant ROLE UPN`: give someone a portal role (how the first admin is made).

The UPN is looked up in Microsoft Graph, so the grant is bound to the person's immutable
identity (userId.tenantId) even before their first sign-in.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from authflow import accounts, flows, principals
from authflow.identities import set_role
from authflow.models import Role
from portal.graph import GraphError


class Command(BaseCommand):
    help = "Grant a portal role (end_user, helpdesk, admin) to a user, by UPN."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("role", choices=Role.values)
        parser.add_argument("upn")

    def handle(self, *args: Any, role: str, upn: str, **options: Any) -> None:
        try:
            expected = principals.resolve_user(upn)
        except principals.PrincipalNotFound as exc:
            raise CommandError(str(exc)) from exc
        except (GraphError, flows.FlowError) as exc:
            raise CommandError(f"Could not look {upn} up in Microsoft Graph: {exc}") from exc
        user = accounts.user_for_expected(expected)
        try:
            changed = set_role(user, Role(role), by=None)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "is now" if changed else "already was"
        self.stdout.write(f"{expected.upn} ({user.identity}) {verb} {Role(role).label}.")
