"""One celery beat sends the periodic tasks; any other waits as a standby.

`LeaderScheduler` (CELERY_BEAT_SCHEDULER) holds a lock in the database, a row with an
expiry (BEAT_LOCK_SECONDS) that its holder renews at every tick (at most every
CELERY_BEAT_MAX_LOOP_INTERVAL seconds). A beat that cannot take the lock logs that it is
a standby and checks again at every tick; when the holder stops renewing (killed, cut
off), the lock expires and a standby takes over. A beat that stops warmly releases it.

When each task was last sent is kept in the database too (BeatRun), not in a local
file: a beat taking over continues the same schedule, so each periodic task is sent
once per period whichever beat sends it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from celery.beat import ScheduleEntry, Scheduler
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)

LOCK_NAME = "beat"


class LeaderScheduler(Scheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.leading: bool | None = None  # None: not decided yet
        self.alive_file = Path(kwargs.pop("schedule_filename", "") or "")
        super().__init__(*args, **kwargs)

    # --- the lock ---------------------------------------------------------------------

    def _hold_lock(self) -> bool:
        from portal.models import BeatLock

        now = timezone.now()
        until = now + timedelta(seconds=settings.BEAT_LOCK_SECONDS)
        try:
            close_old_connections()
            if (
                BeatLock.objects.filter(name=LOCK_NAME)
                .filter(Q(holder=self.holder) | Q(expires_at__lt=now))
                .update(holder=self.holder, expires_at=until)
            ):
                return True
            _lock, created = BeatLock.objects.get_or_create(
                name=LOCK_NAME, defaults={"holder": self.holder, "expires_at": until}
            )
            return created
        except DatabaseError as exc:  # cannot prove it holds the lock: send nothing
            logger.warning("Beat cannot reach the database for its lock: %s", type(exc).__name__)
            return False

    def _release_lock(self) -> None:
        from portal.models import BeatLock

        with contextlib.suppress(DatabaseError):  # otherwise it expires by itself
            BeatLock.objects.filter(name=LOCK_NAME, holder=self.holder).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            )

    # --- shared last-run times -----------------------------------------------------------

    def _adopt_shared_runs(self) -> None:
        from portal.models import BeatRun

        runs = dict(BeatRun.objects.values_list("name", "last_run_at"))
        for name, entry in self.schedule.items():
            if name in runs:
                entry.last_run_at = runs[name]
        self._heap = None  # rebuild the order from the adopted times

    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:  # type: ignore[override]
        # celery-types declares Scheduler.reserve with the heap's event tuple; celery's code
        # takes and returns a ScheduleEntry (celery/beat.py), which is what this overrides.
        from portal.models import BeatRun

        new_entry = cast(ScheduleEntry, super().reserve(entry))
        try:
            BeatRun.objects.update_or_create(
                # reserve() has just set last_run_at (ScheduleEntry.next); the type allows None.
                name=new_entry.name,
                defaults={"last_run_at": new_entry.last_run_at or timezone.now()},
            )
        except DatabaseError as exc:
            logger.warning("Beat could not record %s's run: %s", entry.name, type(exc).__name__)
        return new_entry

    # --- the loop ----------------------------------------------------------------------

    def tick(self, *args: Any, **kwargs: Any) -> float:
        leading = self._hold_lock()
        if leading and not self.leading:
            logger.warning("Beat %s is now the one sending periodic tasks", self.holder)
            self._adopt_shared_runs()
        elif not leading and self.leading is not False:
            logger.warning(
                "Beat %s is a standby: another beat holds the lock; it takes over within "
                "%s s of that one stopping",
                self.holder,
                settings.BEAT_LOCK_SECONDS,
            )
        self.leading = leading
        self._touch_alive_file()
        # celery-types allows None; Scheduler.__init__ always sets it (beat_max_interval).
        longest = float(self.max_interval or 0) or 300.0
        if not leading:
            return longest
        return min(super().tick(*args, **kwargs), longest)

    def _touch_alive_file(self) -> None:
        # The container health check looks at this file's age (leader and standby alike).
        if self.alive_file.name:
            with contextlib.suppress(OSError):
                self.alive_file.touch()

    def close(self) -> None:
        if self.leading:
            self.leading = False
            self._release_lock()
            logger.info("Beat %s released the lock", self.holder)
        super().close()

    @property
    def info(self) -> str:
        return f"    . lock: {LOCK_NAME} in the database ({settings.BEAT_LOCK_SECONDS} s)"
