"""Restoring into another person's mailbox or drive: asking that person first.

A restore operator (or anyone whose scope holds both people) picks "Another person" as the
target. The items go into a new folder of that person's mailbox or OneDrive ("Restored
from alice@… <date>"), written with **that person's** delegated token — so nothing lands
in someone's mailbox unless they, or an administrator's policy, said yes:

- asked: the job waits (`waiting-for-consent`); the person sees the request on their next
  visit to the portal (and the requester can send them its link). They agree → the job is
  queued; if the portal holds no token of theirs, it then waits for their sign-in as any
  job does. They refuse → the job is cancelled.
- expired: nobody answered within RESTORE_CONSENT_HOURS → cancelled (the restore sweep).
- withdrawn: the requester cancelled the job while it waited.
- given at once: the target is the requester themself, or an operator scope granted to the
  requester for that person carries `restore_without_asking` (the admin's policy).

The question is put by `lifecycle.create_job` (and withdrawn by `lifecycle.cancel`); this
module holds the answers: the person's pending requests, agree, refuse, and the expiry that
the restore sweep runs. Every outcome is audited (`restore.consent_*`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from restore.jobs import lifecycle
from restore.models import RestoreConsent, RestoreJob

if TYPE_CHECKING:
    from django.http import HttpRequest

    from authflow.models import User

S = RestoreJob.Status
C = RestoreConsent.Status


class Undecidable(Exception):
    """The request can no longer be answered (expired, withdrawn, decided); safe to show."""


def pending_for(user: User) -> QuerySet[RestoreConsent]:
    """Requests waiting for `user`'s answer, newest first."""
    return (
        RestoreConsent.objects.filter(
            job__writer=user, status=C.ASKED, expires_at__gt=timezone.now()
        )
        .select_related("job__user", "job__object", "job__target_object", "job__restore_point")
        .order_by("-asked_at")
    )


def waiting_requests(request: HttpRequest) -> dict[str, object]:
    """Template context: how many requests wait for the signed-in person's answer."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"restore_requests_waiting": pending_for(user).count()}


def request_for(user: User, job_id: UUID | str) -> RestoreConsent:
    """The request about `job_id` if `user` is the person asked; 404 otherwise (as for any
    id outside one's scope)."""
    try:
        return RestoreConsent.objects.select_related(
            "job__user", "job__object", "job__target_object", "job__restore_point"
        ).get(job__pk=job_id, job__writer=user)
    except (RestoreConsent.DoesNotExist, ValueError, TypeError, ValidationError) as error:
        raise Http404("No such restore request.") from error


def _decide(consent: RestoreConsent, to: str, *, now: object = None) -> bool:
    """Move an asked request to `to` if still asked (and, for an answer, not expired)."""
    moment = now or timezone.now()
    condition = Q(pk=consent.pk, status=C.ASKED)
    if to in (C.GIVEN, C.REFUSED):
        condition &= Q(expires_at__gt=moment)
    changed = RestoreConsent.objects.filter(condition).update(status=to, decided_at=moment) > 0
    consent.refresh_from_db()
    return changed


def _why_not(consent: RestoreConsent) -> str:
    if consent.status == C.ASKED:  # still asked, so it must have expired
        when = timezone.localtime(consent.expires_at)
        return f"This request expired at {when:%Y-%m-%d %H:%M}; nothing was restored."
    return f"This request was already answered: {consent.get_status_display().lower()}."


def agree(consent: RestoreConsent, *, request: HttpRequest | None = None) -> None:
    """The person said yes: the restore is queued (it runs with their token)."""
    job = consent.job
    with transaction.atomic():
        if not _decide(consent, C.GIVEN):
            raise Undecidable(_why_not(consent))
        lifecycle.transition(job, S.QUEUED)
        lifecycle.log(job, f"{job.acting_user} agreed; the restore is queued.")
        lifecycle.audit_consent(
            job, "restore.consent_given", request, actor=job.acting_user, details={"how": C.GIVEN}
        )
        lifecycle.enqueue(job)


def refuse(consent: RestoreConsent, *, request: HttpRequest | None = None) -> None:
    """The person said no: the job is cancelled; nothing is written."""
    job = consent.job
    with transaction.atomic():
        if not _decide(consent, C.REFUSED):
            raise Undecidable(_why_not(consent))
        RestoreJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        lifecycle.transition(job, S.CANCELLED)
        lifecycle.log(job, f"{job.acting_user} refused; nothing was restored.")
        lifecycle.audit_consent(
            job, "restore.consent_refused", request, actor=job.acting_user, outcome="failure"
        )


def expire_overdue(now: object = None) -> int:
    """Cancel the jobs whose request nobody answered in time; the restore sweep runs it."""
    moment = now or timezone.now()
    count = 0
    overdue = RestoreConsent.objects.filter(status=C.ASKED, expires_at__lte=moment)
    for consent in overdue.select_related("job__user", "job__writer", "job__object"):
        with transaction.atomic():
            if not _decide(consent, C.EXPIRED, now=moment):
                continue
            job = consent.job
            RestoreJob.objects.filter(pk=job.pk).update(cancel_requested=True)
            lifecycle.transition(job, S.CANCELLED)
            lifecycle.log(
                job,
                f"{job.acting_user} did not answer in time; the request expired and "
                "nothing was restored.",
            )
            lifecycle.audit_consent(
                job, "restore.consent_expired", None, actor=None, outcome="failure"
            )
            count += 1
    return count
