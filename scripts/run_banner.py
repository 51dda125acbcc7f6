"""What `make run` prints before it starts the processes: where the portal really is.

PORTAL_URL is the address people open; GUNICORN_BIND is where the web server listens (they
differ behind a proxy or in a container). Both come from the same settings the processes
load, so the line is true whatever the environment says.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402

from portal import gunicorn_conf  # noqa: E402

print(
    f"Lifeboat is starting at {settings.PORTAL_URL} "
    f"(the web server listens on {gunicorn_conf.bind}; Ctrl-C stops everything)"
)
