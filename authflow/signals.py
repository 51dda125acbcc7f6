from __future__ import annotations

from django.dispatch import Signal

# Sent (after commit) when someone completes a sign-in and the portal holds fresh
# delegated tokens for them: work that was waiting for their sign-in can go on.
# Arguments: user.
identity_signed_in = Signal()

# Sent when an admin revokes everything the portal holds for an identity (delegated
# tokens here; other apps, such as the REST API, drop their own sessions). Receivers
# return whether they revoked anything. Arguments: user.
identity_revoked = Signal()
