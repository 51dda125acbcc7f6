"""Celery entry points of sign-in: thin wrappers around poller, tokens and signins, and
the receiver that queues the poller when a sign-in starts (authflow/signals.py)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.dispatch import receiver
from django.utils import timezone

from authflow import account_checks, identities, poller, tenants, tokens
from authflow.models import SignIn, Tenant, TokenCache, User
from authflow.signals import (
    access_ended_by_microsoft,
    device_sign_in_started,
    tenant_access_refused,
)

logger = logging.getLogger(__name__)

POLLER_LEASE = "authflow:poller-lease"
POLLER_LEASE_SECONDS = 60
POLLER_RUN_SECONDS = 50


@shared_task(ignore_result=True)
def run_poller() -> None:
    """Poll pending device-code sign-ins until none is left (or the run's time is up).

    Kicked when a sign-in starts and every few seconds by beat. A lease in the cache
    keeps one loop per deployment; if the worker running it dies, the lease lapses and
    the next kick starts a new loop.
    """
    holder = str(uuid.uuid4())
    if not cache.add(POLLER_LEASE, holder, POLLER_LEASE_SECONDS):
        return
    try:
        stats = poller.run(max_seconds=POLLER_RUN_SECONDS)
        if stats.polls:
            logger.info(
                "Sign-in poller: %s polls, %s completed, %s ended, %s transient",
                stats.polls,
                stats.completed,
                stats.ended,
                stats.transient,
            )
    finally:
        if cache.get(POLLER_LEASE) == holder:
            cache.delete(POLLER_LEASE)
    # A sign-in that started while this loop was finishing would wait for beat: go on.
    if poller.next_due_in() is not None:
        run_poller.delay()


@receiver(device_sign_in_started, dispatch_uid="authflow-kick-poller")
def kick_poller(sender: object, **kwargs: object) -> None:
    """A device-code sign-in started: make sure a poller loop runs (sent after commit)."""
    run_poller.delay()


@receiver(access_ended_by_microsoft, dispatch_uid="authflow-end-access")
def end_access(sender: object, user: User, reason: str, **kwargs: object) -> None:
    """Microsoft says the person may no longer sign in: every session of theirs ends."""
    identities.end_access(user, reason=reason)


@shared_task(ignore_result=True)
def refresh_tokens_ahead() -> None:
    """Refresh delegated tokens before anyone needs them, and keep refresh tokens young.

    Access tokens expiring within 15 minutes are refreshed; a refresh token not renewed
    for a week is renewed too, so the 90-day sliding window never closes on an identity
    that is merely idle.
    """
    now = timezone.now()
    due = TokenCache.objects.filter(status=TokenCache.Status.VALID).exclude(ciphertext=b"")
    due = due.filter(access_token_expires_at__lt=now + timedelta(minutes=15)) | due.filter(
        refresh_token_renewed_at__lt=now - timedelta(days=7)
    )
    for row in due.select_related("user"):
        try:
            tokens.access_token(
                row.user, row.scopes or ["User.Read"], min_validity=timedelta(minutes=20)
            )
        except tokens.SignInRequired:
            logger.info("Identity %s needs to sign in again", row.user.identity)
        except tokens.TokensUnavailable as exc:
            logger.warning("Could not refresh %s now: %s", row.user.identity, exc)


@shared_task(ignore_result=True, name="authflow.tasks.check_accounts")
def check_accounts() -> None:
    """Ask Microsoft whether everyone holding portal access may still sign in; end the
    access of accounts disabled, deleted or whose sessions were revoked (beat: 5 min)."""
    stats = account_checks.check_accounts()
    if stats.ended or stats.skipped_tenants:
        logger.info(
            "Account check: %s checked, %s ended, %s tenants not reachable",
            stats.checked,
            stats.ended,
            stats.skipped_tenants,
        )


@shared_task(ignore_result=True)
def purge_old_sign_ins() -> None:
    """Sign-in attempts are kept 30 days for the helpdesk's and admins' history."""
    SignIn.objects.filter(created_at__lt=timezone.now() - timedelta(days=30)).delete()


# --- Tenants: verify daily, and when Microsoft refuses the app's access ----------------

# One re-verification per tenant at most this often, however many backups fail at once.
REVERIFY_AFTER_REFUSAL_SECONDS = 600


@shared_task(name="authflow.tasks.verify_tenant", ignore_result=True)
def verify_tenant(tenant_id: str) -> None:
    tenant = Tenant.objects.filter(tenant_id=tenant_id).first()
    if tenant is None or tenant.status == Tenant.Status.DISABLED:
        return
    try:
        missing = tenants.blocking(tenants.verify(tenant))
    except tenants.TenantError as error:
        logger.warning("Verifying tenant %s failed: %s", tenant_id, error)
        return
    if missing:
        logger.warning(
            "Tenant %s lacks: %s",
            tenant_id,
            "; ".join(f"{c.label}: {', '.join(c.missing)}" for c in missing),
        )


@shared_task(name="authflow.tasks.verify_tenants", ignore_result=True)
def verify_tenants() -> int:
    """Beat, daily: verify every tenant that is not disabled (consent can be withdrawn)."""
    ids = [
        str(t)
        for t in tenants.all_tenants()
        .exclude(status=Tenant.Status.DISABLED)
        .values_list("tenant_id", flat=True)
    ]
    for tenant_id in ids:
        verify_tenant.delay(tenant_id)
    return len(ids)


@receiver(tenant_access_refused)
def _reverify_refused_tenant(sender: object, tenant_id: str, **kwargs: object) -> None:
    if cache.add(f"authflow:reverify:{tenant_id}", True, REVERIFY_AFTER_REFUSAL_SECONDS):
        verify_tenant.delay(tenant_id)
