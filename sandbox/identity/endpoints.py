"""The identity platform's back channel: discovery, keys, device authorization, token.

Served under SANDBOX_URL/login/, which stands in for https://login.microsoftonline.com/.
Back-channel URLs in the discovery document use the real Microsoft host (the portal's
transport routes it here); browser-facing ones use SANDBOX_PUBLIC_URL, since a browser
has no transport to reroute.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from sandbox import keys
from sandbox.identity import errors, grants, scopes, tokens
from sandbox.identity.clients import authenticate
from sandbox.models import DeviceCode, Fault, Policy, Tenant

# RFC 8628 §6.1 recommends letters only; Entra uses 9 upper-case letters and digits.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"
TENANT_ALIASES = ("common", "organizations")
CLAIMS_SUPPORTED = [
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username",
    "name", "tid", "ver", "oid", "roles", "groups",
]  # fmt: skip


def injected_fault(request: HttpRequest) -> HttpResponse | None:
    """Answer with a planned failure when a test asked for one (see sandbox.models.Fault)."""
    for fault in Fault.objects.filter(remaining__gt=0, action=Fault.Action.ANSWER).order_by(
        "created_at"
    ):
        if fault.path_contains not in request.path:
            continue
        if not Fault.objects.filter(pk=fault.pk, remaining__gt=0).update(
            remaining=F("remaining") - 1
        ):
            continue
        response = JsonResponse(
            {"error": "temporarily_unavailable", "error_description": "Injected by the sandbox."},
            status=fault.status,
        )
        if fault.retry_after is not None:
            response["Retry-After"] = str(fault.retry_after)
        return response
    return None


def resolve_tenant(name: str) -> Tenant | None:
    """The tenant named in the URL, or None for /common and /organizations."""
    if name.lower() in TENANT_ALIASES:
        return None
    tenant = Tenant.objects.resolve(name)
    if tenant is None:
        raise errors.tenant_not_found(name)
    return tenant


def _public(path: str) -> str:
    return f"{settings.SANDBOX_PUBLIC_URL}/login/{path}"


def _real(path: str) -> str:
    return f"https://{settings.MICROSOFT_AUTHORITY_HOST}/{path}"


@require_GET
def openid_configuration(request: HttpRequest, tenant: str) -> HttpResponse:
    if fault := injected_fault(request):
        return fault
    try:
        found = resolve_tenant(tenant)
    except errors.OAuthError as error:
        return error.response(request)
    issuer = tokens.v2_issuer(found.id if found else "{tenantid}")
    body = {
        "token_endpoint": _real(f"{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": _real(f"{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "issuer": issuer,
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{settings.MICROSOFT_GRAPH_RESOURCE}/oidc/userinfo",
        "authorization_endpoint": _public(f"{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": _real(f"{tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": _public(f"{tenant}/oauth2/v2.0/logout"),
        "claims_supported": CLAIMS_SUPPORTED,
        "kerberos_endpoint": _real(f"{tenant}/kerberos"),
        "tenant_region_scope": "EU",
        # Entra answers a tenant of a national cloud asked at the global authority with
        # that cloud's instance name; Policy.cloud_instance_names plays such a tenant.
        "cloud_instance_name": Policy.current().cloud_instance_names.get(
            str(found.id) if found else "", "microsoftonline.com"
        ),
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": urlsplit(settings.MICROSOFT_GRAPH_RESOURCE).hostname,
        "rbac_url": "https://pas.windows.net",
    }
    response = JsonResponse(body)
    response["Cache-Control"] = "max-age=86400, private"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def jwks(request: HttpRequest, tenant: str) -> HttpResponse:
    try:
        found = resolve_tenant(tenant)
    except errors.OAuthError as error:
        return error.response(request)
    issuer = tokens.v2_issuer(found.id if found else "{tenantid}")
    response = JsonResponse(keys.jwks(issuer))
    response["Cache-Control"] = "max-age=86400, private"
    return response


@require_GET
def instance_discovery(request: HttpRequest) -> HttpResponse:
    host = settings.MICROSOFT_AUTHORITY_HOST
    return JsonResponse(
        {
            "tenant_discovery_endpoint": _real("{tenant}/v2.0/.well-known/openid-configuration"),
            "api-version": request.GET.get("api-version", "1.1"),
            "metadata": [
                {
                    "preferred_network": host,
                    "preferred_cache": "login.windows.net",
                    "aliases": [
                        host,
                        "login.windows.net",
                        "login.microsoft.com",
                        "sts.windows.net",
                    ],
                }
            ],
        }
    )


def _new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(9))


@csrf_exempt
@require_POST
def devicecode(request: HttpRequest, tenant: str) -> HttpResponse:
    if fault := injected_fault(request):
        return fault
    try:
        found = resolve_tenant(tenant)
        client = authenticate(request, grants.token_endpoint_url(tenant), tenant)
        scope = request.POST.get("scope", "")
        scopes.parse(scope, tenant)
    except errors.OAuthError as error:
        return error.response(request)
    policy = Policy.current()
    device_code = "DAQABIQEAAAB" + secrets.token_urlsafe(96)
    user_code = _new_user_code()
    while DeviceCode.objects.filter(
        user_code=user_code, status=DeviceCode.Status.PENDING, expires_at__gt=timezone.now()
    ).exists():
        user_code = _new_user_code()
    DeviceCode.objects.create(
        device_code_hash=tokens.digest(device_code),
        user_code=user_code,
        application=client.app,
        tenant=found,
        scopes=scope.split(),
        expires_at=timezone.now() + timedelta(seconds=policy.device_code_lifetime),
        interval=policy.device_code_interval,
    )
    verification_uri = f"{settings.SANDBOX_PUBLIC_URL}/login/device"
    return JsonResponse(
        {
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": policy.device_code_lifetime,
            "interval": policy.device_code_interval,
            "message": (
                f"To sign in, use a web browser to open the page {verification_uri} and enter "
                f"the code {user_code} to authenticate."
            ),
        }
    )


@csrf_exempt
@require_POST
def token(request: HttpRequest, tenant: str) -> HttpResponse:
    if fault := injected_fault(request):
        return fault
    try:
        found = resolve_tenant(tenant)
        grant_type = request.POST.get("grant_type", "")
        if not grant_type:
            raise errors.missing_parameter("grant_type")
        handler = grants.GRANTS.get(grant_type)
        if handler is None:
            raise errors.unsupported_grant(grant_type)
        client = authenticate(request, grants.token_endpoint_url(tenant), tenant)
        body = handler(request, client, found)
    except errors.OAuthError as error:
        return error.response(request)
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store, no-cache"
    response["Pragma"] = "no-cache"
    return response
