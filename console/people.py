"""Admin console: people and their portal roles."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from authflow.access import role_required
from authflow.identities import set_role
from authflow.models import Role, User
from console.tenancy import is_global, scoped
from portal.http import PortalRequest


@require_GET
@role_required(Role.ADMIN)
def people(request: PortalRequest) -> HttpResponse:
    users = scoped(request, User.objects.order_by("upn"), "tenant_id")
    query = request.GET.get("q", "").strip()[:200]
    if query:
        users = users.filter(Q(upn__icontains=query) | Q(display_name__icontains=query))
    return render(
        request,
        "console/people.html",
        {
            "page": Paginator(users, 50).get_page(request.GET.get("page")),
            "q": query,
            "roles": Role.choices,
        },
    )


@require_POST
@role_required(Role.ADMIN)
def change_role(request: PortalRequest, identity: str) -> HttpResponse:
    user = get_object_or_404(scoped(request, User.objects.all(), "tenant_id"), username=identity)
    value = request.POST.get("role", "")
    if value not in Role.values:
        messages.error(request, "Choose one of the roles listed.")
        return redirect("console:people")
    if value == Role.ADMIN and not is_global(request):
        # An admin by role is a global admin: only a global admin makes one.
        messages.error(request, "Only a global admin can make someone an admin.")
        return redirect("console:people")
    try:
        if set_role(user, Role(value), by=request.user, request=request):
            messages.success(request, f"{user} is now {Role(value).label}.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("console:people")
