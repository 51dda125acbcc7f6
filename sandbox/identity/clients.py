"""Client authentication at the token endpoint: none, client secret, or certificate."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.http import HttpRequest

from sandbox.identity import errors
from sandbox.models import Application

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class Client:
    app: Application
    # Credentials presented and valid: a confidential client. None presented: public.
    is_confidential: bool


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


def _check_assertion(app: Application, assertion: str, token_url: str) -> None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError as exc:
        raise errors.invalid_assertion("the assertion is not a JWT") from exc
    for pem in app.certificates:
        certificate = x509.load_pem_x509_certificate(pem.encode())
        der = certificate.public_bytes(serialization.Encoding.DER)
        thumbprints = {
            _b64url(hashlib.sha1(der).digest()),  # noqa: S324 (x5t is a SHA-1 thumbprint)
            _b64url(hashlib.sha256(der).digest()),
        }
        # Clients send thumbprints with or without base64 padding.
        presented = {str(header.get(k, "")).rstrip("=") for k in ("x5t", "x5t#S256")}
        if not thumbprints & presented:
            continue
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):  # RS256 and PS256 need RSA
            continue
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                public_key,
                algorithms=["RS256", "PS256"],
                audience=token_url,
                options={"require": ["exp", "aud", "iss", "sub"]},
                leeway=60,
            )
        except jwt.InvalidTokenError as exc:
            raise errors.invalid_assertion(str(exc)) from exc
        if claims["iss"] != str(app.client_id) or claims["sub"] != str(app.client_id):
            raise errors.invalid_assertion("iss and sub must be the client id")
        return
    raise errors.invalid_assertion("no registered certificate matches its thumbprint")


def authenticate(request: HttpRequest, token_url: str, tenant_name: str) -> Client:
    """Find the client and check whatever credential it presented.

    Whether a credential is *required* depends on the grant; the caller decides that.
    """
    form = request.POST
    basic = _basic_credentials(request)
    client_id = form.get("client_id") or (basic[0] if basic else "")
    if not client_id:
        raise errors.missing_parameter("client_id")
    try:
        app = Application.objects.filter(client_id=uuid.UUID(client_id)).first()
    except ValueError:
        app = None
    if app is None:
        raise errors.application_not_found(client_id, tenant_name)

    secret = form.get("client_secret") or (basic[1] if basic else "")
    assertion = form.get("client_assertion", "")
    if not secret and not assertion:
        return Client(app, is_confidential=False)
    if not app.has_credentials:
        raise errors.PUBLIC_CLIENT_WITH_SECRET
    if assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise errors.invalid_assertion("client_assertion_type must be jwt-bearer")
        _check_assertion(app, assertion, token_url)
    elif not app.check_secret(secret):
        raise errors.invalid_secret(client_id)
    return Client(app, is_confidential=True)
