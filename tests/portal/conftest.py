from __future__ import annotations

from tests.authflow.conftest import sign_in_with_code  # noqa: F401 - shared fixture
from tests.restore.jobs_support import alice  # noqa: F401 - shared fixture
