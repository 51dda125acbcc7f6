"""`manage.py seed_demo` (the sandbox's command) when the portal's first backup fails.

The happy path, two restore points with "Q3 budget — final" in the first only, is
tests/restore/test_backup_commands.py. Here the sandbox refuses the tenant's user list,
so the portal's `backup --all` cannot discover anything: the demo must stop before its
changes, so that the next `make run` starts the backups again rather than calling the
demo ready.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox import demo


def test_a_failed_first_backup_stops_the_demo_before_its_changes(sandbox):
    sandbox.fault("/v1.0/users", 403, remaining=1)
    errors = io.StringIO()
    with pytest.raises(CommandError, match="first backup failed"):
        call_command("seed_demo", stdout=io.StringIO(), stderr=errors)
    assert "Could not list the tenant's mailboxes and drives" in errors.getvalue()
    assert not demo.changes_applied()
