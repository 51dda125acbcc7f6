"""Does Microsoft still let the person behind a token family in? Asked on refresh.

A portal token family outlives nothing at Microsoft: before a refresh token is redeemed,
Graph is asked (with the portal's application permission User.Read.All) for the person's
account. Deleted (404), disabled (`accountEnabled` false) or sessions revoked since the
family's grant (`signInSessionsValidFromDateTime`, which `revokeSignInSessions`, an
admin's "Revoke sessions" and a password reset move forward; Graph returns it only when
`$select`ed) each end every portal token and delegated token of theirs at once. The
account's answer is cached per person for `API_GRANT_CHECK_SECONDS`. When Graph cannot
be asked, the refresh fails closed with 503 and the refresh token stays unused.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils.dateparse import parse_datetime
from redis.exceptions import RedisError

from api import grants, tokens
from api.models import ApiToken
from authflow import flows, identities
from authflow.models import User
from portal.graph import GraphClient, GraphError, GraphThrottled

logger = logging.getLogger(__name__)

SELECT = "id,accountEnabled,signInSessionsValidFromDateTime"


@dataclass(frozen=True)
class Account:
    exists: bool
    enabled: bool = True
    sessions_valid_from: datetime | None = None


def _ask_graph(user: User) -> Account:
    tenant = str(user.tenant_id)
    # One retry, a short wait: the script asking for tokens is waiting on this answer.
    graph = GraphClient(
        lambda force=False, claims=None: flows.app_only_token(tenant, force=force),
        max_retries=1,
        max_wait=5,
    )
    try:
        body = graph.get(f"users/{user.oid}", **{"$select": SELECT})
    except GraphThrottled as exc:
        raise grants.unavailable(
            "Microsoft Graph is throttling; the refresh can be retried later.", exc.retry_after
        ) from exc
    except GraphError as exc:
        if exc.status == 404:
            return Account(exists=False)
        logger.warning("Account check refused by Graph: %s %s", exc.status, exc.code)
        raise grants.unavailable(
            f"Microsoft Graph would not say whether the account is still valid ({exc.status} "
            f"{exc.code}); the portal needs the application permission User.Read.All."
        ) from exc
    except (requests.RequestException, ValueError, flows.FlowError) as exc:
        raise grants.unavailable(
            "Microsoft could not be asked whether the account is still valid."
        ) from exc
    valid_from = body.get("signInSessionsValidFromDateTime")
    return Account(
        exists=True,
        enabled=body.get("accountEnabled") is not False,
        sessions_valid_from=parse_datetime(valid_from) if isinstance(valid_from, str) else None,
    )


def _cache_key(user: User) -> str:
    return f"api:account:{user.identity}"


def account(user: User) -> Account:
    """The person's account as Graph says, cached for API_GRANT_CHECK_SECONDS."""
    key = _cache_key(user)
    try:
        cached = cache.get(key) if settings.API_GRANT_CHECK_SECONDS else None
    except RedisError:
        cached = None
    if isinstance(cached, Account):
        return cached
    answer = _ask_graph(user)
    with contextlib.suppress(RedisError):  # then asked again next time
        cache.set(key, answer, settings.API_GRANT_CHECK_SECONDS)
    return answer


def ended_because(answer: Account, family_started_at: datetime) -> str:
    """Why Microsoft no longer lets this family's person in, or "" when it does."""
    if not answer.exists:
        return "The account no longer exists in Microsoft Entra ID."
    if not answer.enabled:
        return "The account is disabled in Microsoft Entra ID."
    # Graph gives the moment to the second: a revocation in the grant's own second counts
    # (failing closed), as a later one does.
    started = family_started_at.replace(microsecond=0)
    if answer.sessions_valid_from and answer.sessions_valid_from >= started:
        return "The account's sessions were revoked in Microsoft Entra ID."
    return ""


def confirm(row: ApiToken) -> None:
    """tokens.refresh's `confirm`: raise TokenRefused (after ending everything the person
    holds) when Microsoft no longer lets them in; GrantError 503 when it cannot be asked."""
    reason = ended_because(account(row.user), row.family_started_at)
    if reason:
        identities.end_access(row.user, reason=reason)
        cache.delete(_cache_key(row.user))
        raise tokens.TokenRefused(f"{reason} Every portal token of this person is revoked.")
