"""Sign in before the backup window: the objects whose next backup (in the next 24 hours)
needs a person's sign-in — group calendars — per tenant the helpdesk person or admin acts
in, with whose token each last backup used, and one action that starts the sign-ins
(one pending sign-in per person, shared with the backups and restores waiting for them).

The seed's advice (`login:<group>` before backup windows), as a page. What decides whose
token a backup uses is restore/backup/delegation.py.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from authflow import principals, signins
from authflow.access import helpdesk_tenant_ids, role_required
from authflow.flows import FlowError
from authflow.models import Role, User
from portal.graph import GraphError
from portal.http import PortalRequest
from restore.backup import delegation
from restore.models import EntityKind, ProtectedObject


def _objects(request: PortalRequest) -> list[ProtectedObject]:
    """Objects that may need a person, in the tenants this person helps in."""
    allowed = helpdesk_tenant_ids(request.user)
    rows = ProtectedObject.objects.filter(enabled=True, excluded=False).order_by("name", "pk")
    if allowed is not None:
        rows = rows.filter(tenant_id__in=allowed)
    return [obj for obj in rows if delegation.needs_person(obj)]


@require_GET
@role_required(Role.HELPDESK)
def delegated_backups(request: PortalRequest) -> HttpResponse:
    rows = delegation.upcoming(_objects(request))
    return render(
        request,
        "console/delegated_backups.html",
        {"rows": rows, "needing": sum(1 for r in rows if not r.ready)},
    )


def _people_for(row: delegation.Upcoming) -> list[principals.ExpectedUser]:
    """Whom to ask for one object: those it waits for, else the person it was last read
    as, else (never backed up) the group's owners. Graph for the owners (app token)."""
    if row.waiting_for:
        users = User.objects.filter(username__in=row.waiting_for)
        known = [principals.ExpectedUser.of(u) for u in users if u.oid and u.tenant_id]
        if known:
            return known[: delegation.MAX_SIGN_INS]
    if row.point is not None and row.point.token_user is not None:
        return [principals.ExpectedUser.of(row.point.token_user)]
    obj = row.object
    if obj.entity == EntityKind.GROUP:
        owners = principals.group_owners(str(obj.owner_id), tenant_id=str(obj.tenant_id))
        return list(owners[: delegation.MAX_SIGN_INS])
    return [principals.ExpectedUser(str(obj.owner_id), str(obj.tenant_id), obj.address, obj.name)]


def _start(request: PortalRequest, rows: list[delegation.Upcoming]) -> HttpResponse:
    started: dict[str, str] = {}
    problems: list[str] = []
    for row in rows:
        if row.ready:
            continue
        try:
            people = _people_for(row)
        except (GraphError, FlowError) as error:
            problems.append(f"{row.object}: its owners could not be read ({error})")
            continue
        for person in people:
            if person.identity in started:
                continue
            sign_in = signins.pending_sign_in_for(person)
            if sign_in is None:
                problems.append(f"{person.upn}: Microsoft gave no code")
                continue
            started[person.identity] = f"{person.upn}: code {sign_in.user_code}"
    if started:
        messages.success(
            request,
            f"Sign-ins waiting at {len(started)} person(s) (one each, shared by every backup "
            "and restore waiting for them): " + "; ".join(started.values()),
        )
    elif not problems:
        messages.info(request, "Nothing needs a sign-in in the next 24 hours.")
    for problem in problems:
        messages.error(request, problem)
    return redirect("console:delegated-backups")


@require_POST
@role_required(Role.HELPDESK)
def start_all(request: PortalRequest) -> HttpResponse:
    return _start(request, delegation.upcoming(_objects(request)))


@require_POST
@role_required(Role.HELPDESK)
def start_one(request: PortalRequest, object_id: int) -> HttpResponse:
    found = [o for o in _objects(request) if o.pk == object_id]
    if not found:
        raise Http404("No such object.")
    rows = delegation.upcoming(found, hours=24 * 365)
    return _start(request, rows)
