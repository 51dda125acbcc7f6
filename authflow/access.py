"""Role checks for views. Every helpdesk and admin page uses these, on the server."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from authflow.models import Role

# Who may do what each role allows: an admin can do everything helpdesk can.
ALLOWED = {
    Role.HELPDESK: {Role.HELPDESK, Role.ADMIN},
    Role.ADMIN: {Role.ADMIN},
}


def has_role(user: object, role: Role) -> bool:
    """Whether a signed-in person may act in `role` (their effective role allows it)."""
    return getattr(user, "effective_role", None) in ALLOWED[role]


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
