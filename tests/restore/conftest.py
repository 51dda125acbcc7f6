from __future__ import annotations

import pytest

from restore.blobs import blob_store
from tests.authflow.conftest import sign_in_with_code  # noqa: F401 - shared fixture


@pytest.fixture(autouse=True)
def blob_root(settings, tmp_path):
    """Each test writes its blobs under its own BLOB_ROOT."""
    settings.BLOB_ROOT = tmp_path / "blobs"
    blob_store.cache_clear()
    yield settings.BLOB_ROOT
    blob_store.cache_clear()
