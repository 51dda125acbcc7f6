"""The signals of restore jobs (the enqueue seam, see authflow/signals.py for the pattern).

Domain code sends `job_queued` when a job should be picked up by a worker; the receiver
in the jobs' tasks module queues the Celery task. Senders decide about the transaction:
send inside `transaction.on_commit` when the job row was just written.
"""

from __future__ import annotations

from django.dispatch import Signal

# A restore job is queued and a worker should run it. Arguments: job_id (str), countdown
# (seconds to wait before running it, or None for at once).
job_queued = Signal()
