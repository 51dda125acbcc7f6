"""Entra-shaped error responses: HTTP 400 JSON with the AADSTS code in the description."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, JsonResponse
from django.utils import timezone


class OAuthError(Exception):
    """An error the token endpoint answers with, exactly as Entra words it."""

    def __init__(
        self, error: str, code: int, description: str, status: int = 400, suberror: str = ""
    ) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.error = error
        self.code = code
        self.description = description
        self.status = status
        self.suberror = suberror

    def response(self, request: HttpRequest) -> JsonResponse:
        now = timezone.now()
        timestamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        extra = {"suberror": self.suberror} if self.suberror else {}
        return JsonResponse(
            {
                "error": self.error,
                "error_description": (
                    f"AADSTS{self.code}: {self.description}\r\nTrace ID: {trace_id}\r\n"
                    f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
                ),
                "error_codes": [self.code],
                "timestamp": timestamp,
                "trace_id": trace_id,
                "correlation_id": correlation_id,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
                **extra,
            },
            status=self.status,
        )


def missing_parameter(name: str) -> OAuthError:
    return OAuthError(
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def tenant_not_found(name: str) -> OAuthError:
    return OAuthError(
        "invalid_request",
        90002,
        f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud.",
    )


def application_not_found(client_id: str, tenant: str) -> OAuthError:
    return OAuthError(
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
        "This can happen if the application has not been installed by the administrator of the "
        "tenant or consented to by any user in the tenant.",
    )


# Conditional Access refusing to issue tokens (here: a policy blocking the device code
# flow), as Entra answers the token request: interaction_required, suberror message_only.
BLOCKED_BY_CONDITIONAL_ACCESS = OAuthError(
    "interaction_required",
    53003,
    "Access has been blocked by Conditional Access policies. The access policy does not allow "
    "token issuance.",
    suberror="message_only",
)

PUBLIC_CLIENT_WITH_SECRET = OAuthError(
    "invalid_client",
    700025,
    "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
)
CREDENTIALS_REQUIRED = OAuthError(
    "invalid_client",
    7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
)


def invalid_secret(client_id: str) -> OAuthError:
    return OAuthError(
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
    )


def invalid_assertion(reason: str) -> OAuthError:
    return OAuthError(
        "invalid_client", 700027, f"The certificate with identifier used to sign the client "
        f"assertion is not registered on application, or the assertion is invalid: {reason}"
    )  # fmt: skip


def invalid_scope(scope: str) -> OAuthError:
    return OAuthError(
        "invalid_scope",
        70011,
        f"The provided request must include a 'scope' input parameter. The provided value for "
        f"the input parameter 'scope' isn't valid. The scope {scope} is not valid.",
    )


MULTIPLE_RESOURCES = OAuthError(
    "invalid_scope",
    28000,
    "Provided value for the input parameter scope is not valid because it contains more than "
    "one resource. Scope openid offline_access profile contains multiple resources.",
)


def resource_not_found(resource: str, tenant: str) -> OAuthError:
    return OAuthError(
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named {tenant}. "
        "This can happen if the application has not been installed by the administrator of the "
        "tenant or consented to by any user in the tenant.",
    )


def consent_required(client_id: str, name: str) -> OAuthError:
    return OAuthError(
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with ID "
        f"'{client_id}' named '{name}'. Send an interactive authorization request for this user "
        "and resource.",
    )


AUTHORIZATION_PENDING = OAuthError(
    "authorization_pending",
    70016,
    "The provided request has not yet been authorized by the user. The user must input their code.",
)
SLOW_DOWN = OAuthError(
    "slow_down",
    50196,
    "The server terminated an operation because it encountered a client request loop. Poll no "
    "faster than the interval.",
)
BAD_VERIFICATION_CODE = OAuthError(
    "bad_verification_code", 70018, "Invalid verification code. The device code is not valid."
)
EXPIRED_TOKEN = OAuthError(
    "expired_token", 70019, "Verification code expired. Have the user retry the sign-in."
)
AUTHORIZATION_DECLINED = OAuthError(
    "authorization_declined", 65004, "User declined to consent to access the app."
)
REFRESH_TOKEN_EXPIRED = OAuthError(
    "invalid_grant",
    70008,
    "The provided authorization code or refresh token has expired due to inactivity. Send a "
    "new interactive authorization request for this user and resource.",
)
REFRESH_TOKEN_REVOKED = OAuthError(
    "invalid_grant",
    50173,
    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
    "user might have changed or reset their password.",
)
REFRESH_TOKEN_INVALID = OAuthError(
    "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
)
USER_DISABLED = OAuthError(
    "invalid_grant",
    50057,
    "The user account is disabled.",
)
CODE_REDEEMED = OAuthError(
    "invalid_grant",
    54005,
    "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
    "an existing refresh token.",
)
CODE_EXPIRED = OAuthError(
    "invalid_grant",
    70008,
    "The provided authorization code or refresh token has expired due to inactivity.",
)
CODE_INVALID = OAuthError(
    "invalid_grant",
    9002313,
    "Invalid request. Request is malformed or invalid. The authorization code is not valid.",
)
PKCE_MISMATCH = OAuthError(
    "invalid_grant",
    501481,
    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
)
PKCE_MISSING = OAuthError(
    "invalid_grant",
    50148,
    "The code_verifier does not match the code_challenge supplied in the authorization request "
    "for PKCE. A code_verifier is required.",
)


def redirect_mismatch(uri: str, client_id: str) -> OAuthError:
    return OAuthError(
        "invalid_request",
        50011,
        f"The redirect URI '{uri}' specified in the request does not match the redirect URIs "
        f"configured for the application '{client_id}'. Make sure the redirect URI sent in the "
        "request matches one added to your application in the Azure portal.",
    )


def unsupported_grant(grant_type: str) -> OAuthError:
    return OAuthError(
        "unsupported_grant_type",
        70003,
        f"The app requested an unsupported grant type '{grant_type}'.",
    )


CLIENT_CREDENTIALS_SCOPE = OAuthError(
    "invalid_scope",
    1002012,
    "The provided value for scope is not valid. Client credential flows must have a scope "
    "value with /.default suffixed to the resource identifier (application ID URI).",
)
NO_TENANT = OAuthError(
    "invalid_request",
    50059,
    "No tenant-identifying information found in either the request or implied by any "
    "provided credentials.",
)
