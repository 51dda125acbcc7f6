"""Admin console: the logged-in users (identities the portal holds delegated tokens
for), with revoke and re-login, and which backups were last read with each one's token
(revoking that person makes those backups wait for another sign-in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.core import signing
from django.db.models import Q, QuerySet
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from authflow import flows, principals, signins
from authflow.access import role_required
from authflow.identities import logged_in_users_query, refresh_token_expires_at, revoke_identity
from authflow.models import Role, TokenCache, User
from console.tenancy import scoped
from portal.http import PortalRequest
from restore.backup import delegation

PAGE_SIZE = 50
CURSOR_SALT = "console.logged-in-users"


@dataclass(frozen=True)
class _Key:
    field: str  # on TokenCache, as logged_in_users_query orders (then by pk, ascending)
    descending: bool
    nullable: bool
    is_date: bool


# identities.SORTS, as keyset paging needs them (PostgreSQL puts NULLs last ascending
# and first descending, as the SQL's ORDER BY already does).
KEYS = {
    "upn": _Key("user__upn", False, False, False),
    "signed_in": _Key("signed_in_at", True, False, True),
    "expires": _Key("access_token_expires_at", False, True, True),
    "last_used": _Key("last_used_at", True, True, True),
    "status": _Key("status", False, False, False),
}


class BadCursor(ValueError):
    pass


def _cursor(sort: str, row: TokenCache) -> str:
    key = KEYS[sort]
    value = _value(row, key.field)
    if isinstance(value, datetime):
        value = value.isoformat()
    return signing.dumps({"s": sort, "v": value, "i": row.pk}, salt=CURSOR_SALT, compress=True)


def _value(row: TokenCache, field: str) -> Any:
    return row.user.upn if field == "user__upn" else getattr(row, field)


def _after(rows: QuerySet[TokenCache], sort: str, cursor: str) -> QuerySet[TokenCache]:
    """The rows after the cursor's row in `sort` order; BadCursor for one not ours."""
    key = KEYS[sort]
    try:
        payload = signing.loads(cursor, salt=CURSOR_SALT)
        if payload["s"] != sort or not isinstance(payload["i"], int):
            raise BadCursor
        value = payload["v"]
        if value is not None and key.is_date:
            value = datetime.fromisoformat(value)
        elif value is not None and not isinstance(value, str):
            raise BadCursor
    except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
        raise BadCursor from error
    f, pk = key.field, payload["i"]
    if value is None:
        after = Q(**{f"{f}__isnull": True, "pk__gt": pk})
        if key.descending:
            after |= Q(**{f"{f}__isnull": False})
    else:
        after = Q(**{f"{f}__{'lt' if key.descending else 'gt'}": value}) | Q(
            **{f: value, "pk__gt": pk}
        )
        if key.nullable and not key.descending:
            after |= Q(**{f"{f}__isnull": True})
    return rows.filter(after)


def _when(value: datetime | None, format: str = "%Y-%m-%d %H:%M") -> str:
    """As the template filter date:"Y-m-d H:i" shows it: local time, or "" for none."""
    return timezone.localtime(value).strftime(format) if value else ""


@dataclass(frozen=True)
class _Row:
    identity: str
    display_name: str
    upn: str
    tenant_id: str
    signed_in: str
    method: str
    started_by: str
    access_until: str
    refresh_renewed: str
    refresh_expires: str
    scopes: str
    last_used: str
    status: str
    status_label: str
    status_reason: str
    revoke_url: str
    re_login_url: str
    # What their delegated token reads: these backups stop (and wait) if it is revoked.
    backups: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, row: TokenCache, revoke_url: str, re_login_url: str, backups: tuple[str, ...] = ()
    ) -> _Row:
        user = row.user
        identity = user.identity
        quoted = quote(identity, safe="")
        return cls(
            identity=identity,
            display_name=user.display_name,
            upn=user.upn,
            tenant_id=str(user.tenant_id) if user.tenant_id else "",
            signed_in=_when(row.signed_in_at),
            method=row.get_method_display(),
            started_by=row.started_by.upn if row.started_by else "",
            access_until=_when(row.access_token_expires_at),
            refresh_renewed=_when(row.refresh_token_renewed_at),
            refresh_expires=_when(refresh_token_expires_at(row), "%Y-%m-%d"),
            scopes=" ".join(row.scopes),
            last_used=_when(row.last_used_at),
            status=row.status,
            status_label=row.get_status_display(),
            status_reason=row.status_reason,
            revoke_url=revoke_url.replace("-identity-", quoted),
            re_login_url=re_login_url.replace("-identity-", quoted),
            backups=backups,
        )


@require_GET
@role_required(Role.ADMIN)
def logged_in_users(request: PortalRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    method = request.GET.get("method", "")
    tenant = request.GET.get("tenant", "").strip()
    sort = request.GET.get("sort", "upn")
    sort = sort if sort in KEYS else "upn"
    rows = scoped(
        request,
        logged_in_users_query(q=query, status=status, method=method, tenant=tenant, sort=sort),
        "user__tenant_id",
    )
    # Keyset pages: "next" continues after the last row shown, by an index on the sort,
    # instead of counting and skipping every identity before the page (50,000 of them).
    cursor = request.GET.get("after", "")
    if cursor:
        try:
            rows = _after(rows, sort, cursor)
        except BadCursor:
            return HttpResponseBadRequest(
                "This page link is not valid (it was changed, or belongs to another sort)."
            )
    found = list(rows[: PAGE_SIZE + 1])
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    # Each row as the strings it shows: the template then prints them (with 50 rows, the
    # template's own date filters, lookups and {% url %} tags were most of the page's time).
    revoke_url = reverse("console:revoke", args=["-identity-"])
    re_login_url = reverse("console:re-login", args=["-identity-"])
    backups = delegation.read_as([row.user for row in found])
    shown = [
        _Row.of(row, revoke_url, re_login_url, tuple(str(o) for o in backups.get(row.user_id, [])))
        for row in found
    ]
    base = request.GET.copy()
    base.pop("after", None)
    next_query = None
    if more and found:
        base["after"] = _cursor(sort, found[-1])
        next_query = base.urlencode()
        base.pop("after")
    return render(
        request,
        "console/logged_in_users.html",
        {
            "rows": shown,
            "next_query": next_query,
            "first_query": base.urlencode() if cursor else None,
            "list_path": request.get_full_path(),
            "filters": {"q": query, "status": status, "method": method, "tenant": tenant},
            "sort": sort,
            "statuses": TokenCache.Status.choices,
            "methods": TokenCache.Method.choices,
        },
    )


def _back_to_list(request: PortalRequest) -> HttpResponse:
    """The list as it was (filters, sort, page): the form's `next`, if it is that list."""
    back = request.POST.get("next", "")
    listing = reverse("console:logged-in-users")
    if back.startswith(f"{listing}?") and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}
    ):
        return redirect(back)
    return redirect(listing)


@require_POST
@role_required(Role.ADMIN)
def revoke(request: PortalRequest, identity: str) -> HttpResponse:
    user = get_object_or_404(scoped(request, User.objects.all(), "tenant_id"), username=identity)
    if revoke_identity(user, by=request.user, request=request):
        messages.success(request, f"Revoked the tokens of {user}. They must sign in again.")
    return _back_to_list(request)


@require_POST
@role_required(Role.ADMIN)
def re_login(request: PortalRequest, identity: str) -> HttpResponse:
    """Start the helpdesk sign-in for this identity (we know exactly whom to expect)."""
    user = get_object_or_404(scoped(request, User.objects.all(), "tenant_id"), username=identity)
    expected = principals.ExpectedUser.of(user)
    try:
        sign_in = signins.start_helpdesk_sign_in(expected, started_by=request.user, request=request)
    except flows.FlowError as exc:
        messages.error(request, f"Microsoft did not give a code: {exc}")
        return _back_to_list(request)
    return redirect("helpdesk:sign-in", code=sign_in.code)
