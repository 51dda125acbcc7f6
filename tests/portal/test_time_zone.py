"""Times in the person's time zone: the browser's cookie, or the profile's choice."""

from __future__ import annotations

import pytest
from django.urls import reverse

from restore.models import RestorePoint
from tests.restore import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_box(client):
    alice = f.user("alice")
    box = f.mailbox(alice, points=1, messages=1)
    RestorePoint.objects.filter(pk=box["points"][0].pk).update(
        started_at="2026-12-01T17:29:07+00:00"
    )
    client.force_login(alice)
    return box


def test_restore_points_show_in_the_zone_the_browser_named(client, alice_box):
    url = reverse("restore:object", args=[alice_box["object"].pk])
    assert "2026-12-01 17:29:07 UTC" in client.get(url).content.decode()
    client.cookies["lifeboat-tz"] = "Europe/Berlin"
    assert "2026-12-01 18:29:07 CET" in client.get(url).content.decode()
    client.cookies["lifeboat-tz"] = "Mars/Olympus_Mons"  # not a zone: ignored
    assert "2026-12-01 17:29:07 UTC" in client.get(url).content.decode()


def test_the_profile_changes_the_zone_and_refuses_a_made_up_one(client, alice_box):
    answer = client.post(reverse("authflow:time-zone"), {"time_zone": "America/New_York"})
    assert answer.status_code == 302
    assert answer.cookies["lifeboat-tz"].value == "America/New_York"
    url = reverse("restore:object", args=[alice_box["object"].pk])
    assert "2026-12-01 12:29:07 EST" in client.get(url).content.decode()
    refused = client.post(reverse("authflow:time-zone"), {"time_zone": "Nowhere/At_All"})
    assert "lifeboat-tz" not in refused.cookies
    profile = client.get(reverse("authflow:profile")).content.decode()
    assert "is not a time zone name" in profile
    assert "<option selected>America/New_York</option>" in profile
