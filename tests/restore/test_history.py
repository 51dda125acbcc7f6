"""History made visible: what was deleted or changed after a restore point, and when."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from restore.backup import runner
from restore.models import Folder, Item, RestorePoint
from sandbox import demo
from tests.restore.jobs_support import back_up_drive, back_up_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def backed_up_twice():
    """Alice's mailbox and OneDrive, backed up before and after the demo's changes."""
    mail, drive = back_up_mailbox("alice"), back_up_drive("alice")
    changes = demo.apply_demo_changes()
    later = [runner.run(mail.object).point, runner.run(drive.object).point]
    assert all(p.status == RestorePoint.Status.SUCCEEDED for p in later)
    return mail, drive, later, changes


def row_of(html: str, name: str) -> str:
    rows = [r for r in re.findall(r"<tr.*?</tr>", html, re.S) if name in r]
    assert rows, f"no row for {name}"
    return rows[0]


def test_a_point_marks_what_was_deleted_or_changed_after_it(sandbox, alice, client):
    mail, drive, (mail_2, _), changes = backed_up_twice()
    client.force_login(alice)
    inbox = Folder.objects.get(object=mail.object, well_known="inbox", first_seq=1)
    first = client.get(reverse("restore:point", args=[mail.pk]) + f"?folder={inbox.pk}")
    budget = row_of(first.content.decode(), demo.BUDGET_SUBJECT)
    assert 'data-testid="since">deleted' in budget
    assert mail_2.started_at.isoformat() in budget  # deleted by the second backup
    unchanged = [
        r
        for r in re.findall(r'<tr data-testid="item">.*?</tr>', first.content.decode(), re.S)
        if 'data-testid="since"' not in r
    ]
    assert unchanged  # the rest of the inbox is still there
    # The latest point marks nothing: nothing after it is known.
    inbox_2 = Folder.objects.filter(object=mail.object, well_known="inbox").order_by("-first_seq")[
        0
    ]
    latest = client.get(reverse("restore:point", args=[mail_2.pk]) + f"?folder={inbox_2.pk}")
    assert 'data-testid="since"' not in latest.content.decode()

    edited = Item.objects.get(object=drive.object, name=changes["edited file"], first_seq=1)
    files = client.get(reverse("restore:point", args=[drive.pk]) + f"?folder={edited.folder_id}")
    assert 'data-testid="since">changed since' in row_of(files.content.decode(), edited.name)


def test_deleted_items_lists_what_the_latest_backup_no_longer_has(sandbox, alice, client):
    mail, drive, _, changes = backed_up_twice()
    client.force_login(alice)
    html = client.get(reverse("restore:deleted", args=[mail.object.pk])).content.decode()
    budget = row_of(html, demo.BUDGET_SUBJECT)
    # Restorable in one step from the last point that held it.
    assert f'name="point" value="{mail.pk}"' in budget
    assert 'data-testid="restore-one"' in budget
    assert demo.NEW_MESSAGE_SUBJECT not in html  # new, not deleted
    files = client.get(reverse("restore:deleted", args=[drive.object.pk])).content.decode()
    assert changes["deleted file"] in files
    assert changes["edited file"] not in files  # changed, not deleted


def test_search_says_where_an_item_was_seen_and_that_it_is_gone(sandbox, alice, client):
    backed_up_twice()
    client.force_login(alice)
    html = client.get(reverse("restore:search"), {"q": "Q3 budget final"}).content.decode()
    budget = row_of(html, demo.BUDGET_SUBJECT)
    assert "only the backup of" in budget
    assert 'data-testid="since">deleted' in budget
    assert 'data-testid="restore-one"' in budget
    assert 'data-testid="result-download"' in budget


def test_one_click_restore_from_search_starts_the_job(sandbox, alice, client):
    mail, _, _, _ = backed_up_twice()
    client.force_login(alice)
    item = Item.objects.get(object=mail.object, name=demo.BUDGET_SUBJECT, first_seq=1)
    answer = client.post(
        reverse("restore:start-restore"),
        {"point": mail.pk, "items": [item.pk], "target": "original", "collision": "skip"},
    )
    assert answer.status_code == 302
    assert "/backups/jobs/" in answer["Location"]
