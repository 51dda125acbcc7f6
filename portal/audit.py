"""The audit log: who did what, on behalf of whom, when, from where.

Append-only: rows are only ever inserted. The database refuses UPDATE and DELETE on the
table (a trigger, see migration 0002), so not even a bug in the application can rewrite
history. Actors are stored as snapshots (identity and UPN), never as foreign keys, so
deleting a user never touches the log.

Never put a token, code or secret in `details`.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from portal.models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from authflow.models import User

logger = logging.getLogger(__name__)

# Every action the portal records, and what it means: the console's filter and labels, and
# tests/portal/test_audit_pages.py renders one event of each. A new action goes here first.
ACTIONS: dict[str, str] = {
    "sign_in.started": "A sign-in was started (browser, code, helpdesk)",
    "sign_in.completed": "A sign-in completed",
    "sign_in.cancelled": "A pending sign-in was cancelled",
    "sign_in.declined": "The person declined the sign-in at Microsoft",
    "sign_in.expired": "A sign-in code expired unused",
    "sign_in.failed": "A sign-in failed",
    "sign_in.wrong_account": "A sign-in was completed by someone other than expected",
    "sign_in.link_opened": "A one-time sign-in link was used to start signing in",
    "sign_out": "Signed out of the portal",
    "identity.signed_out_everywhere": "Signed out everywhere",
    "identity.access_ended": "All access ended (Microsoft said the account may not sign in)",
    "role.changed": "A person's portal role changed",
    "token.revoked": "An admin revoked a person's tokens",
    "token.forgotten": "A person had the portal forget their tokens",
    "token.refresh_failed": "Refreshing delegated tokens failed",
    "token.unreadable": "Stored tokens could not be decrypted",
    "api.token.issued": "An API token family was issued",
    "api.token.refreshed": "An API token was refreshed",
    "api.token.refused": "An API token request was refused",
    "api.token.reuse_detected": "A used API refresh token was presented again",
    "api.token.logout": "An API token family was ended by its holder",
    "tenant.added": "A tenant was connected",
    "tenant.consent": "A tenant's admin answered the consent request",
    "tenant.verified": "A tenant's granted permissions were read (Verify)",
    "tenant.status": "A tenant's status changed (e.g. its consent was withdrawn)",
    "tenant.protection": "What to protect in a tenant was changed",
    "tenant.backup_account": "A tenant's dedicated backup account was set or cleared",
    "tenant.removed": "A tenant was removed",
    "protection.applied": "Discovery applied what to protect (objects excluded or back in)",
    "restore_scope.granted": "A restore scope was granted",
    "restore_scope.removed": "A restore scope was removed",
    "restore.requested": "A restore or download was requested",
    "restore.cancelled": "A restore was cancelled",
    "restore.waiting_for_sign_in": "A restore waits for a sign-in",
    "restore.finished": "A restore finished",
    "restore.downloaded": "A download job was fetched",
    "restore.download": "One item was downloaded from its page",
    "restore.consent_requested": "A person was asked to agree to a restore into their mailbox",
    "restore.consent_given": "A restore into a person's mailbox was agreed to",
    "restore.consent_refused": "A restore into a person's mailbox was refused",
    "restore.consent_expired": "A restore into a person's mailbox was not answered in time",
    "restore.consent_withdrawn": "A restore into a person's mailbox was withdrawn",
}


def readable(value: object) -> str:
    """One detail's value as a person reads it: text as is, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def details_json(details: dict[str, Any]) -> str:
    """The details column of the CSV export: JSON, empty for none."""
    return json.dumps(details, ensure_ascii=False, sort_keys=True, default=str) if details else ""


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def correlation_id(request: HttpRequest | None) -> str:
    if request is not None and (value := getattr(request, "correlation_id", None)):
        return value
    return str(uuid.uuid4())


def record(
    action: str,
    *,
    request: HttpRequest | None = None,
    actor: User | None = None,
    on_behalf_of: str = "",
    target: str = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    details: dict[str, Any] | None = None,
    correlation: str | None = None,
    ip: str | None = None,
    tenant_id: uuid.UUID | str | None = None,
) -> AuditEvent:
    """Append one event. `actor` defaults to the request's signed-in user, if any;
    `tenant_id` (whose organisation it concerned) to the actor's tenant."""
    if action not in ACTIONS:
        # Recorded all the same (an event is never lost); the console shows it unlabelled.
        logger.warning("Audit action %s is not in portal.audit.ACTIONS", action)
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    return AuditEvent.objects.create(
        action=action,
        outcome=outcome,
        actor_identity=actor.identity if actor else "",
        actor_label=str(actor) if actor else "system",
        on_behalf_of=on_behalf_of,
        target=target,
        ip=ip or (client_ip(request) if request is not None else None),
        correlation_id=correlation or correlation_id(request),
        details=details or {},
        tenant_id=tenant_id or _tenant_of(on_behalf_of) or getattr(actor, "tenant_id", None),
    )


def _tenant_of(identity: str) -> uuid.UUID | None:
    """The tenant of an identity key ``userId.tenantId`` (None for a UPN or nothing)."""
    _, dot, tid = identity.partition(".")
    if not dot:
        return None
    try:
        return uuid.UUID(tid)
    except ValueError:
        return None
