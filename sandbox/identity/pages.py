"""The identity platform's browser pages: authorize (sign-in, consent), device login, logout.

What a person sees at login.microsoftonline.com and microsoft.com/devicelogin, reduced to
what the flows need: account and password, "Are you trying to sign in to <app>?",
consent to the requested permissions.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.csp import CSP
from django.views.decorators.http import require_GET, require_http_methods

from sandbox import seed
from sandbox.identity import errors, scopes, tokens
from sandbox.identity.endpoints import resolve_tenant
from sandbox.identity.session import dump_state, load_state, sign_in, sign_out, signed_in_user
from sandbox.models import (
    Application,
    AuthorizationCode,
    DeviceCode,
    DirectoryUser,
    Policy,
    ServicePrincipal,
    Tenant,
)

AUTHORIZE_PARAMETERS = (
    "client_id", "response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "response_mode", "prompt", "login_hint", "domain_hint", "max_age",
)  # fmt: skip
RESPONSE_MODES = ("query", "fragment", "form_post")
WRONG_CODE_LIMIT = 20  # per client address and 10 minutes (RFC 8628 §5.1)


def _error_page(request: HttpRequest, error: errors.OAuthError, status: int = 400) -> HttpResponse:
    return render(
        request,
        "sandbox/error.html",
        {"code": error.code, "description": error.description},
        status=status,
    )


def _user_problem(user: DirectoryUser, app: Application, tenant: Tenant | None) -> str | None:
    """Why this account may not sign in to this app here, in Entra's words; None if it may."""
    if tenant is not None and user.tenant_id != tenant.id:
        return (
            f"AADSTS50020: User account '{user.user_principal_name}' from identity provider "
            f"does not exist in tenant '{tenant.display_name}' and cannot access the "
            f"application '{app.client_id}'({app.display_name}) in that tenant."
        )
    if not user.account_enabled:
        return "AADSTS50057: The user account is disabled."
    if not ServicePrincipal.objects.filter(tenant_id=user.tenant_id, application=app).exists():
        return (
            f"AADSTS700016: Application with identifier '{app.client_id}' was not found in the "
            f"directory '{user.tenant.display_name}'."
        )
    return None


def _check_password(upn: str, password: str) -> DirectoryUser | None:
    user = DirectoryUser.objects.select_related("tenant").filter(user_principal_name=upn).first()
    if user is None or not user.check_password(password):
        return None
    return user


def _demo_accounts() -> list[dict[str, str]]:
    return seed.demo_accounts()


# --- Authorize (authorization code flow) ------------------------------------------------


def _redirect_to_client(
    request: HttpRequest, redirect_uri: str, mode: str, values: dict[str, str]
) -> HttpResponse:
    values = {k: v for k, v in values.items() if v}
    if mode == "form_post":
        response = render(
            request, "sandbox/form_post.html", {"action": redirect_uri, "values": values}
        )
        parts = urlsplit(redirect_uri)
        # Django's CSP middleware reads this per-response override (what its csp_override
        # decorator sets), undeclared on HttpResponse; the form posts to the client's host.
        response._csp_config = {  # type: ignore[attr-defined]
            **settings.SECURE_CSP,
            "form-action": [CSP.SELF, f"{parts.scheme}://{parts.netloc}"],
        }
        return response
    parts = urlsplit(redirect_uri)
    if mode == "fragment":
        return HttpResponseRedirect(urlunsplit(parts._replace(fragment=urlencode(values))))
    query = f"{parts.query}&{urlencode(values)}" if parts.query else urlencode(values)
    return HttpResponseRedirect(urlunsplit(parts._replace(query=query)))


def _redirect_error(
    request: HttpRequest, params: dict[str, str], error: str, code: int, description: str
) -> HttpResponse:
    return _redirect_to_client(
        request,
        params["redirect_uri"],
        params.get("response_mode") or "query",
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            "state": params.get("state", ""),
        },
    )


def _issue_code(
    request: HttpRequest, tenant: Tenant, params: dict[str, str], user: DirectoryUser, at: datetime
) -> HttpResponse:
    app = Application.objects.get(client_id=params["client_id"])
    code = secrets.token_urlsafe(64)
    AuthorizationCode.objects.create(
        code_hash=tokens.digest(code),
        application=app,
        user=user,
        tenant=user.tenant,
        redirect_uri=params["redirect_uri"],
        scopes=params["scope"].split(),
        code_challenge=params.get("code_challenge", ""),
        code_challenge_method=params.get("code_challenge_method") or "plain",
        nonce=params.get("nonce", ""),
        auth_time=at,
        expires_at=timezone.now() + timedelta(seconds=Policy.current().authorization_code_lifetime),
    )
    return _redirect_to_client(
        request,
        params["redirect_uri"],
        params.get("response_mode") or "query",
        {
            "code": code,
            "client_info": tokens.client_info(user),
            "state": params.get("state", ""),
            "session_state": str(uuid.uuid4()),
        },
    )


def _after_sign_in(
    request: HttpRequest,
    tenant_name: str,
    params: dict[str, str],
    user: DirectoryUser,
    auth_time: datetime,
) -> HttpResponse:
    app = Application.objects.get(client_id=params["client_id"])
    request_scopes = scopes.parse(params["scope"], tenant_name)
    missing = scopes.missing_consent(user, app, request_scopes)
    if params.get("prompt") == "consent":
        missing = missing or set(request_scopes.scopes)
    if missing:
        if params.get("prompt") == "none":
            return _redirect_error(
                request, params, "consent_required", 65001, "The user has not consented."
            )
        if blocked := scopes.needs_admin(missing):
            return _redirect_error(
                request,
                params,
                "access_denied",
                90094,
                f"Admin consent is required for: {' '.join(sorted(blocked))}.",
            )
        state = dump_state(
            {"params": params, "uid": str(user.pk), "at": auth_time.timestamp()}, "consent"
        )
        return render(
            request,
            "sandbox/consent.html",
            {
                "app": app,
                "user": user,
                "scopes": sorted(missing),
                "state": state,
                "action": request.path,
            },
        )
    return _issue_code(request, user.tenant, params, user, auth_time)


def _sign_in_page(
    request: HttpRequest, app: Application, state: str, login_hint: str, error: str = ""
) -> HttpResponse:
    return render(
        request,
        "sandbox/sign_in.html",
        {
            "app": app,
            "state": state,
            "login_hint": login_hint,
            "error": error,
            "action": request.path,
            "accounts": _demo_accounts(),
        },
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest, tenant: str) -> HttpResponse:
    step = request.POST.get("step") if request.method == "POST" else None
    if step:
        return _authorize_step(request, tenant, step)
    source = request.GET if request.method == "GET" else request.POST
    params = {name: source[name] for name in AUTHORIZE_PARAMETERS if source.get(name)}

    # Problems with the client or the redirect URI are shown here, never redirected.
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
    if params.get("response_mode", "query") not in RESPONSE_MODES:
        params["response_mode"] = "query"
        return _redirect_error(request, params, "invalid_request", 900144, "Bad response_mode.")
    if params.get("response_type") != "code":
        return _redirect_error(
            request, params, "unsupported_response_type", 70005, "response_type must be code."
        )
    if params.get("code_challenge") and params.get("code_challenge_method", "plain") not in (
        "S256",
        "plain",
    ):
        return _redirect_error(
            request, params, "invalid_request", 50148, "code_challenge_method must be S256."
        )
    try:
        scopes.parse(params.get("scope", ""), tenant)
    except errors.OAuthError as error:
        return _redirect_error(request, params, error.error, error.code, error.description)

    session = signed_in_user(request)
    hint = params.get("login_hint", "").lower()
    if (
        session
        and params.get("prompt") not in ("login", "select_account")
        and (not hint or hint == session[0].user_principal_name)
        and _user_problem(session[0], app, found) is None
    ):
        return _after_sign_in(request, tenant, params, *session)
    if params.get("prompt") == "none":
        return _redirect_error(
            request, params, "login_required", 50058, "A silent sign-in request was sent but no "
            "user is signed in.",
        )  # fmt: skip
    state = dump_state({"params": params}, "authorize")
    return _sign_in_page(request, app, state, params.get("login_hint", ""))


def _authorize_step(request: HttpRequest, tenant: str, step: str) -> HttpResponse:
    purpose = "authorize" if step == "sign-in" else "consent"
    state = load_state(request.POST.get("state", ""), purpose)
    if state is None:
        return _error_page(
            request,
            errors.OAuthError("invalid_request", 90015, "The sign-in page expired. Start again."),
        )
    params: dict[str, str] = state["params"]
    app = Application.objects.get(client_id=params["client_id"])
    found = resolve_tenant(tenant)

    if step == "sign-in":
        user = _check_password(
            request.POST.get("username", "").strip().lower(), request.POST.get("password", "")
        )
        if user is None:
            return _sign_in_page(
                request,
                app,
                request.POST["state"],
                request.POST.get("username", ""),
                "AADSTS50126: Error validating credentials due to invalid username or password.",
            )
        if problem := _user_problem(user, app, found):
            return _sign_in_page(
                request, app, request.POST["state"], user.user_principal_name, problem
            )
        response = HttpResponse()
        auth_time = sign_in(response, user)
        next_response = _after_sign_in(request, tenant, params, user, auth_time)
        next_response.cookies.update(response.cookies)
        return next_response

    user = DirectoryUser.objects.select_related("tenant").get(pk=state["uid"])
    if request.POST.get("decision") != "accept":
        return _redirect_error(
            request, params, "access_denied", 65004, "User declined to consent to access the app."
        )
    scopes.record_consent(user, app, scopes.parse(params["scope"], tenant))
    auth_time = datetime.fromtimestamp(state["at"], tz=UTC)
    return _issue_code(request, user.tenant, params, user, auth_time)


@require_GET
def logout(request: HttpRequest, tenant: str) -> HttpResponse:
    target = request.GET.get("post_logout_redirect_uri", "")
    registered = any(
        target and target.startswith(uri.rsplit("/", 1)[0])
        for uris in Application.objects.values_list("redirect_uris", flat=True)
        for uri in uris
    )
    response: HttpResponse = (
        HttpResponseRedirect(target) if registered else render(request, "sandbox/signed_out.html")
    )
    sign_out(response)
    return response


# --- Device login (microsoft.com/devicelogin) ------------------------------------------


def _normalise_user_code(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch.isalnum())


def _pending_device_code(user_code: str) -> DeviceCode | None:
    return (
        DeviceCode.objects.select_related("application", "tenant")
        .filter(
            user_code=user_code,
            status=DeviceCode.Status.PENDING,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


def _device_page(
    request: HttpRequest, template: str, status: int = 200, **context: Any
) -> HttpResponse:
    return render(
        request, f"sandbox/{template}", {"action": request.path, **context}, status=status
    )


def _confirm_page(
    request: HttpRequest, dc: DeviceCode, user: DirectoryUser, at: datetime
) -> HttpResponse:
    request_scopes = scopes.parse(" ".join(dc.scopes), str(user.tenant_id))
    missing = scopes.missing_consent(user, dc.application, request_scopes)
    state = dump_state({"dc": dc.pk, "uid": str(user.pk), "at": at.timestamp()}, "device-confirm")
    return _device_page(
        request,
        "device_confirm.html",
        app=dc.application,
        user=user,
        scopes=sorted(missing),
        admin_only=sorted(scopes.needs_admin(missing)),
        state=state,
    )


@require_http_methods(["GET", "POST"])
def device_login(request: HttpRequest) -> HttpResponse:
    """Enter the code → sign in (unless already) → "Are you trying to sign in?" → done."""
    if request.method == "GET":
        return _device_page(request, "device_code.html", code=request.GET.get("code", ""))
    step = request.POST.get("step", "code")
    if step == "sign-in":
        return _device_sign_in(request)
    if step == "confirm":
        return _device_confirm(request)
    return _device_enter_code(request)


def _device_enter_code(request: HttpRequest) -> HttpResponse:
    attempts_key = f"sandbox:device-code-attempts:{request.META.get('REMOTE_ADDR', '')}"
    if cache.get(attempts_key, 0) >= WRONG_CODE_LIMIT:
        return _device_page(
            request,
            "device_code.html",
            status=429,
            error="Too many wrong codes. Wait a few minutes and try again.",
        )
    dc = _pending_device_code(_normalise_user_code(request.POST.get("code", "")))
    if dc is None:
        cache.add(attempts_key, 0, timeout=600)
        cache.incr(attempts_key)
        return _device_page(
            request,
            "device_code.html",
            status=400,
            code=request.POST.get("code", ""),
            error="That code didn't work. Check the code and try again.",
        )
    session = signed_in_user(request)
    if session and request.POST.get("switch") != "1":
        user, at = session
        if _user_problem(user, dc.application, dc.tenant) is None:
            return _confirm_page(request, dc, user, at)
    return _device_page(
        request,
        "sign_in.html",
        app=dc.application,
        state=dump_state({"dc": dc.pk}, "device-sign-in"),
        accounts=_demo_accounts(),
    )


def _open_device_code(request: HttpRequest, purpose: str) -> tuple[DeviceCode, dict] | None:
    state = load_state(request.POST.get("state", ""), purpose)
    if state is None:
        return None
    dc = DeviceCode.objects.select_related("application", "tenant").filter(pk=state["dc"]).first()
    if dc is None or dc.status != DeviceCode.Status.PENDING or dc.is_expired:
        return None
    return dc, state


def _device_sign_in(request: HttpRequest) -> HttpResponse:
    opened = _open_device_code(request, "device-sign-in")
    if opened is None:
        return _device_page(request, "device_code.html", status=400, error="The code expired.")
    dc, _ = opened
    user = _check_password(
        request.POST.get("username", "").strip().lower(), request.POST.get("password", "")
    )
    problem: str | None
    if user is None:
        problem = "AADSTS50126: Error validating credentials due to invalid username or password."
    else:
        problem = _user_problem(user, dc.application, dc.tenant)
    if user is None or problem:
        return _device_page(
            request,
            "sign_in.html",
            status=400,
            app=dc.application,
            state=request.POST["state"],
            login_hint=request.POST.get("username", ""),
            error=problem,
            accounts=_demo_accounts(),
        )
    response = HttpResponse()
    at = sign_in(response, user)
    page = _confirm_page(request, dc, user, at)
    page.cookies.update(response.cookies)
    return page


def _device_confirm(request: HttpRequest) -> HttpResponse:
    opened = _open_device_code(request, "device-confirm")
    if opened is None:
        return _device_page(request, "device_code.html", status=400, error="The code expired.")
    dc, state = opened
    user = DirectoryUser.objects.select_related("tenant").get(pk=state["uid"])
    if request.POST.get("decision") != "continue":
        DeviceCode.objects.filter(pk=dc.pk, status=DeviceCode.Status.PENDING).update(
            status=DeviceCode.Status.DECLINED
        )
        return _device_page(request, "device_done.html", app=dc.application, declined=True)
    request_scopes = scopes.parse(" ".join(dc.scopes), str(user.tenant_id))
    missing = scopes.missing_consent(user, dc.application, request_scopes)
    if scopes.needs_admin(missing):
        return _device_page(request, "device_done.html", app=dc.application, needs_admin=True)
    if missing:
        scopes.record_consent(user, dc.application, request_scopes)
    DeviceCode.objects.filter(pk=dc.pk, status=DeviceCode.Status.PENDING).update(
        status=DeviceCode.Status.APPROVED, user=user, approved_at=timezone.now()
    )
    return _device_page(request, "device_done.html", app=dc.application, user=user)
