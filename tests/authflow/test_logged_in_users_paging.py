"""Admin → Logged-in users pages by keyset: every identity once, in each sort's order."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from authflow.models import Role, TokenCache, User
from console import logged_in_users

pytestmark = pytest.mark.django_db

SORTS = ["upn", "signed_in", "expires", "last_used", "status"]


@pytest.fixture
def admin(client) -> User:
    user = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    client.force_login(user)
    return user


@pytest.fixture
def identities() -> list[TokenCache]:
    """Eleven identities with ties and empty dates, so every keyset branch is needed."""
    now = timezone.now().replace(microsecond=0)
    rows = []
    for n in range(11):
        user = User.objects.create(
            username=f"{uuid.uuid4()}.{uuid.uuid4()}",
            upn=f"person{n % 4}@contoso.example",  # ties on the UPN
            display_name=f"Person {n}",
        )
        rows.append(
            TokenCache.objects.create(
                user=user,
                ciphertext=b"secret-ciphertext" * 10,
                status=["valid", "revoked", "needs_sign_in"][n % 3],
                method="device_code",
                signed_in_at=now - timedelta(hours=n % 3),
                access_token_expires_at=None if n % 4 == 0 else now + timedelta(minutes=n % 2),
                last_used_at=None if n % 5 == 0 else now - timedelta(minutes=n % 3),
            )
        )
    return rows


def shown(html: str) -> list[str]:
    return re.findall(r'<tr data-identity="([^"]+)"', html)


def expected(sort: str) -> list[str]:
    from authflow.identities import logged_in_users_query

    rows = logged_in_users_query(sort=sort).exclude(user__role=Role.ADMIN)
    return [row.user.identity for row in rows]


@pytest.mark.parametrize("sort", SORTS)
def test_next_pages_show_every_identity_once_in_order(admin, client, identities, monkeypatch, sort):
    monkeypatch.setattr(logged_in_users, "PAGE_SIZE", 3)
    seen: list[str] = []
    query = f"sort={sort}"
    while True:
        response = client.get(f"{reverse('console:logged-in-users')}?{query}")
        assert response.status_code == 200
        html = response.content.decode()
        seen.extend(shown(html))
        found = re.search(r'href="\?([^"]+)" data-testid="next-page"', html)
        if not found:
            break
        query = found.group(1).replace("&amp;", "&")
    assert seen == expected(sort)
    assert len(seen) == len(identities)


def test_a_changed_or_foreign_cursor_is_refused(admin, client, identities, monkeypatch):
    monkeypatch.setattr(logged_in_users, "PAGE_SIZE", 3)
    html = client.get(reverse("console:logged-in-users"), {"sort": "upn"}).content.decode()
    cursor = re.search(r"after=([^&\"]+)", html).group(1)
    url = reverse("console:logged-in-users")
    assert client.get(url, {"sort": "status", "after": cursor}).status_code == 400
    assert client.get(url, {"sort": "upn", "after": cursor + "x"}).status_code == 400


def test_the_page_never_loads_token_ciphertext(admin, client, identities):
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("console:logged-in-users")).content.decode()
    assert len(shown(html)) == len(identities)
    assert not [q["sql"] for q in queries.captured_queries if "ciphertext" in q["sql"]]
