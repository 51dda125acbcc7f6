"""`manage.py sandbox …`: the sandbox tenant from the command line (scripts and tests rely on it).

sandbox info                                   JSON: endpoints, apps, users, groups
sandbox approve --code USER_CODE --user UPN [--decline]
sandbox reset [--scale N]
sandbox revoke-sessions UPN | disable UPN | enable UPN | set-password UPN PASSWORD
sandbox rotate-keys [--retire-old]
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sandbox import constants, keys, seed
from sandbox.identity import scopes
from sandbox.models import DeviceCode, DirectoryUser, Group, SigningKey


def _user(upn: str) -> DirectoryUser:
    user = DirectoryUser.objects.filter(user_principal_name=upn.lower()).first()
    if user is None:
        raise CommandError(f"No sandbox user {upn}.")
    return user


class Command(BaseCommand):
    help = "Inspect and drive the sandbox Microsoft 365 tenant."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        commands.add_parser("info", help="print the tenant's endpoints, apps, users and groups")
        approve = commands.add_parser("approve", help="complete a pending device login")
        approve.add_argument("--code", required=True)
        approve.add_argument("--user", required=True)
        approve.add_argument("--decline", action="store_true")
        reset = commands.add_parser("reset", help="restore the seeded state")
        reset.add_argument("--scale", type=int, default=1, help="content multiplier")
        for name in ("revoke-sessions", "disable", "enable"):
            commands.add_parser(name).add_argument("upn")
        password = commands.add_parser("set-password")
        password.add_argument("upn")
        password.add_argument("password")
        rotate = commands.add_parser("rotate-keys", help="start signing with a new key")
        rotate.add_argument("--retire-old", action="store_true", help="drop old keys from JWKS")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The sandbox is off (SANDBOX_ENABLED is False).")
        getattr(self, "do_" + action.replace("-", "_"))(**options)

    def do_info(self, **options: Any) -> None:
        seed.ensure_seeded()
        passwords = {a["upn"]: a["password"] for a in seed.demo_accounts()}
        info = {
            "authority": f"https://{settings.MICROSOFT_AUTHORITY_HOST}/{constants.TENANT_ID}",
            "base_url": f"{settings.SANDBOX_URL}/login",
            "graph_url": f"{settings.SANDBOX_URL}/graph/v1.0",
            "tenant_id": constants.TENANT_ID,
            "tenant_domain": constants.TENANT_DOMAIN,
            "other_tenant_id": constants.OTHER_TENANT_ID,
            "public_client_id": constants.PUBLIC_CLIENT_ID,
            "confidential_client_id": constants.CONFIDENTIAL_CLIENT_ID,
            "confidential_client_secret": constants.CONFIDENTIAL_CLIENT_SECRET,
            "portal_api_scope": f"api://{constants.CONFIDENTIAL_CLIENT_ID}/access_as_user",
            "device_login_url": f"{settings.SANDBOX_PUBLIC_URL}/login/device",
            "users": [
                {
                    "upn": u.user_principal_name,
                    "password": passwords.get(u.user_principal_name),
                    "oid": str(u.id),
                    "tenant_id": str(u.tenant_id),
                    "display_name": u.display_name,
                }
                for u in DirectoryUser.objects.order_by("tenant_id", "user_principal_name")
            ],
            "groups": [
                {
                    "id": str(g.id),
                    "display_name": g.display_name,
                    "owners": [u.user_principal_name for u in g.owners.all()],
                    "members": [u.user_principal_name for u in g.members.all()],
                }
                for g in Group.objects.prefetch_related("owners", "members")
            ],
            "ca_bundle": None,
        }
        self.stdout.write(json.dumps(info, indent=2))

    def do_approve(self, *, code: str, user: str, decline: bool, **options: Any) -> None:
        person = _user(user)
        normalised = "".join(ch for ch in code.upper() if ch.isalnum())
        dc = DeviceCode.objects.filter(
            user_code=normalised, status=DeviceCode.Status.PENDING, expires_at__gt=timezone.now()
        ).first()
        if dc is None:
            raise CommandError(f"No pending, unexpired device code {code}.")
        if dc.tenant_id and dc.tenant_id != person.tenant_id:
            raise CommandError(f"AADSTS50020: {user} is not in the tenant this code is for.")
        if decline:
            dc.status = DeviceCode.Status.DECLINED
        else:
            request_scopes = scopes.parse(" ".join(dc.scopes), str(person.tenant_id))
            if missing := scopes.missing_consent(person, dc.application, request_scopes):
                if scopes.needs_admin(missing):
                    raise CommandError(f"Admin consent required for {' '.join(sorted(missing))}.")
                scopes.record_consent(person, dc.application, request_scopes)
            dc.status = DeviceCode.Status.APPROVED
            dc.user = person
            dc.approved_at = timezone.now()
        dc.save(update_fields=["status", "user", "approved_at"])
        self.stdout.write(f"{'Declined' if decline else 'Approved'} {dc.user_code} as {user}.")

    def do_reset(self, *, scale: int, **options: Any) -> None:
        seed.reset(scale=scale)
        self.stdout.write("The sandbox tenant is back to its seeded state.")

    def do_revoke_sessions(self, *, upn: str, **options: Any) -> None:
        _user(upn).revoke_sign_in_sessions()
        self.stdout.write(f"Revoked every refresh token and session of {upn}.")

    def do_disable(self, *, upn: str, **options: Any) -> None:
        user = _user(upn)
        user.account_enabled = False
        user.save(update_fields=["account_enabled"])
        user.revoke_sign_in_sessions()
        self.stdout.write(f"Disabled {upn}.")

    def do_enable(self, *, upn: str, **options: Any) -> None:
        DirectoryUser.objects.filter(pk=_user(upn).pk).update(account_enabled=True)
        self.stdout.write(f"Enabled {upn}.")

    def do_set_password(self, *, upn: str, password: str, **options: Any) -> None:
        user = _user(upn)
        user.set_password(password)
        user.save(update_fields=["password"])
        user.revoke_sign_in_sessions()
        self.stdout.write(f"Changed the password of {upn}; its refresh tokens are revoked.")

    def do_rotate_keys(self, *, retire_old: bool, **options: Any) -> None:
        old = list(SigningKey.objects.filter(is_published=True).values_list("kid", flat=True))
        new = keys.rollover()
        if retire_old:
            for kid in old:
                keys.retire(kid)
        self.stdout.write(f"Signing with {new.kid}; {'retired' if retire_old else 'kept'} {old}.")
