"""Entra's v2 admin consent endpoint: `/{tenant}/v2.0/adminconsent`.

As learn.microsoft.com/entra/identity-platform/v2-admin-consent documents it: the request
carries client_id, redirect_uri (one the app registered), state and scope (`/.default`
for application permissions); a directory admin of that tenant signs in and approves;
Entra then grants the app's required permissions in the tenant (its service principal
gets the application permissions as app role assignments and the delegated ones as an
AllPrincipals grant) and redirects with `admin_consent=True&tenant=<id>&state=…`. A
refusal redirects with `error`, `error_description` (AADSTS…) and `state`; a
non-admin gets AADSTS90094 (admin approval required).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from sandbox import constants, seed
from sandbox.identity import errors
from sandbox.identity.endpoints import resolve_tenant
from sandbox.identity.session import dump_state, load_state
from sandbox.models import Application, DirectoryUser, ServicePrincipal, Tenant

PARAMETERS = ("client_id", "redirect_uri", "scope", "state")


def _error_page(request: HttpRequest, error: errors.OAuthError) -> HttpResponse:
    return render(
        request,
        "sandbox/error.html",
        {"code": error.code, "description": error.description},
        status=400,
    )


def _back(params: dict[str, str], values: dict[str, str]) -> HttpResponse:
    values = {k: v for k, v in {**values, "state": params.get("state", "")}.items() if v}
    sep = "&" if "?" in params["redirect_uri"] else "?"
    return HttpResponseRedirect(f"{params['redirect_uri']}{sep}{urlencode(values)}")


def _refuse(params: dict[str, str], error: str, code: int, description: str) -> HttpResponse:
    return _back(
        params,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )


def _page(
    request: HttpRequest, app: Application, tenant: Tenant, state: str, error: str = ""
) -> HttpResponse:
    return render(
        request,
        "sandbox/admin_consent.html",
        {
            "app": app,
            "tenant": tenant,
            "state": state,
            "error": error,
            "application": seed.PORTAL_APPLICATION_ROLES,
            "delegated": seed.PORTAL_DELEGATED_SCOPES,
            "action": request.path,
            "accounts": [a for a in seed.demo_accounts() if a["upn"] in constants.DIRECTORY_ADMINS],
        },
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def admin_consent(request: HttpRequest, tenant: str) -> HttpResponse:
    if request.method == "POST":
        return _decide(request, tenant)
    params = {name: request.GET[name] for name in PARAMETERS if request.GET.get(name)}
    try:
        found = resolve_tenant(tenant)
        app = Application.objects.filter(client_id=uuid.UUID(params.get("client_id", ""))).first()
    except errors.OAuthError as error:
        return _error_page(request, error)
    except ValueError:
        app = None
    if app is None:
        return _error_page(
            request, errors.application_not_found(params.get("client_id", ""), tenant)
        )
    if params.get("redirect_uri") not in app.redirect_uris:
        return _error_page(
            request, errors.redirect_mismatch(params.get("redirect_uri", ""), str(app.client_id))
        )
    if found is None:
        return _refuse(
            params, "invalid_request", 90130, "Admin consent needs a tenant, not common."
        )
    if not params.get("scope", "").endswith("/.default"):
        return _refuse(
            params,
            "invalid_request",
            70011,
            "The provided request must include a 'scope' input parameter ending in /.default "
            "to consent to application permissions.",
        )
    state = dump_state({"params": params, "tenant": str(found.id)}, "adminconsent")
    return _page(request, app, found, state)


def _decide(request: HttpRequest, tenant: str) -> HttpResponse:
    state = load_state(request.POST.get("state", ""), "adminconsent")
    if state is None:
        return _error_page(
            request, errors.OAuthError("invalid_request", 90015, "The page expired. Start again.")
        )
    params: dict[str, str] = state["params"]
    app = Application.objects.get(client_id=params["client_id"])
    found = Tenant.objects.get(pk=state["tenant"])
    if request.POST.get("decision") != "accept":
        return _refuse(
            params, "access_denied", 65004, "The administrator declined to consent to the app."
        )
    upn = request.POST.get("username", "").strip().lower()
    user = DirectoryUser.objects.filter(user_principal_name=upn).first()
    if user is None or not user.check_password(request.POST.get("password", "")):
        return _page(
            request,
            app,
            found,
            request.POST["state"],
            "AADSTS50126: Error validating credentials due to invalid username or password.",
        )
    if user.tenant_id != found.id:
        return _page(
            request,
            app,
            found,
            request.POST["state"],
            f"AADSTS50020: User account '{upn}' does not exist in tenant '{found.display_name}'.",
        )
    if upn not in constants.DIRECTORY_ADMINS:
        return _refuse(
            params,
            "access_denied",
            90094,
            f"Admin approval is required: {upn} is not an administrator of "
            f"{found.display_name} and cannot grant permissions for the whole organisation.",
        )
    grant(found, app)
    return _back(params, {"admin_consent": "True", "tenant": str(found.id)})


def grant(tenant: Tenant, app: Application) -> ServicePrincipal:
    """What Entra does on an admin's consent: the app gets a service principal in the
    tenant, with the application permissions it requires as app role assignments and its
    delegated permissions consented for everyone."""
    sp, _ = ServicePrincipal.objects.get_or_create(tenant=tenant, application=app)
    sp.graph_app_roles = list(seed.PORTAL_APPLICATION_ROLES)
    sp.admin_consented_scopes = sorted(
        set(sp.admin_consented_scopes) | set(seed.PORTAL_DELEGATED_SCOPES)
    )
    sp.save(update_fields=["graph_app_roles", "admin_consented_scopes"])
    return sp
