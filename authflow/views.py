"""Sign-in pages: with a code (device code) or in the browser (auth code + PKCE); profile."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import zoneinfo
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_ratelimit.decorators import ratelimit

from authflow import encryption, flows, identities, identity, links, signins
from authflow.models import SignIn, TokenCache
from portal import audit, middleware
from portal.http import PortalRequest

logger = logging.getLogger(__name__)

# Starting sign-ins costs Microsoft round trips and creates codes someone could relay:
# limit it per client address and per account.
SIGN_IN_RATE = "10/m"
SESSION_SIGN_INS = "authflow:device-sign-ins"  # {sign-in code: browser secret}
SESSION_AUTH_FLOW = "authflow:auth-code-flow"
CALLBACK_CACHE = "authflow:callback:"


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return reverse(settings.LOGIN_REDIRECT_URL)


def _sign_in_page(
    request: HttpRequest, *, next_url: str, error: str = "", status: int = 200
) -> HttpResponse:
    """The sign-in page; "Sign in with a code" only where this browser may use it."""
    context = {
        "next": next_url,
        "error": error,
        "device_code": signins.self_device_code_allowed(request),
        "app_name": settings.MICROSOFT_APP_NAME,
        "ask_address": signins.needs_address(),
    }
    return render(request, "authflow/sign_in.html", context, status=status)


def _too_many(request: PortalRequest) -> HttpResponse:
    return _sign_in_page(
        request,
        error="Too many sign-in attempts from here. Wait a minute and try again.",
        next_url=_safe_next(request, request.POST.get("next") or request.GET.get("next")),
        status=429,
    )


@require_GET
def sign_in(request: HttpRequest) -> HttpResponse:  # signed out, usually
    next_url = _safe_next(request, request.GET.get("next"))
    if request.user.is_authenticated:
        return redirect(next_url)
    return _sign_in_page(request, next_url=next_url)


def _sign_in_failed(request: PortalRequest, message: str, next_url: str) -> HttpResponse:
    return _sign_in_page(request, error=message, next_url=next_url, status=502)


# --- Device code ----------------------------------------------------------------------


@require_POST
@ratelimit(group="sign-in:ip", key="ip", rate=SIGN_IN_RATE, method="POST", block=False)
@ratelimit(group="sign-in:user", key="user_or_ip", rate=SIGN_IN_RATE, method="POST", block=False)
def start_device_code(request: PortalRequest) -> HttpResponse:
    if getattr(request, "limited", False):
        return _too_many(request)
    next_url = _safe_next(request, request.POST.get("next"))
    if not signins.self_device_code_allowed(request):
        return _sign_in_page(
            request,
            error="Signing in with a code is turned off here: use Sign in with Microsoft. "
            "(A code for yourself can be misused by someone who sends you theirs; your "
            "administrator can turn it on for trusted networks.)",
            next_url=next_url,
            status=403,
        )
    secret = signins.new_browser_secret()
    try:
        sign_in = signins.start_device_sign_in(
            request=request,
            started_by=request.user if request.user.is_authenticated else None,
            browser_secret=secret,
            next_url=next_url,
            address=request.POST.get("address", "")[:320],
        )
    except flows.FlowError as exc:
        reason = signins.explain(exc.error, str(exc)) or str(exc)
        return _sign_in_failed(request, f"No sign-in code was given. {reason}", next_url)
    own = request.session.get(SESSION_SIGN_INS, {})
    own[str(sign_in.code)] = secret
    request.session[SESSION_SIGN_INS] = own
    return redirect("authflow:device-code", code=sign_in.code)


def _own_sign_in(request: PortalRequest, code: UUID) -> tuple[SignIn, str] | None:
    """The sign-in started in this browser, with the secret that binds it; else None.

    A sign-in started elsewhere is "not found" here, whether or not it exists.
    """
    secret = request.session.get(SESSION_SIGN_INS, {}).get(str(code))
    if not secret:
        return None
    sign_in = SignIn.objects.filter(
        code=code,
        method=SignIn.Method.DEVICE_CODE,
        browser_binding__in=["", signins.binding_hash(secret)],
    ).first()
    return (sign_in, secret) if sign_in else None


def _sign_in_browser(request: PortalRequest, sign_in: SignIn, secret: str) -> bool:
    """Log this browser in as whoever completed the sign-in, once."""
    if sign_in.status != SignIn.Status.COMPLETED or sign_in.result_user is None:
        return False
    consumed = SignIn.objects.filter(
        pk=sign_in.pk, browser_binding=signins.binding_hash(secret)
    ).update(browser_binding="")
    if not consumed:
        return False
    login(request, sign_in.result_user, backend="django.contrib.auth.backends.ModelBackend")
    return True


@require_GET
def device_code(request: PortalRequest, code: UUID) -> HttpResponse:
    own = _own_sign_in(request, code)
    if own is None:
        return render(request, "404.html", status=404)
    sign_in, secret = own
    if _sign_in_browser(request, sign_in, secret):
        messages.success(request, f"Signed in as {sign_in.result_user}.")
        target = sign_in.next_url or reverse(settings.LOGIN_REDIRECT_URL)
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    context = {"sign_in": sign_in, "app_name": settings.MICROSOFT_APP_NAME}
    if request.htmx:
        return render(request, "authflow/device_code.html#sign-in-status", context)
    return render(request, "authflow/device_code.html", context)


@require_POST
def cancel_device_code(request: PortalRequest, code: UUID) -> HttpResponse:
    own = _own_sign_in(request, code)
    if own is None:
        return render(request, "404.html", status=404)
    sign_in, _ = own
    if sign_in.finish(SignIn.Status.CANCELLED, "You cancelled this sign-in."):
        audit.record("sign_in.cancelled", request=request, target=str(sign_in.code))
    return redirect("authflow:device-code", code=sign_in.code)


# --- Browser (authorization code + PKCE) ----------------------------------------------


def redirect_uri() -> str:
    return f"{settings.PORTAL_URL}/auth/callback"


@require_GET
@ratelimit(group="sign-in:ip", key="ip", rate=SIGN_IN_RATE, block=False)
def start_browser(request: PortalRequest) -> HttpResponse:
    if getattr(request, "limited", False):
        return _too_many(request)
    next_url = _safe_next(request, request.GET.get("next"))
    address = request.GET.get("address", "")[:320]
    try:
        tenant = signins.default_tenant(address)
        flow = flows.start_auth_code_flow(
            signins.sign_in_scopes(),
            redirect_uri=redirect_uri(),
            login_hint=request.GET.get("login_hint") or address or None,
            tenant=tenant,
        )
    except flows.FlowError as exc:
        return _sign_in_failed(request, f"The sign-in could not start. {exc}", next_url)
    except (ValueError, OSError) as exc:
        logger.warning("Could not start the browser sign-in: %s", type(exc).__name__)
        return _sign_in_failed(
            request, "Microsoft's sign-in service could not be reached.", next_url
        )
    # The flow holds the PKCE verifier and the nonce: encrypted, in this browser's session.
    request.session[SESSION_AUTH_FLOW] = encryption.encrypt(
        json.dumps({"flow": flow, "next": next_url, "tenant": tenant})
    ).decode()
    audit.record("sign_in.started", request=request, details={"method": "browser"})
    return HttpResponseRedirect(flow["auth_uri"])


def _callback_failed(
    request: PortalRequest, message: str, *, error: str = "", outcome: str = "failure"
) -> HttpResponse:
    if error:
        audit.record(
            "sign_in.failed",
            request=request,
            outcome=outcome,
            details={"method": "browser", "error": error},
        )
    return _sign_in_page(
        request, error=message, next_url=reverse(settings.LOGIN_REDIRECT_URL), status=400
    )


CALLBACK_FIELDS = ("code", "state", "error", "error_description", "client_info", "session_state")


@csrf_exempt  # Microsoft posts here (response_mode=form_post); `state` is the CSRF defence
@require_http_methods(["GET", "POST"])
def callback(request: PortalRequest) -> HttpResponse:
    """The redirect URI.

    Microsoft form-posts the answer from its own site, so the browser sends no
    SameSite=Lax session cookie with it: park the answer for a moment and redirect to
    ourselves, where the cookie comes along and msal checks `state` against this
    browser's flow.
    """
    if request.method == "POST":
        fields = {name: request.POST.get(name, "")[:4096] for name in CALLBACK_FIELDS}
        handle = secrets.token_urlsafe(24)
        cache.set(CALLBACK_CACHE + handle, encryption.encrypt(json.dumps(fields)), 300)
        return HttpResponseRedirect(f"{reverse('authflow:callback')}?handle={handle}", status=303)

    handle = request.GET.get("handle", "")
    stored = cache.get(CALLBACK_CACHE + handle) if handle else None
    cache.delete(CALLBACK_CACHE + handle)
    if stored is None:
        return _callback_failed(
            request, "This sign-in answer has expired or was already used. Start again."
        )
    auth_response = json.loads(encryption.decrypt(stored))
    saved = request.session.pop(SESSION_AUTH_FLOW, None)
    if saved is None:
        return _callback_failed(
            request,
            "This sign-in was not started in this browser (or it took too long). Start again.",
            error="no_flow",
            outcome="denied",
        )
    started = json.loads(encryption.decrypt(saved.encode()))
    flow, next_url = started["flow"], started["next"]

    if error := auth_response.get("error"):
        reason = flows.first_line(auth_response.get("error_description"))
        reason = signins.explain(error, reason) or reason
        if error in ("access_denied", "authorization_declined"):
            return _callback_failed(
                request, f"The sign-in was cancelled or refused. {reason}", error=error
            )
        if error in flows.CONFIGURATION_ERRORS:
            return _callback_failed(request, flows.configuration_advice(error, reason), error=error)
        return _callback_failed(
            request, f"Microsoft refused the sign-in ({error}). {reason}", error=error
        )
    try:
        result, cache_json = flows.finish_auth_code_flow(
            flow, auth_response, tenant=started.get("tenant")
        )
    except flows.NETWORK_ERRORS as exc:
        return _callback_failed(request, str(flows.unreachable(exc)), error="unreachable")
    except ValueError:
        return _callback_failed(
            request,
            "The sign-in answer does not match the sign-in this browser started (state). "
            "Start again.",
            error="state_mismatch",
            outcome="denied",
        )
    except RuntimeError:
        return _callback_failed(
            request,
            "The sign-in answer was not issued for this sign-in (nonce). Start again.",
            error="nonce_mismatch",
            outcome="denied",
        )
    if "error" in result:
        reason = flows.first_line(result.get("error_description"))
        reason = signins.explain(result["error"], reason) or reason
        return _callback_failed(
            request,
            f"Microsoft refused to complete the sign-in ({result['error']}): {reason}",
            error=result["error"],
        )
    # msal sent sha256(nonce) to Microsoft; the id_token carries that hash.
    nonce = hashlib.sha256(flow["nonce"].encode("ascii")).hexdigest()
    if link_code := started.get("link"):
        return _finish_link(request, link_code, result, cache_json, nonce=nonce)
    try:
        user = signins.finish_browser_sign_in(request, result, cache_json, nonce=nonce)
    except identity.InvalidIdentityToken as exc:
        return _callback_failed(
            request,
            f"Microsoft's answer could not be accepted: {exc}.",
            error="invalid_id_token",
            outcome="denied",
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Signed in as {user}.")
    return redirect(next_url)


# --- Sign-in links (sent by the helpdesk) ----------------------------------------------


def _link_refused(request: PortalRequest, message: str, status: int) -> HttpResponse:
    return render(request, "authflow/link.html", {"error": message}, status=status)


@require_http_methods(["GET", "POST"])
@ratelimit(group="sign-in:ip", key="ip", rate=SIGN_IN_RATE, method="POST", block=False)
def link(request: PortalRequest) -> HttpResponse:
    """A sign-in link: GET shows whom it is for (link previewers and mail scanners fetch
    links, so GET changes nothing); the person's POST consumes it and goes to Microsoft.
    The secret is in the query string (`key`), kept there by the form's empty action."""
    secret = request.GET.get("key", "")
    if getattr(request, "limited", False):
        return _link_refused(request, "Too many attempts from here. Wait a minute.", 429)
    try:
        sign_in = links.find(secret[:100])
    except links.LinkRefused as exc:
        return _link_refused(request, str(exc), 410)
    if request.method == "GET":
        return render(
            request,
            "authflow/link.html",
            {"sign_in": sign_in, "app_name": settings.MICROSOFT_APP_NAME},
        )
    login_hint, domain_hint = links.login_hint(sign_in)
    try:
        flow = flows.start_auth_code_flow(
            sign_in.scopes or signins.sign_in_scopes(),
            redirect_uri=redirect_uri(),
            login_hint=login_hint,
            domain_hint=domain_hint,
            tenant=sign_in.tenant,
        )
        sign_in = links.open_link(secret[:100], request=request)
    except links.LinkRefused as exc:
        return _link_refused(request, str(exc), 410)
    except flows.FlowError as exc:
        return _link_refused(request, f"The sign-in could not start. {exc}", 502)
    request.session[SESSION_AUTH_FLOW] = encryption.encrypt(
        json.dumps(
            {
                "flow": flow,
                "next": reverse(settings.LOGIN_REDIRECT_URL),
                "tenant": sign_in.tenant,
                "link": str(sign_in.code),
            }
        )
    ).decode()
    return HttpResponseRedirect(flow["auth_uri"])


def _finish_link(
    request: PortalRequest, code: str, result: dict[str, object], cache_json: str, *, nonce: str
) -> HttpResponse:
    sign_in = SignIn.objects.filter(code=code, method=SignIn.Method.LINK).first()
    if sign_in is None:
        return _callback_failed(request, "This sign-in link no longer exists.", error="no_link")
    try:
        user = links.complete(sign_in, dict(result), cache_json, nonce=nonce, request=request)
    except identity.InvalidIdentityToken as exc:
        return _callback_failed(
            request,
            f"Microsoft's answer could not be accepted: {exc}.",
            error="invalid_id_token",
            outcome="denied",
        )
    if user is None:
        sign_in.refresh_from_db()
        return _link_refused(
            request,
            f"{sign_in.message or 'This sign-in link can no longer be used.'} "
            "Nobody was signed in; the helpdesk sees who tried.",
            403,
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(
        request,
        f"Signed in as {user}. Work the helpdesk started for you goes on by itself.",
    )
    return redirect(settings.LOGIN_REDIRECT_URL)


# --- Sign-out and profile ---------------------------------------------------------------


@require_POST
def sign_out(request: PortalRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit.record("sign_out", request=request)
    logout(request)
    messages.info(request, "You are signed out of Lifeboat.")
    return redirect("portal:home")


@login_required
@require_GET
def profile(request: PortalRequest) -> HttpResponse:
    token_cache = TokenCache.objects.filter(user=request.user).first()
    by_code = SignIn.objects.filter(
        result_user=request.user, method=SignIn.Method.DEVICE_CODE, status=SignIn.Status.COMPLETED
    ).order_by("-completed_at")[:20]
    return render(
        request,
        "authflow/profile.html",
        {
            "token_cache": token_cache,
            "sign_ins_by_code": by_code,
            "time_zones": sorted(zoneinfo.available_timezones()),
            "time_zone": timezone.get_current_timezone_name(),
        },
    )


@login_required
@require_POST
def set_time_zone(request: PortalRequest) -> HttpResponse:
    """The time zone pages show times in (a cookie; the browser's own by default)."""
    name = request.POST.get("time_zone", "")[:64]
    if middleware.time_zone_named(name) is None:
        messages.error(request, f"“{name[:40]}” is not a time zone name such as Europe/Berlin.")
        return redirect("authflow:profile")
    response = redirect("authflow:profile")
    response.set_cookie(
        middleware.TIME_ZONE_COOKIE,
        name,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=request.is_secure(),
    )
    messages.success(request, f"Times are shown in {name} from now on.")
    return response


@login_required
@require_POST
def forget_tokens(request: PortalRequest) -> HttpResponse:
    """Forget my tokens: every token and session ends, this one included."""
    user = request.user
    identities.end_everything(user, reason="Forgotten at the person's request.")
    audit.record("token.forgotten", request=request, actor=user, on_behalf_of=user.identity)
    logout(request)
    messages.success(
        request,
        "The portal no longer holds Microsoft tokens for you. Your API tokens and every "
        "session of yours have ended too; sign in again to go on.",
    )
    return redirect("portal:home")


@login_required
@require_POST
def sign_out_everywhere(request: PortalRequest) -> HttpResponse:
    """Not me / sign out everywhere: every session, API token and pending sign-in ends."""
    identities.sign_out_everywhere(request.user, request=request)
    logout(request)
    messages.success(request, "You are signed out of Lifeboat everywhere.")
    return redirect("portal:home")
