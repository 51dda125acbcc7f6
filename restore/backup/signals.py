"""The signal of backups (the enqueue seam, see authflow/signals.py for the pattern).

`backup_queued(object_id)`: an object should be backed up now (a person it waited for can
stand in); restore/backup/tasks.py queues `restore.tasks.backup_object`. Sent on commit.
"""

from __future__ import annotations

from django.dispatch import Signal

backup_queued = Signal()
