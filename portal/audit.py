"""The audit log: who did what, on behalf of whom, when, from where.

Append-only: rows are only ever inserted. The database refuses UPDATE and DELETE on the
table (a trigger, see migration 0002), so not even a bug in the application can rewrite
history. Actors are stored as snapshots (identity and UPN), never as foreign keys, so
deleting a user never touches the log.

Never put a token, code or secret in `details`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from portal.models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from authflow.models import User


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
