"""The selection basket: picks across folders and restore points, restored as one job."""

from __future__ import annotations

import pytest
from django.urls import reverse

from restore.backup import runner as backups
from restore.jobs import runner
from restore.models import Folder, Item, RestoreJob, RestoreJobItem, RestorePoint
from sandbox import demo
from tests.conftest import wait_for
from tests.restore import factories as f
from tests.restore.jobs_support import back_up_drive, back_up_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


def add(client, point, items=(), folders=()):
    return client.post(
        reverse("restore:basket-add"),
        {"point": point.pk, "items": [i.pk for i in items], "folders": [x.pk for x in folders]},
    )


def test_items_picked_at_two_points_restore_as_one_job_each_from_its_own(sandbox, alice, client):
    from sandbox.models import Message

    first = back_up_mailbox("alice")
    demo.apply_demo_changes()
    second = backups.run(first.object).point
    assert second.status == RestorePoint.Status.SUCCEEDED
    budget = Item.objects.get(object=first.object, name=demo.BUDGET_SUBJECT, first_seq=1)
    fresh = Item.objects.get(object=first.object, name=demo.NEW_MESSAGE_SUBJECT)
    client.force_login(alice)
    assert add(client, first, [budget]).status_code == 302
    assert add(client, second, [fresh]).status_code == 302
    assert add(client, second, [fresh]).status_code == 302  # twice: still one pick
    # "N items, size" on every page.
    home = client.get(reverse("restore:my-backups")).content.decode()
    assert "Your selection: 2 items, " in home
    page = client.get(reverse("restore:basket")).content.decode()
    assert demo.BUDGET_SUBJECT in page
    assert demo.NEW_MESSAGE_SUBJECT in page
    assert "from 2 restore points" in page

    answer = client.post(
        reverse("restore:start-basket"),
        {"object": first.object.pk, "target": "folder", "target_name": "From the basket",
         "collision": "skip"},
    )  # fmt: skip
    job = RestoreJob.objects.get()
    assert answer["Location"] == reverse("restore:job", args=[job.pk])
    assert job.restore_point == second  # shown as the newest point picked
    assert set(RestoreJobItem.objects.filter(job=job).values_list("item_id", flat=True)) == {
        budget.pk,
        fresh.pk,
    }
    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    job.refresh_from_db()
    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
    restored = Message.objects.filter(
        mailbox__user_principal_name__startswith="alice@",
        folder__parent__display_name="From the basket",
    )
    assert sorted(restored.values_list("subject", flat=True)) == sorted(
        [demo.BUDGET_SUBJECT, demo.NEW_MESSAGE_SUBJECT]
    )
    # Restored: that object's selection is empty again.
    home = client.get(reverse("restore:my-backups")).content.decode()
    assert 'data-testid="selection-bar"' not in home


def test_folders_and_items_of_two_objects_are_two_selections(sandbox, alice, client):
    mail, drive = back_up_mailbox("alice"), back_up_drive("alice")
    client.force_login(alice)
    inbox = Folder.objects.get(object=mail.object, well_known="inbox")
    a_file = Item.objects.filter(object=drive.object, kind=Item.Kind.FILE).first()
    add(client, mail, folders=[inbox])
    add(client, drive, items=[a_file])
    page = client.get(reverse("restore:basket")).content.decode()
    assert page.count('data-testid="selection"') == 2
    assert "1 folder" in page
    client.post(reverse("restore:basket-remove"), {"object": mail.object.pk, "all": "1"})
    page = client.get(reverse("restore:basket")).content.decode()
    assert page.count('data-testid="selection"') == 1


def test_forged_or_misplaced_picks_are_refused_and_nothing_is_kept(client):
    alice, carol = f.user("alice"), f.user("carol")
    mine, theirs = f.mailbox(alice, points=2), f.mailbox(carol)
    later = f.message(mine["object"], mine["inbox"], "Only at point 2", first_seq=2)
    client.force_login(alice)
    assert add(client, theirs["points"][0], theirs["items"][:1]).status_code == 404
    assert add(client, mine["points"][0], theirs["items"][:1]).status_code == 404
    assert add(client, mine["points"][0], [later]).status_code == 404  # not at point 1
    bad = client.post(reverse("restore:basket-add"), {"point": mine["points"][0].pk,
                                                     "items": ["1; DROP"]})  # fmt: skip
    assert bad.status_code == 302
    page = client.get(reverse("restore:basket")).content.decode()
    assert 'data-testid="selection-bar"' not in page
    assert 'data-testid="empty-selection"' in page
    # An object outside the selection has nothing to restore.
    empty = client.post(reverse("restore:start-basket"), {"object": theirs["object"].pk,
                                                         "target": "original"})  # fmt: skip
    assert empty.status_code == 400
    assert not RestoreJob.objects.exists()
