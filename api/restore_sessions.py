"""Restore sessions: what the caller may browse and restore, resolved once and named.

Veeam's "Create Restore Session for Restore Operator": `POST /restore-sessions` resolves
the caller's scope now (optionally narrowed to one object) and answers its id; sending
`X-Restore-Session: <id>` with catalog and restore-job requests then sees exactly what
that session resolved, until it expires (RESTORE_SESSION_AGE) or is ended. `DELETE` ends
one; `POST /token/logout` ends all of the caller's. Restores started through a session
go on after it ends. The rules live in restore/scope.py.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status
from pydantic import ConfigDict

from api.auth import caller
from api.catalog import NOT_FOUND, Id
from api.errors import AUTH_ERRORS
from restore import scope
from restore.models import RestoreSession

router = Router(tags=["restore sessions"])


class RestoreSessionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    object: Id | None = Field(
        None, description="Narrow the session to this one object of your scope."
    )


class RestoreSessionOut(Schema):
    id: UUID
    object_ids: list[int] = Field(description="The objects this session may browse and restore.")
    created_at: datetime
    expires_at: datetime
    notes: list[str] = Field(description="What could not be worked out just now.")


class RestoreSessionsOut(Schema):
    items: list[RestoreSessionOut]


def session_out(session: RestoreSession) -> RestoreSessionOut:
    return RestoreSessionOut(
        id=session.pk,
        object_ids=list(session.object_ids),
        created_at=session.created_at,
        expires_at=session.expires_at,
        notes=list(session.notes),
    )


@router.post(
    "/restore-sessions",
    response={201: RestoreSessionOut, **AUTH_ERRORS, **NOT_FOUND},
    summary="Start a restore session: your scope resolved now, optionally one object",
)
def start(request: HttpRequest, payload: RestoreSessionIn) -> Status:
    session = scope.start_explicit_session(caller(request), payload.object)
    return Status(201, session_out(session))


@router.get(
    "/restore-sessions",
    response={200: RestoreSessionsOut, **AUTH_ERRORS},
    summary="Your restore sessions that have not ended, newest first",
)
def session_list(request: HttpRequest) -> RestoreSessionsOut:
    return RestoreSessionsOut(
        items=[session_out(s) for s in scope.explicit_sessions(caller(request))]
    )


@router.delete(
    "/restore-sessions/{id}",
    response={204: None, **AUTH_ERRORS, **NOT_FOUND},
    summary="End one of your restore sessions (its running restores go on)",
)
def end(request: HttpRequest, id: Path[UUID]) -> Status:
    scope.end_explicit_sessions(caller(request), id)
    return Status(204, None)
