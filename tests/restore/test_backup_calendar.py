"""Calendar and contacts backups against the sandbox tenant: every calendar and folder,
series with their exceptions and cancelled occurrences, attachments and photos, and the
second point after the demo's changes."""

from __future__ import annotations

import json

import pytest

from restore.backup import runner
from restore.blobs import blob_store
from restore.models import Folder, Item, RestorePoint, valid_at
from sandbox import demo
from tests.restore.jobs_support import back_up_calendar, back_up_contacts

pytestmark = pytest.mark.django_db(transaction=True)


def items_at(point: RestorePoint):
    return Item.objects.filter(valid_at(point.seq), object=point.object)


def document(item: Item) -> dict:
    with blob_store().open(item.content_sha256) as blob:
        return json.loads(blob.read())


def test_every_calendar_and_event_with_series_exceptions_and_attachments(sandbox):
    point = back_up_calendar("alice")
    calendars = Folder.objects.filter(object=point.object).order_by("name")
    sync = items_at(point).get(name="Team sync")
    tokyo = items_at(point).get(name="Call with the Tokyo office")
    saved = document(sync)

    assert [(c.name, c.well_known) for c in calendars] == [
        ("Calendar", "calendar"),
        ("Planning", ""),
    ]
    assert set(items_at(point).values_list("name", flat=True)) >= {
        "Team sync", "Team offsite", "Call with the Tokyo office", "Quarterly planning",
    }  # fmt: skip
    assert sync.meta["type"] == "seriesMaster"
    assert sync.meta["recurrence"]["pattern"]["daysOfWeek"] == ["monday"]
    assert (sync.meta["exceptions"], sync.meta["occurrences"]) == (1, 15)
    assert saved["exceptions"][0]["location"]["displayName"] == "Room 2.12"
    assert sync.meta["originalStartTimeZone"] == "W. Europe Standard Time"
    assert "Room 4.01" in sync.body_text
    assert "blockers first" in sync.body_text
    assert sync.recipients.count("@contoso.example") == 3
    assert tokyo.sensitivity == "Private"
    assert [a["name"] for a in tokyo.meta["attachments"]] == ["Agenda.txt"]
    with blob_store().open(tokyo.meta["attachments"][0]["blob"]) as blob:
        assert blob.read() == b"1. Roadmap\n2. Hiring\n"


def test_the_second_point_has_the_trimmed_series_and_nothing_else_read_again(sandbox):
    first = back_up_calendar("alice")
    demo.apply_demo_changes()
    second = runner.run(first.object).point
    before = items_at(first).get(name="Quarterly planning")
    after = items_at(second).get(name="Quarterly planning")

    assert second.status == RestorePoint.Status.SUCCEEDED, second.error
    assert (second.items_added, second.items_changed, second.items_removed) == (0, 1, 0)
    assert (before.meta["occurrences"], after.meta["occurrences"]) == (6, 5)
    assert before.pk != after.pk


def test_contacts_of_nested_folders_with_photos_and_a_deleted_contact(sandbox):
    first = back_up_contacts("alice")
    folders = dict(Folder.objects.filter(object=first.object).values_list("path", "well_known"))
    kenji = items_at(first).get(name="Kenji Sato")
    dana = items_at(first).get(name="Dana Whitfield")
    demo.apply_demo_changes()
    second = runner.run(first.object).point

    assert folders == {
        "Contacts": "contacts",
        "Contacts/Suppliers": "",
        "Contacts/Suppliers/Preferred": "",
    }
    assert kenji.folder.path == "Contacts/Suppliers/Preferred"
    assert kenji.meta["photo"]["size"] > 0
    assert "Tailspin Toys" in kenji.body_text
    assert "+81 3 1234 5678" in kenji.body_text
    assert dana.meta["emailAddresses"][0]["address"] == "dana@whitfield.example"
    assert document(dana)["personalNotes"].startswith("Met Dana")
    assert (second.items_added, second.items_changed, second.items_removed) == (0, 0, 1)
    assert not items_at(second).filter(name="Dana Whitfield").exists()
    assert items_at(first).filter(name="Dana Whitfield").exists()
