"""CI (scripts/ci-runtime-check): one restore end to end on the running demo processes.

Run with the runtime-only virtualenv's python, the same environment as the web, worker
and beat it talks to. Alice signs in by device code (the worker's poller completes it),
then her Inbox message "Q3 budget — final" of restore point #1 (deleted before #2) is
restored to its original folder by the worker, through the sandbox's Graph on the web
process. Exits non-zero, saying why, when any step does not happen in time.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402

from authflow import signins  # noqa: E402
from authflow.models import SignIn  # noqa: E402
from restore.jobs import lifecycle as jobs  # noqa: E402
from restore.models import Item, RestoreJob, RestorePoint, valid_at  # noqa: E402
from restore.scope import Scope  # noqa: E402

ALICE = "alice@contoso.example"


def wait(what: str, condition: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.5)
    sys.exit(f"CI demo restore: {what} did not happen within {timeout:.0f} s")


def main() -> None:
    attempt = signins.start_device_sign_in()
    call_command("sandbox", "approve", "--code", attempt.user_code, "--user", ALICE)

    def signed_in() -> SignIn | None:
        attempt.refresh_from_db()
        return attempt if attempt.status != SignIn.Status.PENDING else None

    wait("the worker's poller completing Alice's sign-in", signed_in, 90)
    if attempt.status != SignIn.Status.COMPLETED:
        sys.exit(f"CI demo restore: the sign-in ended {attempt.status}: {attempt.message}")
    alice = attempt.result_user
    if alice is None:
        sys.exit("CI demo restore: the sign-in completed without a user")

    point = RestorePoint.objects.get(object__address=ALICE, object__workload="mail", seq=1)
    item = Item.objects.filter(valid_at(1), object=point.object, name="Q3 budget — final").get()
    job = jobs.create_job(Scope.for_user(alice), point, [item.pk], [], "original")
    print(f"CI demo restore: job {job.pk} queued for {item.name!r}", flush=True)

    def finished() -> RestoreJob | None:
        job.refresh_from_db()
        return job if job.is_finished else None

    wait("the worker finishing the restore job", finished, 120)
    log = "\n".join(job.log.values_list("message", flat=True))
    if job.status != RestoreJob.Status.COMPLETED or job.items_done != 1:
        sys.exit(f"CI demo restore: job ended {job.status} ({job.items_done} done)\n{log}")
    print(f"CI demo restore: job {job.pk} completed, 1 item restored", flush=True)


if __name__ == "__main__":
    main()
