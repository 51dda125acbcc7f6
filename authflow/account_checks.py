"""Asking Microsoft, every few minutes, whether the people who hold portal access may
still sign in at all.

An idle person's access never reaches Microsoft: no refresh is due, no request is made.
So a periodic task (authflow.tasks.check_accounts) reads, with the portal's application
token, the accounts of everyone holding delegated tokens, a web session or API tokens,
15 at a time (Graph's limit for an `in` filter), and ends everything for accounts that
are disabled, deleted (absent from the answer) or whose sessions were revoked after the
access they hold began (signInSessionsValidFromDateTime). See docs/sign-in-security.md.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from authflow import flows, identities, tokens
from authflow.models import TokenCache, User
from authflow.signals import access_holders
from portal.graph import GraphClient, GraphError

logger = logging.getLogger(__name__)

# Graph refuses more than 15 values in an `in` filter (Request_UnsupportedQuery).
BATCH = 15
DISABLED = "The account is disabled in Microsoft Entra ID."
DELETED = "The account no longer exists in Microsoft Entra ID."
REVOKED = "The account's sessions were revoked in Microsoft Entra ID."


@dataclass
class CheckStats:
    checked: int = 0
    ended: int = 0
    skipped_tenants: int = 0


def holders(now: datetime | None = None) -> dict[int, datetime]:
    """{user pk: when the oldest access they hold began}: valid delegated tokens, web
    sessions that may still be alive (signed in within SESSION_COOKIE_AGE) and whatever
    other apps report through `access_holders` (the REST API's token families)."""
    now = now or timezone.now()
    since: dict[int, datetime] = {}

    def note(pk: int, when: datetime) -> None:
        since[pk] = min(when, since.get(pk, when))

    for pk, when in (
        TokenCache.objects.filter(status=TokenCache.Status.VALID)
        .exclude(ciphertext=b"")
        .values_list("user_id", "signed_in_at")
    ):
        note(pk, when)
    session_start = now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    for pk, login in User.objects.filter(last_login__gte=session_start).values_list(
        "pk", "last_login"
    ):
        if login is not None:
            note(pk, login)
    for _receiver, answer in access_holders.send(sender=User):
        # Each receiver returns {user pk: datetime} (authflow/signals.py).
        held = cast(dict[int, datetime], answer)
        for pk, began in held.items():
            note(pk, began)
    return since


def check_accounts(now: datetime | None = None) -> CheckStats:
    """Ask Graph about every holder's account and end access where Microsoft says so.
    No database transaction is held while Graph answers."""
    since = holders(now)
    stats = CheckStats()
    by_tenant: dict[str, list[User]] = defaultdict(list)
    for user in User.objects.filter(pk__in=since, oid__isnull=False, tenant_id__isnull=False):
        by_tenant[str(user.tenant_id)].append(user)
    for tenant_id, users in by_tenant.items():
        try:
            client = tokens.graph_as_app(tenant_id)
            for start in range(0, len(users), BATCH):
                batch = users[start : start + BATCH]
                accounts = _accounts(client, [str(u.oid) for u in batch])
                for user in batch:
                    stats.checked += 1
                    reason = why_ended(accounts.get(str(user.oid)), since[user.pk])
                    if reason:
                        logger.info("Access of %s ended: %s", user.identity, reason)
                        identities.end_access(user, reason=reason)
                        stats.ended += 1
        except (GraphError, flows.FlowError) as exc:
            # Fail towards asking again: the next run tries this tenant again.
            logger.warning("Could not check the accounts of tenant %s: %s", tenant_id, exc)
            stats.skipped_tenants += 1
    return stats


def _accounts(client: GraphClient, oids: list[str]) -> dict[str, dict[str, object]]:
    """Graph's answer for these ids, by id (lowercase). Absent ones no longer exist."""
    quoted = ",".join(f"'{uuid.UUID(oid)}'" for oid in oids)  # GUIDs only: nothing to escape
    found: dict[str, dict[str, object]] = {}
    for row in client.iterate(
        "users",
        **{
            "$filter": f"id in ({quoted})",
            "$select": "id,accountEnabled,signInSessionsValidFromDateTime",
        },
    ):
        found[str(row.get("id", "")).lower()] = row
    return found


def why_ended(account: dict[str, object] | None, since: datetime) -> str:
    """Microsoft's reason the access held since `since` must end, or "" if it may go on."""
    if account is None:
        return DELETED
    if account.get("accountEnabled") is False:
        return DISABLED
    valid_from = parse_datetime(str(account.get("signInSessionsValidFromDateTime") or ""))
    # Graph gives whole seconds: access that began within the same second as the
    # revocation counts as older (failing closed: that person signs in once more).
    if valid_from is not None and valid_from >= since.replace(microsecond=0):
        return REVOKED
    return ""
