"""Role checks for views. Every helpdesk and admin page uses these, on the server."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from authflow.models import Role, Tenant, TenantAdmin, User

logger = logging.getLogger(__name__)

# How often a download in progress asks whether its person's access has ended.
REVOCATION_CHECK_SECONDS = 2.0

# Who may do what each role allows: an admin can do everything helpdesk can.
ALLOWED = {
    Role.HELPDESK: {Role.HELPDESK, Role.ADMIN},
    Role.ADMIN: {Role.ADMIN},
}


def has_role(user: object, role: Role) -> bool:
    """Whether a signed-in person may act in `role` (their effective role allows it).

    A tenant admin (TenantAdmin grants) acts as an admin, within their tenants only: every
    page they reach filters by `tenant_ids_of`."""
    if getattr(user, "effective_role", None) in ALLOWED[role]:
        return True
    if role == Role.HELPDESK:
        return bool(helpdesk_tenant_ids(user))
    return role == Role.ADMIN and bool(tenant_ids_of(user))


def tenant_ids_of(user: object) -> frozenset[uuid.UUID] | None:
    """The tenants a person administers: None for a global admin (every tenant), else the
    ids of their TenantAdmin grants (empty: none). A global admin is an admin by role with
    no tenant grant; a grant limits even an admin by role to the tenants granted."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return frozenset()
    cache = getattr(user, "_tenant_ids_cache", None)
    if cache is None:
        granted = frozenset(
            TenantAdmin.objects.filter(user_id=pk, role=TenantAdmin.GrantRole.ADMIN).values_list(
                "tenant__tenant_id", flat=True
            )
        )
        if granted or getattr(user, "effective_role", None) != Role.ADMIN:
            cache = (granted,)
        elif _admin_from_another_tenant(user):
            # Lifeboat.Admin assigned in a customer's own directory administers that
            # customer only; a global admin is granted in the portal or is of the home tenant.
            cache = (frozenset({uuid.UUID(str(getattr(user, "tenant_id", "")))}),)
        else:
            cache = (None,)
        user._tenant_ids_cache = cache  # type: ignore[attr-defined]
    return cache[0]


def helpdesk_tenant_ids(user: object) -> frozenset[uuid.UUID] | None:
    """The tenants a person may start, see and cancel helpdesk sign-ins in: None for a
    global admin (every tenant); else the tenants they administer, the tenants granted to
    them as helpdesk, and, while their role allows helpdesk, their own tenant (a local
    account without one: the portal's own). A helpdesk role from a customer's directory
    thus counts in that customer's tenant only."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return frozenset()
    cache = getattr(user, "_helpdesk_ids_cache", None)
    if cache is None:
        administered = tenant_ids_of(user)
        if administered is None:
            cache = (None,)
        else:
            ids = set(administered) | set(
                TenantAdmin.objects.filter(
                    user_id=pk, role=TenantAdmin.GrantRole.HELPDESK
                ).values_list("tenant__tenant_id", flat=True)
            )
            if getattr(user, "effective_role", None) in ALLOWED[Role.HELPDESK]:
                own = getattr(user, "tenant_id", None) or home_tenant_id()
                with contextlib.suppress(ValueError):
                    ids.add(uuid.UUID(str(own)))
            cache = (frozenset(ids),)
        user._helpdesk_ids_cache = cache  # type: ignore[attr-defined]
    return cache[0]


def helps_in_tenant(user: object, tenant_id: object) -> bool:
    """Whether `user` may act as helpdesk in `tenant_id`."""
    allowed = helpdesk_tenant_ids(user)
    if allowed is None:
        return True
    try:
        return uuid.UUID(str(tenant_id)) in allowed
    except ValueError:
        return False


def home_tenant_id() -> str:
    """The portal's own tenant: the first connected one, else MICROSOFT_TENANT_ID."""
    first = Tenant.objects.order_by("created_at", "pk").values_list("tenant_id", flat=True).first()
    return str(first) if first else str(settings.MICROSOFT_TENANT_ID).lower()


def _admin_from_another_tenant(user: object) -> bool:
    """An admin only by Entra's word (app role or group), in a tenant that is not the
    portal's own."""
    tenant_id = getattr(user, "tenant_id", None)
    return (
        getattr(user, "role", None) != Role.ADMIN
        and tenant_id is not None
        and str(tenant_id) != home_tenant_id()
    )


def sees_tenant(user: object, tenant_id: object) -> bool:
    """Whether `user` may see and change data of `tenant_id` as an admin."""
    allowed = tenant_ids_of(user)
    if allowed is None:
        return True
    try:
        return uuid.UUID(str(tenant_id)) in allowed
    except ValueError:
        return False


def role_required(
    role: Role,
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Signed-out people go to sign-in; signed-in people without the role get 403."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        # Before the check the caller may be signed out: a plain request, not a PortalRequest.
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                raise PermissionDenied(f"This page is for the {role.label} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def until_access_ends(chunks: Iterator[bytes], user: User) -> Iterator[bytes]:
    """`chunks`, cut off as soon as `user`'s access ends (a Revoke, "sign out everywhere",
    "Forget my tokens": identities.end_everything changes the password hash every web
    session is tied to), asked at most every REVOCATION_CHECK_SECONDS. On a cut-off the
    inner iterator is closed, so it sees an interrupted download, not a finished one."""
    password = user.password
    checked = time.monotonic()
    try:
        for chunk in chunks:
            now = time.monotonic()
            if now - checked >= REVOCATION_CHECK_SECONDS:
                checked = now
                if not User.objects.filter(pk=user.pk, password=password, is_active=True).exists():
                    logger.info("Download stopped: the person's access was ended")
                    return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
