from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from api import tokens
from authflow.models import User
from authflow.signals import identity_revoked


@receiver(identity_revoked)
def revoke_api_tokens(sender: Any, user: User, **kwargs: Any) -> bool:
    """An admin revoked this identity: its API sessions end too."""
    return tokens.revoke_user(user) > 0
