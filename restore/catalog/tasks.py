"""Celery entry point of the daily content check: a thin wrapper (restore/catalog/content.py).

Named `restore.tasks.…`: the name beat's schedule uses. restore/apps.py imports this module.
"""

from __future__ import annotations

import logging

from celery import shared_task

from restore.blobs import BlobStoreUnavailable
from restore.catalog import content

logger = logging.getLogger(__name__)


@shared_task(name="restore.tasks.verify_blob_slice", ignore_result=True)
def verify_blob_slice() -> None:
    """Verify today's slice of the stored content; problems go to the catalog (and so to
    the console, /healthz and the metric). Repair is for an operator: verify_blobs --repair."""
    try:
        report = content.verify_todays_slice()
    except BlobStoreUnavailable as error:
        logger.warning("Content check skipped: %s", error)
        return
    logger.info(
        "Content check: %d blobs checked, %d missing or corrupt",
        report.checked,
        len(report.findings),
    )
