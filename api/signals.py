from __future__ import annotations

from datetime import datetime
from typing import Any

from django.dispatch import receiver

from api import tokens
from authflow.models import User
from authflow.signals import access_holders, identity_revoked


@receiver(identity_revoked)
def revoke_api_tokens(sender: Any, user: User, **kwargs: Any) -> bool:
    """An admin revoked this identity: its API sessions end too."""
    return tokens.revoke_user(user) > 0


@receiver(access_holders)
def api_token_holders(sender: Any, **kwargs: Any) -> dict[int, datetime]:
    """Who holds live API tokens, with when their oldest live family began."""
    return tokens.live_families_by_user()
