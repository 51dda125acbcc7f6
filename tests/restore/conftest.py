from __future__ import annotations

from tests.restore.jobs_support import alice  # noqa: F401  (fixture)
