"""Encryption at rest for delegated tokens and device-code flows (Fernet, rotatable keys)."""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet as _Fernet
from cryptography.fernet import InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed


@functools.cache
def _fernet() -> MultiFernet:
    # The first key encrypts; every key decrypts, so a new key can go in front and old
    # ciphertexts stay readable until `manage.py rotate_token_keys` rewrites them.
    return MultiFernet([_Fernet(key) for key in settings.TOKEN_ENCRYPTION_KEYS])


def _reset(*, setting: str, **kwargs: object) -> None:
    if setting == "TOKEN_ENCRYPTION_KEYS":
        _fernet.cache_clear()


setting_changed.connect(_reset)


def encrypt(plaintext: str) -> bytes:
    return _fernet().encrypt(plaintext.encode("utf-8"))


def decrypt(ciphertext: bytes | memoryview) -> str:
    """Raises cryptography.fernet.InvalidToken when no configured key can read it."""
    return _fernet().decrypt(bytes(ciphertext)).decode("utf-8")


def rotate(ciphertext: bytes | memoryview) -> bytes:
    """Re-encrypt under the first key."""
    return _fernet().rotate(bytes(ciphertext))


__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate"]
