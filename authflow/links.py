"""Sign-in links: what a helpdesk operator sends instead of a code (Conditional Access may
block device codes; Microsoft is rolling out a managed policy that does by default).

A link is a SignIn (method "link") bound, like a helpdesk code, to whom it is for: a
person (expected identity) or any owner of a group. It is one-time (the person's press of
"Continue" consumes it), expires after LINK_LIFETIME, and only a SHA-256 of its secret is
stored. The person opens it in their own browser and signs in with Microsoft (auth code +
PKCE, login_hint and domain_hint naming the expected account); whoever else completes it
is refused, their tokens discarded, audited, and the operator sees who it was. When the
expected person completes it, their tokens are kept and waiting work goes on
(identity_signed_in), as after a code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from authflow import accounts, identity, principals, signins, tokens
from authflow.models import SignIn, TokenCache, User
from authflow.signals import identity_signed_in
from portal import audit

LINK_LIFETIME = timedelta(minutes=15)


class LinkRefused(Exception):
    """The link cannot be used (unknown, used, expired, cancelled); the message says so."""


@dataclass(frozen=True)
class NewLink:
    sign_in: SignIn
    url: str  # shown once, to whoever created it: only its hash is kept


def link_url(secret: str) -> str:
    """The link to send. The secret rides in the query string, which the access log never
    writes (it logs paths only)."""
    return f"{settings.PORTAL_URL}{reverse('authflow:link')}?{urlencode({'key': secret})}"


def create_link(
    principal: principals.ExpectedUser | principals.ExpectedGroup,
    *,
    started_by: User | None,
    request: HttpRequest | None = None,
) -> NewLink:
    """A one-time sign-in link for `principal`, valid for LINK_LIFETIME; audited."""
    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    bound: dict[str, Any]
    if isinstance(principal, principals.ExpectedGroup):
        bound = {"expected_group_id": principal.id, "expected_label": principal.display_name}
    else:
        bound = {"expected_identity": principal.identity, "expected_label": principal.upn}
    sign_in = SignIn.objects.create(
        method=SignIn.Method.LINK,
        tenant=principal.tenant_id,
        scopes=signins.sign_in_scopes(),
        created_at=now,
        expires_at=now + LINK_LIFETIME,
        started_by=started_by,
        started_from_ip=audit.client_ip(request) if request else None,
        started_from_agent=request.headers.get("User-Agent", "")[:300] if request else "",
        correlation_id=audit.correlation_id(request),
        link_hash=signins.binding_hash(secret),
        **bound,
    )
    audit.record(
        "sign_in.started",
        request=request,
        actor=started_by,
        on_behalf_of=sign_in.expected_label,
        target=str(sign_in.code),
        details={"method": "link", "tenant": principal.tenant_id},
        correlation=sign_in.correlation_id,
        tenant_id=principal.tenant_id,
    )
    return NewLink(sign_in, link_url(secret))


def find(secret: str) -> SignIn:
    """The pending, unexpired, unopened link for `secret`, or LinkRefused saying why."""
    sign_in = SignIn.objects.filter(
        method=SignIn.Method.LINK, link_hash=signins.binding_hash(secret)
    ).first()
    if sign_in is None:
        raise LinkRefused("This sign-in link is not valid. Ask the helpdesk for a new one.")
    if expire_if_due(sign_in):
        raise LinkRefused("This sign-in link has expired. Ask the helpdesk for a new one.")
    if sign_in.status != SignIn.Status.PENDING or sign_in.link_opened_at is not None:
        raise LinkRefused(
            "This sign-in link was already used (a link works once). Ask the helpdesk for a "
            "new one if you still need to sign in."
        )
    return sign_in


def open_link(secret: str, *, request: HttpRequest | None = None) -> SignIn:
    """Consume the link (once): the person pressed Continue. Raises LinkRefused."""
    sign_in = find(secret)
    consumed = SignIn.objects.filter(
        pk=sign_in.pk, status=SignIn.Status.PENDING, link_opened_at__isnull=True
    ).update(link_opened_at=timezone.now())
    if not consumed:
        raise LinkRefused("This sign-in link was already used (a link works once).")
    audit.record(
        "sign_in.link_opened",
        request=request,
        on_behalf_of=sign_in.expected_label,
        target=str(sign_in.code),
        correlation=sign_in.correlation_id,
    )
    sign_in.refresh_from_db()
    return sign_in


def expire_if_due(sign_in: SignIn) -> bool:
    """End a pending link whose time is up (audited); whether it has expired."""
    if sign_in.method != SignIn.Method.LINK or timezone.now() < sign_in.expires_at:
        return False
    if sign_in.finish(
        SignIn.Status.EXPIRED,
        "The link expired before it was used. Create a new one.",
    ):
        signins.audit_end(sign_in, "sign_in.expired", "failure")
    return True


def login_hint(sign_in: SignIn) -> tuple[str | None, str | None]:
    """(login_hint, domain_hint) for the expected account: its UPN and its domain; for a
    group (any owner may sign in) none."""
    if sign_in.expected_group_id or "@" not in sign_in.expected_label:
        return None, None
    return sign_in.expected_label, sign_in.expected_label.rsplit("@", 1)[1]


def complete(
    sign_in: SignIn,
    result: dict[str, Any],
    cache: str,
    *,
    nonce: str,
    request: HttpRequest | None = None,
) -> User | None:
    """The person signed in with Microsoft through the link: keep their tokens if they are
    whom the link is for, else refuse (tokens dropped, audited, shown to the helpdesk).
    Returns the user, or None when refused (sign_in.message says why).
    Raises identity.InvalidIdentityToken if the id_token is not acceptable."""
    who = identity.validate(
        result.get("id_token", ""), audiences=[settings.MICROSOFT_CLIENT_ID], nonce=nonce
    )
    if problem := signins.wrong_account(sign_in, who):
        if sign_in.finish(
            SignIn.Status.WRONG_ACCOUNT, problem, actual_identity=who.key, actual_label=who.upn
        ):
            signins.audit_end(sign_in, "sign_in.wrong_account", "denied", actual=who.key)
        return None
    with transaction.atomic():
        user = accounts.user_for(who)
        tokens.store(
            user, cache, result, method=TokenCache.Method.BROWSER, started_by=sign_in.started_by
        )
        if not sign_in.finish(
            SignIn.Status.COMPLETED,
            f"Signed in as {who.upn}.",
            result_user=user,
            actual_identity=who.key,
            actual_label=who.upn,
        ):
            transaction.set_rollback(True)  # cancelled meanwhile: keep nothing
            return None
        signins.audit_end(sign_in, "sign_in.completed", "success", identity=who.key)
        transaction.on_commit(lambda: identity_signed_in.send(sender=SignIn, user=user))
    return user
