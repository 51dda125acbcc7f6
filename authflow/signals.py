from __future__ import annotations

from django.dispatch import Signal

# Sent (after commit) when someone completes a sign-in and the portal holds fresh
# delegated tokens for them: work that was waiting for their sign-in can go on.
# Arguments: user.
identity_signed_in = Signal()
