"""The sandbox's front page: what it is, its accounts, and the tenant admin's actions."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from sandbox import constants, seed
from sandbox.models import DirectoryUser, Drive

ADMIN_ACTIONS = ("revoke-sessions", "disable", "enable")


@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    """Lists the demo accounts and does what an Entra admin would do to one of them."""
    seed.ensure_seeded()
    if request.method == "POST":
        user = get_object_or_404(DirectoryUser, pk=request.POST.get("user"))
        action = request.POST.get("action")
        if action == "revoke-sessions":
            user.revoke_sign_in_sessions()
        elif action in ("disable", "enable"):
            user.account_enabled = action == "enable"
            user.save(update_fields=["account_enabled"])
            if action == "disable":
                user.revoke_sign_in_sessions()
        else:
            return HttpResponse("Unknown action.", status=400)
        messages.success(request, f"{action.replace('-', ' ').capitalize()}: {user}")
        return redirect("sandbox:home")
    passwords = {a["upn"]: a["password"] for a in seed.demo_accounts()}
    drives = {d.owner_user_id: d.id for d in Drive.objects.filter(owner_user__isnull=False)}
    users = [
        {
            "user": u,
            "password": passwords.get(u.user_principal_name),
            "drive": drives.get(u.id),
        }
        for u in DirectoryUser.objects.select_related("tenant")
        .filter(user_principal_name__in=passwords)
        .order_by("tenant__display_name", "user_principal_name")
    ]
    group_drives = Drive.objects.filter(owner_group__isnull=False).select_related("owner_group")
    return render(
        request,
        "sandbox/home.html",
        {
            "users": users,
            "group_drives": group_drives.order_by("owner_group__display_name"),
            "site_libraries": Drive.objects.filter(owner_user=None, owner_group=None)
            .exclude(site=None)
            .select_related("site")
            .order_by("site__display_name", "name"),
            "tenant_id": constants.TENANT_ID,
            "domain": constants.TENANT_DOMAIN,
        },
    )
