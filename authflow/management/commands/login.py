"""`manage.py login PRINCIPAL [--tenant T] [--wait S] [--json] [--force] [--link]`: start a
delegated sign-in for a user, a group or a SharePoint site (a device code, or with --link a
one-time sign-in link).

Modelled on Bacula's `parameter=login:alice@contoso.com` (and `login:Dev/Team/1`, a site):
the same lookups and expected-account proof as the helpdesk page (authflow.principals,
authflow.signins.start_helpdesk_sign_in), printed in the seed's order: whom to sign in
as, the URL and code, the owners found, then who holds a valid token and until when.
The Celery workers poll; this command only starts the sign-in (and with --wait, watches
it end).
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from datetime import UTC
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from authflow import flows, links, principals, signins, tenants
from authflow.helpdesk import existing_tokens
from authflow.models import SignIn, TokenCache
from portal.graph import GraphError

Principal = principals.ExpectedUser | principals.ExpectedGroup


def describe(sign_in: SignIn) -> dict[str, Any]:
    return {
        "sign_in_id": str(sign_in.code),
        "user_code": sign_in.user_code,
        "verification_uri": sign_in.verification_uri,
        "expires_at": sign_in.expires_at.astimezone(UTC).isoformat(),
        "status": sign_in.status,
    }


def _when(row: TokenCache) -> str:
    expiry = row.access_token_expires_at
    return f"{expiry.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" if expiry else "unknown"


def _whom(principal: Principal) -> tuple[str, str]:
    """("any group owner of X", "some owner of the group X") or the UPN twice."""
    if isinstance(principal, principals.ExpectedGroup):
        return (
            f"any {principal.kind} owner of {principal.display_name}",
            f"some owner of the {principal.kind} {principal.display_name}",
        )
    return principal.upn, principal.upn


class Command(BaseCommand):
    help = (
        "Start a delegated sign-in (device code) for a user (UPN), a group (name or id) or a "
        "SharePoint site (name or URL), and print the instructions."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "principal",
            help="a UPN (alice@contoso.com), a group (Dev/Team/1 or its id) or a site "
            "(its name or https://contoso.sharepoint.com/sites/x)",
        )
        parser.add_argument("--tenant", default="", help="the tenant's domain or id")
        parser.add_argument(
            "--wait", type=int, default=0, metavar="SECONDS", help="wait for the sign-in to end"
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        parser.add_argument(
            "--force", action="store_true", help="start a sign-in even if valid tokens exist"
        )
        parser.add_argument(
            "--link",
            action="store_true",
            help="print a one-time sign-in link (15 minutes) to send the person, instead of a "
            "code (works where Conditional Access blocks device codes)",
        )

    def handle(
        self,
        *args: Any,
        principal: str,
        tenant: str,
        wait: int,
        as_json: bool,
        force: bool,
        link: bool = False,
        **options: Any,
    ) -> None:
        try:
            tenant_id = str(tenants.find(tenant).tenant_id) if tenant else None
            expected = principals.resolve(principal, tenant_id=tenant_id)
        except (tenants.TenantError, principals.PrincipalNotFound) as exc:
            raise CommandError(str(exc)) from exc
        except (GraphError, flows.FlowError) as exc:
            raise CommandError(f"Could not look {principal} up in Microsoft Graph: {exc}") from exc

        existing = existing_tokens(expected)
        if existing and not force:
            self._already_signed_in(existing, expected, as_json=as_json)
            return
        if link:
            self._print_link(links.create_link(expected, started_by=None), as_json=as_json)
            return
        try:
            sign_in = signins.start_helpdesk_sign_in(expected, started_by=None)
        except flows.FlowError as exc:
            raise CommandError(f"Microsoft did not give a sign-in code: {exc}") from exc
        if as_json:
            self.stdout.write(json.dumps(describe(sign_in)))
        else:
            missing, please = _whom(expected)
            lines = [
                f"We don't have a valid token for {missing}. It's needed to sign in.",
                f"To sign in, use a web browser to open the page {sign_in.verification_uri} "
                f"and enter the code {sign_in.user_code} to authenticate. "
                f"Please do it with {please}.",
            ]
            if isinstance(expected, principals.ExpectedGroup):
                lines.append(f"Owners found: {';'.join(o.upn for o in expected.owners)}")
            lines.append(
                f"The code expires at {sign_in.expires_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}."
            )
            self.stdout.write("\n".join(lines))
        if wait:
            self._wait(sign_in, wait, as_json=as_json)

    def _print_link(self, new: links.NewLink, *, as_json: bool) -> None:
        sign_in = new.sign_in
        if as_json:
            self.stdout.write(json.dumps({**describe(sign_in), "link": new.url}))
            return
        self.stdout.write(
            f"Send this one-time sign-in link to {sign_in.expected_label}; they open it in "
            f"their own browser and sign in with Microsoft as {sign_in.expected_label}:\n"
            f"{new.url}\n"
            f"It expires at {sign_in.expires_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}. "
            "Anyone else who uses it gets nothing."
        )

    def _already_signed_in(
        self, rows: list[TokenCache], expected: Principal, *, as_json: bool
    ) -> None:
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "sign_in_id": None,
                        "user_code": None,
                        "verification_uri": None,
                        "expires_at": _when(rows[0]) if rows[0].access_token_expires_at else None,
                        "status": "already_signed_in",
                        "accounts": [row.user.upn for row in rows],
                    }
                )
            )
            return
        if isinstance(expected, principals.ExpectedGroup):
            self.stdout.write(f"Owners found: {';'.join(o.upn for o in expected.owners)}")
        for row in rows:
            self._valid_token(row, around=isinstance(expected, principals.ExpectedGroup))
        self.stdout.write("Use --force to start a new sign-in anyway.")

    def _valid_token(self, row: TokenCache, *, around: bool) -> None:
        who = row.user.upn
        self.stdout.write(
            f"We have a valid token got from account: {who}\n"
            "It will be automatically refreshed when needed. But the current expiration date "
            f"is: {_when(row)}\n"
            "Backups using services with delegated permissions "
            f"{f'around {who} ' if around else ''}won't ask for intervention"
        )

    def _wait(self, sign_in: SignIn, seconds: int, *, as_json: bool) -> None:
        deadline = time.monotonic() + seconds
        while not sign_in.is_final and time.monotonic() < deadline:
            time.sleep(1)
            sign_in.refresh_from_db()
        if as_json:
            self.stdout.write(json.dumps(describe(sign_in)))
        elif sign_in.status == SignIn.Status.COMPLETED and sign_in.result_user:
            row = TokenCache.objects.filter(user=sign_in.result_user).first()
            if row is not None:
                self._valid_token(row, around=bool(sign_in.expected_group_id))
        else:
            self.stdout.write(f"Sign-in {sign_in.get_status_display().lower()}. {sign_in.message}")
        if sign_in.status != SignIn.Status.COMPLETED:
            raise CommandError(f"The sign-in ended as {sign_in.status}.")
