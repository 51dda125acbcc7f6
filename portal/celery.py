from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
# All Celery settings live in portal/settings.py as CELERY_* names.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
