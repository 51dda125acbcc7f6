"""Backup tasks: one object per task; beat asks for the due ones every few minutes.

Named `restore.tasks.…`, the names beat's schedule uses (restore/apps.py imports this
module so they are registered and the receivers below connected).

A backup waiting for a sign-in (restore/backup/runner.py) goes on when one of the people
it waits for signs in (`identity_signed_in`), when the runner finds someone else can
stand in (`backup_queued`), or at the next sweep that finds one of them signed in.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.dispatch import receiver
from django.utils import timezone

from authflow import tenants
from authflow.models import User
from authflow.signals import identity_signed_in
from restore.backup import discovery, runner
from restore.backup.signals import backup_queued
from restore.models import ProtectedObject, RestorePoint

logger = logging.getLogger(__name__)

# A failed object is tried again after this long, not at every beat tick.
RETRY_AFTER = timedelta(minutes=15)
# New mailboxes and drives are looked for at most this often (a directory listing and a
# drive per user is a lot of Graph requests to repeat every few minutes).
DISCOVERY_INTERVAL = timedelta(hours=1)
DISCOVERY_KEY = "restore:backup:discovered"


def objects_due() -> QuerySet[ProtectedObject]:
    """Enabled objects whose last backup is older than BACKUP_INTERVAL (or never ran),
    and that no run started recently (running, or failed a moment ago)."""
    now = timezone.now()
    recent = RestorePoint.objects.filter(object=OuterRef("pk"), started_at__gt=now - RETRY_AFTER)
    stale = Q(last_backup_at__isnull=True) | Q(
        last_backup_at__lt=now - timedelta(seconds=settings.BACKUP_INTERVAL)
    )
    return ProtectedObject.objects.filter(
        stale, enabled=True, tenant_id__in=tenants.active_ids()
    ).exclude(Exists(recent))


@shared_task(name="restore.tasks.backup_object", ignore_result=True)
def backup_object(object_id: int) -> None:
    obj = ProtectedObject.objects.filter(pk=object_id, enabled=True).first()
    if obj is None:
        return
    try:
        outcome = runner.run(obj)
    except runner.AlreadyRunning as error:
        logger.info("%s", error)
        return
    logger.info(
        "Backup of object %s: restore point %s %s in %.1f s",
        obj.pk,
        outcome.point.seq,
        outcome.point.status,
        outcome.seconds,
    )


@shared_task(name="restore.tasks.backup_due_objects", ignore_result=True)
def backup_due_objects() -> int:
    """Find new mailboxes and drives (hourly), then queue a backup of every due object."""
    if cache.add(DISCOVERY_KEY, True, int(DISCOVERY_INTERVAL.total_seconds())):
        for tenant_id, found in discovery.discover_all().items():
            if isinstance(found, Exception):
                cache.delete(DISCOVERY_KEY)
                logger.warning(
                    "Discovery of tenant %s failed, backing up the objects already known: %s",
                    tenant_id,
                    found,
                )
    due = set(objects_due().values_list("pk", flat=True))
    due.update(runner.resume_waiting())  # waiting ones whose person has signed in since
    for object_id in sorted(due):
        backup_object.delay(object_id)
    return len(due)


@receiver(identity_signed_in, dispatch_uid="restore-resume-backups")
def resume_after_sign_in(sender: object, user: User, **kwargs: object) -> None:
    """Backups that waited for this person's sign-in go on by themselves."""
    for object_id in runner.waiting_for(user):
        backup_object.delay(object_id)


@receiver(backup_queued, dispatch_uid="restore-backup-queued")
def queue_backup(sender: object, object_id: int, **kwargs: object) -> None:
    backup_object.delay(object_id)
