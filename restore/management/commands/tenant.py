"""`manage.py tenant add|verify|list|remove`: connect and check tenants from a shell.

tenant add fabrikam.example [--name Fabrikam] [--credentials NAME] [--client-id GUID]
tenant verify fabrikam.example      # exits 1 while a required permission is missing
tenant list
tenant remove fabrikam.example [--cancel-jobs]
tenant backup-account fabrikam.example backup@fabrikam.example   # or --clear
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authflow import principals, tenants
from restore.jobs import tenants as removal


class Command(BaseCommand):
    help = "Connect, verify, list and remove the tenants the portal backs up."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Connect a tenant by domain or id.")
        add.add_argument("tenant", help="A domain of the tenant or its id (a GUID).")
        add.add_argument("--name", default="", help="A display name.")
        add.add_argument(
            "--credentials",
            default="",
            help="Name of the environment variable (NAME, or NAME_FILE naming a secret "
            "file) holding the client secret, or with a name ending in _CERTIFICATE_PATH the "
            "certificate path, for this tenant (never the secret).",
        )
        add.add_argument(
            "--client-id",
            default="",
            help="The client id of an app registered for this tenant alone (default: "
            "MICROSOFT_CLIENT_ID).",
        )
        verify = actions.add_parser("verify", help="Check what the tenant granted.")
        verify.add_argument("tenant")
        verify.add_argument("--json", action="store_true", help="Print the checks as JSON.")
        actions.add_parser("list", help="List the connected tenants.")
        remove = actions.add_parser("remove", help="Stop backing up a tenant.")
        remove.add_argument("tenant")
        remove.add_argument(
            "--cancel-jobs", action="store_true", help="Cancel its unfinished restore jobs."
        )

        account = actions.add_parser(
            "backup-account",
            help="The dedicated backup account: a member or owner of the groups whose "
            "calendars only a signed-in person can read.",
        )
        account.add_argument("tenant")
        account.add_argument("upn", nargs="?", default="", help="Its UPN.")
        account.add_argument("--clear", action="store_true", help="Have none.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action'].replace('-', '_')}")(options)
        except (tenants.TenantError, principals.PrincipalNotFound) as error:
            raise CommandError(str(error)) from error

    def _backup_account(self, options: dict[str, Any]) -> None:
        tenant = tenants.find(options["tenant"])
        if bool(options["upn"]) == bool(options["clear"]):
            raise CommandError("Give the account's UPN, or --clear.")
        kept = principals.set_backup_account(tenant, options["upn"])
        if kept:
            self.stdout.write(
                f"{tenant}: backups that need a person's sign-in use {kept} where it is a "
                f"member or owner. Sign it in once: manage.py login {kept}"
            )
        else:
            self.stdout.write(f"{tenant}: no backup account; group owners and members sign in.")

    def _add(self, options: dict[str, Any]) -> None:
        tenant = tenants.add(
            options["tenant"],
            display_name=options["name"],
            credentials_ref=options["credentials"],
            client_id=options["client_id"],
        )
        self.stdout.write(f"Added {tenant} ({tenant.tenant_id}), waiting for admin consent.")
        self.stdout.write("An administrator of the tenant opens this address and accepts:")
        self.stdout.write(tenants.consent_url(tenant, state="cli"))
        self.stdout.write(f"Then: manage.py tenant verify {tenant.tenant_id}")

    def _verify(self, options: dict[str, Any]) -> None:
        tenant = tenants.find(options["tenant"])
        results = tenants.verify(tenant)
        if options["json"]:
            self.stdout.write(json.dumps([c.as_dict() for c in results], indent=2))
        else:
            for check in results:
                if check.status == "works":
                    verdict = "works"
                elif check.status == "missing":
                    verdict = f"MISSING {', '.join(check.missing)}"
                else:
                    verdict = "not enabled"
                self.stdout.write(f"{check.label:<40} {check.type:<12} {verdict}")
        missing = tenants.blocking(results)
        if missing:
            raise CommandError(
                f"{tenant}: "
                + "; ".join(f"{c.label} needs {', '.join(c.missing)}" for c in missing)
            )
        self.stdout.write(f"{tenant}: every enabled workload works.")

    def _list(self, options: dict[str, Any]) -> None:
        tenants.note_credentials()
        for tenant in tenants.all_tenants():
            verified = f"{tenant.verified_at:%Y-%m-%d %H:%M}" if tenant.verified_at else "never"
            self.stdout.write(
                f"{tenant.tenant_id}  {tenant.get_status_display():<32} "
                f"verified {verified:<16} {tenant} {' '.join(tenant.domains)}"
                + (f"  ({tenant.status_reason})" if tenant.status_reason else "")
            )

    def _remove(self, options: dict[str, Any]) -> None:
        tenant = tenants.find(options["tenant"])
        cancelled = removal.remove(tenant, cancel_jobs=options["cancel_jobs"])
        self.stdout.write(
            f"Removed {tenant}"
            + (f" ({cancelled} restore job(s) cancelled)" if cancelled else "")
            + ": its backups stay, no new ones are taken."
        )
