"""`manage.py login PRINCIPAL`: start a delegated device-code sign-in for someone.

Modelled on Bacula's `parameter=login:alice@contoso.com`: prints whom to sign in as and
the code, or says the portal already holds valid tokens. The Celery workers poll; this
command only starts the sign-in (and with --wait, watches it end).
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from datetime import UTC
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from authflow import flows, links, principals, signins
from authflow.models import SignIn, TokenCache
from portal.graph import GraphError


def describe(sign_in: SignIn) -> dict[str, Any]:
    return {
        "sign_in_id": str(sign_in.code),
        "user_code": sign_in.user_code,
        "verification_uri": sign_in.verification_uri,
        "expires_at": sign_in.expires_at.astimezone(UTC).isoformat(),
        "status": sign_in.status,
    }


class Command(BaseCommand):
    help = "Start a delegated sign-in (device code) for a user, and print the instructions."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("principal", help="the user's UPN, e.g. alice@contoso.com")
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
        wait: int,
        as_json: bool,
        force: bool,
        link: bool = False,
        **options: Any,
    ) -> None:
        try:
            expected = principals.resolve_user(principal)
        except principals.PrincipalNotFound as exc:
            raise CommandError(str(exc)) from exc
        except (GraphError, flows.FlowError) as exc:
            raise CommandError(f"Could not look {principal} up in Microsoft Graph: {exc}") from exc

        existing = (
            TokenCache.objects.filter(
                user__username=expected.identity, status=TokenCache.Status.VALID
            )
            .exclude(ciphertext=b"")
            .first()
        )
        if existing and not force:
            self._already_signed_in(existing, expected, as_json=as_json)
            return
        if link:
            self._print_link(links.create_link(expected, started_by=None), as_json=as_json)
            return
        try:
            sign_in = signins.start_device_sign_in(
                tenant=expected.tenant_id,
                expected_identity=expected.identity,
                expected_label=expected.upn,
            )
        except flows.FlowError as exc:
            raise CommandError(f"Microsoft did not give a sign-in code: {exc}") from exc
        if as_json:
            self.stdout.write(json.dumps(describe(sign_in)))
        else:
            self.stdout.write(
                f"We don't have a valid token for {expected.upn}. It's needed to sign in.\n"
                f"To sign in, use a web browser to open the page {sign_in.verification_uri} "
                f"and enter the code {sign_in.user_code} to authenticate. "
                f"Please do it with {expected.upn}.\n"
                f"The code expires at {sign_in.expires_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}."
            )
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
        self, row: TokenCache, expected: principals.ExpectedUser, *, as_json: bool
    ) -> None:
        expiry = row.access_token_expires_at
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "sign_in_id": None,
                        "user_code": None,
                        "verification_uri": None,
                        "expires_at": expiry.astimezone(UTC).isoformat() if expiry else None,
                        "status": "already_signed_in",
                    }
                )
            )
            return
        self.stdout.write(
            f"We have a valid token got from account: {expected.upn}\n"
            "It will be automatically refreshed when needed. The current expiration date is: "
            f"{expiry.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}\n"
            if expiry
            else "Use --force to start a new sign-in anyway."
        )

    def _wait(self, sign_in: SignIn, seconds: int, *, as_json: bool) -> None:
        deadline = time.monotonic() + seconds
        while not sign_in.is_final and time.monotonic() < deadline:
            time.sleep(1)
            sign_in.refresh_from_db()
        if as_json:
            self.stdout.write(json.dumps(describe(sign_in)))
        else:
            self.stdout.write(f"Sign-in {sign_in.get_status_display().lower()}. {sign_in.message}")
        if sign_in.status != SignIn.Status.COMPLETED:
            raise CommandError(f"The sign-in ended as {sign_in.status}.")
