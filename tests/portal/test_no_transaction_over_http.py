"""The suite's guard: HTTP to Microsoft from inside a database transaction fails a test.

The guard (tests/conftest.py `no_transaction_over_http`) leaves out the transaction that
pytest-django wraps around a non-transactional test, and counts every other one.
"""

from __future__ import annotations

import pytest
import requests
from django.db import transaction

from portal.microsoft import http_session
from tests.conftest import free_port


def _unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}/graph/v1.0/me"


@pytest.mark.django_db
def test_the_tests_own_wrapping_transaction_does_not_count(no_transaction_over_http):
    assert transaction.get_connection().in_atomic_block  # pytest-django's TestCase atomic
    with pytest.raises(requests.ConnectionError):
        http_session().get(_unreachable(), timeout=1)
    assert no_transaction_over_http == []


@pytest.mark.django_db
def test_a_request_inside_atomic_is_caught(no_transaction_over_http):
    with transaction.atomic(), pytest.raises(requests.ConnectionError):
        http_session().get(_unreachable(), timeout=1)
    assert len(no_transaction_over_http) == 1
    assert "/graph/v1.0/me" in no_transaction_over_http[0]
    no_transaction_over_http.clear()  # expected here: don't fail this test at teardown


@pytest.mark.django_db(transaction=True)
def test_a_request_inside_atomic_is_caught_in_a_transactional_test(no_transaction_over_http):
    with transaction.atomic(), pytest.raises(requests.ConnectionError):
        http_session().get(_unreachable(), timeout=1)
    assert len(no_transaction_over_http) == 1
    no_transaction_over_http.clear()
