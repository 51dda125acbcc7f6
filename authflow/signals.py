"""The signals of sign-in: how authflow tells other code, and its own Celery tasks, that
something happened, without importing them.

This is the one seam between domain code and background work in Lifeboat: domain modules
send a signal (after commit when the work depends on rows they wrote); the tasks module
of the app connects the receiver that queues the Celery task; `AppConfig.ready` imports
that tasks module so the receiver is connected in every process (web and worker).
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent (after commit) when a device-code sign-in starts: pending sign-ins need polling.
# authflow/tasks.py kicks the poller. Arguments: sign_in.
device_sign_in_started = Signal()

# Sent (after commit) when someone completes a sign-in and the portal holds fresh
# delegated tokens for them: work that was waiting for their sign-in can go on.
# Arguments: user.
identity_signed_in = Signal()

# Sent when an admin revokes everything the portal holds for an identity (delegated
# tokens here; other apps, such as the REST API, drop their own sessions). Receivers
# return whether they revoked anything. Arguments: user.
identity_revoked = Signal()

# Sent when Microsoft refuses an identity's refresh token because the person may no
# longer sign in at all (account disabled or deleted, sessions revoked): everything the
# portal holds for them must end, not only the delegated tokens. authflow/tasks.py ends
# it (identities.end_access). Arguments: user, reason.
access_ended_by_microsoft = Signal()

# Sent to learn who holds portal access that authflow does not keep itself (the REST
# API's token families), for the periodic check of accounts with Microsoft. Receivers
# return {user pk: when the oldest access they hold for that user began}. No arguments.
access_holders = Signal()

# Sent when Microsoft refuses the portal's application access in a tenant (a backup's
# Graph call answered 401/403, or Entra issued no app token): the consent may have been
# withdrawn. authflow/tasks.py queues a re-verification of the tenant. Arguments:
# tenant_id (a GUID string).
tenant_access_refused = Signal()
