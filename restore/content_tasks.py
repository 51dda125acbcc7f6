"""Celery entry point of the daily content check: a thin wrapper (content_check.py)."""

from __future__ import annotations

import logging

from celery import shared_task

from restore import content_check
from restore.blobs import BlobStoreUnavailable

logger = logging.getLogger(__name__)


@shared_task(name="restore.tasks.verify_blob_slice", ignore_result=True)
def verify_blob_slice() -> None:
    """Verify today's slice of the stored content; problems go to the catalog (and so to
    the console, /healthz and the metric). Repair is for an operator: verify_blobs --repair."""
    try:
        report = content_check.verify_todays_slice()
    except BlobStoreUnavailable as error:
        logger.warning("Content check skipped: %s", error)
        return
    logger.info(
        "Content check: %d blobs checked, %d missing or corrupt",
        report.checked,
        len(report.findings),
    )
