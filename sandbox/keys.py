"""The sandbox's token-signing keys: RS256, published as a JWKS, with rollover."""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.db import transaction

from sandbox.models import SigningKey


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def create_key(*, signing: bool) -> SigningKey:
    """A new RSA key with a self-signed certificate; `kid` is its SHA-1 thumbprint (as Entra)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.sandbox.lifeboat")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(private_key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    with transaction.atomic():
        if signing:
            SigningKey.objects.filter(is_signing=True).update(is_signing=False)
        return SigningKey.objects.create(
            kid=_b64url(hashlib.sha1(der).digest()),  # noqa: S324 (a thumbprint, as x5t is)
            private_key_pem=private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode("ascii"),
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            is_signing=signing,
            is_published=True,
        )


def signing_key() -> SigningKey:
    key = SigningKey.objects.filter(is_signing=True).order_by("-created_at").first()
    return key or create_key(signing=True)


def rollover() -> SigningKey:
    """Start signing with a new key; the old one stays published until retired."""
    return create_key(signing=True)


def retire(kid: str) -> None:
    """Remove a key from the JWKS: tokens it signed no longer validate."""
    SigningKey.objects.filter(kid=kid).update(is_published=False, is_signing=False)


@functools.lru_cache(maxsize=32)
def _private_key(pem: str) -> Any:
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


@functools.lru_cache(maxsize=32)
def _jwk(kid: str, certificate_pem: str) -> dict[str, Any]:
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ValueError("The sandbox signs with RSA keys only.")
    numbers = public_key.public_numbers()
    der = certificate.public_bytes(serialization.Encoding.DER)
    return {
        "kty": "RSA",
        "use": "sig",
        "kid": kid,
        "x5t": kid,
        "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        "x5c": [base64.b64encode(der).decode("ascii")],
    }


def jwks(issuer: str) -> dict[str, Any]:
    keys = SigningKey.objects.filter(is_published=True).order_by("-created_at")
    return {"keys": [{**_jwk(k.kid, k.certificate_pem), "issuer": issuer} for k in keys]}


def sign(claims: dict[str, Any]) -> str:
    key = signing_key()
    return jwt.encode(
        claims,
        _private_key(key.private_key_pem),
        algorithm="RS256",
        headers={"kid": key.kid, "x5t": key.kid, "typ": "JWT"},
    )


def verify(token: str, *, audience: str | list[str]) -> dict[str, Any]:
    """Check a token this sandbox issued: published key, RS256, audience, lifetime.

    Raises jwt.InvalidTokenError (or a subclass) when anything is wrong.
    """
    kid = jwt.get_unverified_header(token).get("kid")
    key = SigningKey.objects.filter(kid=kid, is_published=True).first()
    if key is None:
        raise jwt.InvalidSignatureError("Signing key not found")
    public_key = x509.load_pem_x509_certificate(key.certificate_pem.encode()).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise jwt.InvalidKeyError("The sandbox signs with RSA keys only.")
    return jwt.decode(
        token,
        public_key,
        algorithms=["RS256"],
        audience=audience,
        options={"require": ["exp", "iat", "nbf", "aud", "iss"]},
        leeway=30,
    )
