"""The portal's own API tokens: opaque, random, stored only as SHA-256 hashes.

An access token authenticates API calls for `API_ACCESS_TOKEN_LIFETIME`; a refresh token
is redeemed once (`refresh`) for a new pair in the same family. Presenting a refresh
token that was already redeemed means two parties hold it: the whole family is revoked
and the event audited (OAuth 2.0 Security BCP, RFC 9700 §4.14.2). A family ends
`API_TOKEN_FAMILY_LIFETIME` after its grant, however often it is refreshed, and an
assertion from Microsoft starts at most one family (`claim_assertion`).

Tokens carry a prefix (`lbat_`, `lbrt_`) so secret scanners and the log redaction filter
recognise them.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.http import HttpRequest
from django.utils import timezone

from api.models import ApiToken, UsedAssertion
from authflow.models import User
from portal import audit
from portal.models import AuditEvent

ACCESS_PREFIX = "lbat_"
REFRESH_PREFIX = "lbrt_"


class TokenRefused(Exception):
    """The token is unknown, expired, revoked or already used. The message is safe to show."""


class AssertionReplayed(Exception):
    """This Microsoft assertion was already traded for a token family."""


def claim_assertion(key: str, expires_at: datetime) -> None:
    """Remember that the assertion `key` was used until it expires; AssertionReplayed if it
    already was. Run in the transaction that issues the tokens, so a failed issue frees it."""
    now = timezone.now()
    UsedAssertion.objects.filter(expires_at__lte=now).delete()
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives
            UsedAssertion.objects.create(key=key, expires_at=max(expires_at, now))
    except IntegrityError:
        raise AssertionReplayed(key) from None


def family_ends_at(started_at: datetime) -> datetime:
    return started_at + timedelta(seconds=settings.API_TOKEN_FAMILY_LIFETIME)


@dataclass(frozen=True)
class IssuedPair:
    access_token: str
    refresh_token: str
    user: User
    issued_at: datetime
    expires_at: datetime  # of the access token

    @property
    def expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def issue(
    user: User,
    *,
    grant: str,
    family: uuid.UUID | None = None,
    family_started_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> IssuedPair:
    """Create an access + refresh token pair (a new family unless one is given, with when
    it started); audited. Neither token outlives the family."""
    now = timezone.now()
    family = family or uuid.uuid4()
    started = family_started_at or now
    ends = family_ends_at(started)
    access, refresh = _new(ACCESS_PREFIX), _new(REFRESH_PREFIX)
    access_expires = min(now + timedelta(seconds=settings.API_ACCESS_TOKEN_LIFETIME), ends)
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                token_hash=digest(access),
                family=family,
                kind=ApiToken.Kind.ACCESS,
                user=user,
                grant=grant,
                created_at=now,
                expires_at=access_expires,
                family_started_at=started,
            ),
            ApiToken(
                token_hash=digest(refresh),
                family=family,
                kind=ApiToken.Kind.REFRESH,
                user=user,
                grant=grant,
                created_at=now,
                expires_at=min(now + timedelta(seconds=settings.API_REFRESH_TOKEN_LIFETIME), ends),
                family_started_at=started,
            ),
        ]
    )
    audit.record(
        "api.token.refreshed" if grant == "refresh_token" else "api.token.issued",
        request=request,
        actor=user,
        on_behalf_of=user.identity,
        details={"grant": grant, "family": str(family)},
    )
    return IssuedPair(access, refresh, user, now, access_expires)


def refresh(
    refresh_token: str,
    *,
    request: HttpRequest | None = None,
    confirm: Callable[[ApiToken], None] | None = None,
) -> IssuedPair:
    """Redeem a refresh token for a new pair. Raises TokenRefused; a reused token revokes
    its family first (committed, even though the request fails).

    `confirm(row)`, called with no transaction open before a live token is redeemed, may
    ask Microsoft whether the person's grant still holds and raise TokenRefused."""
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=digest(refresh_token), kind=ApiToken.Kind.REFRESH)
        .first()
    )
    if row is None:
        raise TokenRefused("The refresh token is not known.")
    if not row.user.is_active:
        raise TokenRefused("The account is disabled in the portal.")
    now = timezone.now()
    live = row.used_at is None and row.revoked_at is None
    if live and family_ends_at(row.family_started_at) <= now:
        raise TokenRefused(
            "The token family has reached its lifetime "
            f"({settings.API_TOKEN_FAMILY_LIFETIME // 86400} days from the grant); "
            "get new tokens from Microsoft."
        )
    if live and confirm is not None:
        confirm(row)
    with transaction.atomic():
        # Claim it: of two concurrent redemptions only one can set used_at.
        claimed = ApiToken.objects.filter(
            pk=row.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if claimed:
            return issue(
                row.user,
                grant="refresh_token",
                family=row.family,
                family_started_at=row.family_started_at,
                request=request,
            )
    row.refresh_from_db()
    if row.revoked_at is not None:
        raise TokenRefused("The refresh token was revoked.")
    if row.used_at is not None:
        _revoke_family(row, "api.token.reuse_detected", request, outcome="denied")
        raise TokenRefused(
            "The refresh token was already used; every token of its family is now revoked."
        )
    raise TokenRefused("The refresh token has expired.")


def _revoke_family(
    row: ApiToken,
    action: str,
    request: HttpRequest | None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
) -> int:
    """Revoke every live token of `row`'s family, audited as `action`; how many."""
    revoked = ApiToken.objects.filter(family=row.family, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit.record(
        action,
        request=request,
        actor=row.user,
        on_behalf_of=row.user.identity,
        outcome=outcome,
        details={"family": str(row.family), "revoked": revoked},
    )
    return revoked


def authenticate(access_token: str) -> User:
    """The user an access token speaks for. Raises TokenRefused (say why, never which)."""
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=digest(access_token), kind=ApiToken.Kind.ACCESS)
        .first()
    )
    if row is None:
        raise TokenRefused("The access token is not known.")
    if row.revoked_at is not None:
        raise TokenRefused("The access token was revoked.")
    if row.expires_at <= timezone.now():
        raise TokenRefused("The access token has expired.")
    if not row.user.is_active:
        raise TokenRefused("The account is disabled in the portal.")
    return row.user


def revoke_user(user: User) -> int:
    """Revoke every live API token of `user`. Returns how many were revoked."""
    return ApiToken.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).update(revoked_at=timezone.now())


def live_families_by_user() -> dict[int, datetime]:
    """{user pk: when their oldest live token family began}, for every user holding one."""
    rows = (
        ApiToken.objects.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
        .values("user_id")
        .annotate(since=Min("family_started_at"))
    )
    return {row["user_id"]: row["since"] for row in rows}


def end_family(access_token: str, *, request: HttpRequest | None = None) -> int:
    """Revoke every token of the family `access_token` belongs to (logout); audited.
    Returns how many tokens were revoked."""
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=digest(access_token), kind=ApiToken.Kind.ACCESS)
        .first()
    )
    if row is None:
        return 0
    return _revoke_family(row, "api.token.logout", request)
