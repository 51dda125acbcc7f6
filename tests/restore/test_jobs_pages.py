"""The restore form's POST, the job pages and downloads, as a browser would use them."""

from __future__ import annotations

import email
import email.policy
import io
import re
import uuid
import zipfile

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from authflow.models import User
from portal.models import AuditEvent
from restore.jobs import urls as job_urls
from restore.models import Folder, Item, RestoreJob, RestoreJobItem
from tests.conftest import wait_for
from tests.restore.jobs_support import back_up_drive, back_up_mailbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_as(alice):
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def start(client: Client, **fields):
    return client.post(reverse("restore:start-restore"), fields)


def test_downloading_one_message_gives_its_eml(sandbox, alice, client_as):
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    client = client_as(alice)
    response = start(client, point=point.pk, items=[item.pk], target="download")
    job = RestoreJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("restore:job", args=[job.pk])
    page = client.get(response["Location"])
    assert reverse("restore:job-download", args=[job.pk]) in page.content.decode()

    download = client.get(reverse("restore:job-download", args=[job.pk]))
    assert download["Content-Type"] == "message/rfc822"
    assert "attachment" in download["Content-Disposition"]
    parsed = email.message_from_bytes(
        b"".join(download.streaming_content), policy=email.policy.default
    )
    assert parsed["Subject"] == item.name
    job.refresh_from_db()
    assert (job.status, job.items_done) == (RestoreJob.Status.COMPLETED, 1)
    assert AuditEvent.objects.filter(action="restore.downloaded", target=str(job.pk)).exists()


def test_downloading_a_folder_streams_a_zip_of_its_items(sandbox, alice, client_as):
    point = back_up_mailbox("alice")
    inbox = Folder.objects.get(object=point.object, path="Inbox")
    expected = Item.objects.filter(object=point.object, folder__path__startswith="Inbox").count()
    client = client_as(alice)
    start(client, point=point.pk, folders=[inbox.pk], target="download")
    job = RestoreJob.objects.get()
    download = client.get(reverse("restore:job-download", args=[job.pk]))
    assert download.streaming
    assert download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = archive.namelist()
    assert len(names) == expected
    assert all(n.startswith("Inbox/") and n.endswith(".eml") for n in names)
    assert "Inbox/Q3 budget — final.eml" in names
    assert archive.testzip() is None
    job.refresh_from_db()
    assert (job.status, job.items_done) == (RestoreJob.Status.COMPLETED, expected)


def test_someone_elses_job_is_a_404(sandbox, alice, client_as):
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    start(client_as(alice), point=point.pk, items=[item.pk], target="download")
    job = RestoreJob.objects.get()
    mallory = User.objects.create(
        username=f"{uuid.uuid4()}.{uuid.uuid4()}", oid=uuid.uuid4(), tenant_id=uuid.uuid4()
    )
    other = client_as(mallory)
    for name in ("restore:job", "restore:job-download", "restore:restore-request"):
        assert other.get(reverse(name, args=[job.pk])).status_code == 404
    assert other.post(reverse("restore:job-cancel", args=[job.pk])).status_code == 404
    # Only the person asked may answer a restore into their mailbox (none was asked here).
    answer = reverse("restore:restore-request-answer", args=[job.pk])
    assert other.post(answer, {"answer": "agree"}).status_code == 404
    assert str(job.pk) not in other.get(reverse("restore:restore-requests")).content.decode()
    response = start(other, point=point.pk, items=[item.pk], target="download")
    assert response.status_code == 404
    assert RestoreJob.objects.count() == 1
    dry = other.post(reverse("restore:plan-restore"), {"point": point.pk, "items": [item.pk]})
    assert dry.status_code == 404
    # mallory's own list does not show it.
    assert str(job.pk) not in other.get(reverse("restore:jobs")).content.decode()
    # A job URL added without a case here fails.
    checked = {"job", "job-download", "job-cancel", "start-restore", "plan-restore", "jobs",
               "restore-requests", "restore-request", "restore-request-answer",
               "start-basket"}  # fmt: skip
    # A basket lives in one's own session: another person's object id finds it empty.
    basket = other.post(reverse("restore:start-basket"), {"object": job.object_id})
    assert basket.status_code == 400
    assert RestoreJob.objects.count() == 1
    assert {p.name for p in job_urls.urlpatterns} == checked


def test_a_bad_form_goes_back_with_a_precise_message_and_writes_nothing(sandbox, alice, client_as):
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    client = client_as(alice)
    back = f"http://testserver/backups/points/{point.pk}/"
    response = client.post(
        reverse("restore:start-restore"),
        {"point": point.pk, "items": [item.pk], "target": "original", "collision": "overwrite"},
        headers={"Referer": back},
    )
    assert response.status_code == 302
    assert response["Location"] == back
    shown = [str(m) for m in response.wsgi_request._messages]
    assert shown == ["Overwrite is not available for mailbox items: choose skip or keep both."]

    without_referer = start(client, point=point.pk, target="original")
    assert without_referer.status_code == 400
    assert "Choose at least one item or folder" in without_referer.content.decode()
    assert not RestoreJob.objects.exists()


def test_the_job_page_polls_until_the_job_has_finished(sandbox, alice, client_as):
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    client = client_as(alice)
    start(client, point=point.pk, items=[item.pk], target="original", collision="keep-both")
    job = RestoreJob.objects.get()
    url = reverse("restore:job", args=[job.pk])
    headers = {"HX-Request": "true", "HX-Target": "job-status"}
    partial = client.get(url, headers=headers)
    if not RestoreJob.objects.get(pk=job.pk).is_finished:
        assert partial.status_code == 200
        assert 'hx-trigger="every 2s"' in partial.content.decode()
    assert b"<html" not in partial.content
    assert b"<progress" in partial.content

    client.post(reverse("restore:job-cancel", args=[job.pk]))
    from restore.jobs import runner

    runner.run(job.pk)
    # A session worker started by an earlier test may have taken the job instead.
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    finished = client.get(url, headers=headers)
    assert finished.status_code == 286
    assert "hx-trigger" not in finished.content.decode()
    full = client.get(url)
    assert full.status_code == 200
    assert item.name in full.content.decode()
    listing = client.get(reverse("restore:jobs"))
    assert str(job.pk) in listing.content.decode()


def test_what_will_happen_is_shown_before_restore_and_nothing_is_written(sandbox, alice, client_as):
    from sandbox.models import Message

    point = back_up_mailbox("alice")
    budget = Item.objects.get(object=point.object, name="Q3 budget — final")
    other = Item.objects.filter(object=point.object, folder__path="Inbox").exclude(pk=budget.pk)[0]
    Message.objects.filter(id=budget.graph_id).delete()
    messages_before = Message.objects.count()
    client = client_as(alice)
    fields = {
        "point": point.pk,
        "items": [budget.pk, other.pk],
        "target": "original",
        "collision": "skip",
    }
    panel = client.post(reverse("restore:plan-restore"), fields, headers={"HX-Request": "true"})
    assert panel.status_code == 200
    html = panel.content.decode()
    assert "<html" not in html  # the panel under the form, not a page
    assert f'data-item="{budget.pk}" data-action="restore"' in html
    assert f'data-item="{other.pk}" data-action="skip"' in html
    assert "1 will be restored, 1 skipped (already there)" in html

    page = client.post(reverse("restore:plan-restore"), fields)
    assert page.status_code == 200
    body = page.content.decode()
    assert reverse("restore:start-restore") in body  # the "Restore" step that follows
    assert f'name="items" value="{budget.pk}"' in body
    assert (RestoreJob.objects.count(), Message.objects.count()) == (0, messages_before)

    refused = client.post(reverse("restore:plan-restore"), {**fields, "items": []})
    assert refused.status_code == 400
    assert "Choose at least one item" in refused.content.decode()


def test_each_poll_updates_the_item_rows_so_none_stays_pending_after_the_job_ends(
    sandbox, alice, client_as
):
    point = back_up_mailbox("alice")
    items = list(Item.objects.filter(object=point.object).order_by("id")[:3])
    client = client_as(alice)
    start(client, point=point.pk, items=[i.pk for i in items], target="folder")
    job = RestoreJob.objects.get()
    url = reverse("restore:job", args=[job.pk])
    headers = {"HX-Request": "true", "HX-Target": "job-status"}
    from restore.jobs import runner

    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    last = client.get(f"{url}?page=1", headers=headers).content.decode()
    # Out of band, wrapped in <template> so table rows survive htmx's parsing.
    rows = re.findall(
        r'<template>\s*<tr id="job-item-\d+"[^>]*data-status="(\w+)"[^>]*hx-swap-oob="true"', last
    )
    assert rows == ["done", "done", "done"]
    assert "Pending" not in last


def test_a_cancelled_jobs_untouched_items_say_not_restored(sandbox, alice, client_as):
    point = back_up_mailbox("alice")
    items = list(Item.objects.filter(object=point.object).order_by("id")[:2])
    # Made here, not queued: no worker can start it before the cancel.
    job = RestoreJob.objects.create(
        user=alice, object=point.object, restore_point=point, target="folder",
        target_name="Later", items_total=2,
    )  # fmt: skip
    RestoreJobItem.objects.bulk_create(RestoreJobItem(job=job, item=i) for i in items)
    client = client_as(alice)
    client.post(reverse("restore:job-cancel", args=[job.pk]))
    page = client.get(reverse("restore:job", args=[job.pk])).content.decode()
    assert page.count("Not restored") == 2
    assert ">Pending<" not in page


def test_a_download_is_ready_at_once_and_expires(sandbox, alice, client_as, settings):
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    client = client_as(alice)
    start(client, point=point.pk, items=[item.pk], target="download")
    job = RestoreJob.objects.get()
    assert job.status == RestoreJob.Status.COMPLETED  # prepared, not yet fetched
    page = client.get(reverse("restore:job", args=[job.pk])).content.decode()
    assert ">Ready to download<" in page
    assert 'data-testid="download-expiry"' in page
    assert 'data-testid="cancel"' not in page
    assert ">Pending<" not in page
    first = client.get(reverse("restore:job-download", args=[job.pk]))
    assert first.status_code == 200
    b"".join(first.streaming_content)
    again = client.get(reverse("restore:job-download", args=[job.pk]))
    assert again.status_code == 200  # as often as needed
    b"".join(again.streaming_content)
    RestoreJob.objects.filter(pk=job.pk).update(download_expires_at=timezone.now())
    gone = client.get(reverse("restore:job-download", args=[job.pk]))
    assert gone.status_code == 410
    assert "This download expired at" in gone.content.decode()
    assert ">Expired<" in client.get(reverse("restore:job", args=[job.pk])).content.decode()


def test_keep_both_says_what_the_copy_was_named(sandbox, alice, client_as):
    point = back_up_drive("alice")
    item = Item.objects.filter(object=point.object, kind=Item.Kind.FILE).order_by("id").first()
    client = client_as(alice)
    start(client, point=point.pk, items=[item.pk], target="original", collision="keep-both")
    job = RestoreJob.objects.get()
    from restore.jobs import runner

    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    stem, dot, extension = item.name.rpartition(".")
    copy = f"{stem} 1.{extension}" if dot else f"{item.name} 1"
    page = client.get(reverse("restore:job", args=[job.pk])).content.decode()
    assert f"restored as “{copy}”" in page


def test_the_restore_form_offers_only_what_the_workload_supports(sandbox, alice, client_as):
    mail_point, drive_point = back_up_mailbox("alice"), back_up_drive("alice")
    client = client_as(alice)
    mail = client.get(reverse("restore:point", args=[mail_point.pk])).content.decode()
    assert re.findall(r'<option value="(skip|keep-both|overwrite)"', mail) == ["skip", "keep-both"]
    assert ">Sender</a>" in mail
    files = client.get(reverse("restore:point", args=[drive_point.pk])).content.decode()
    assert re.findall(r'<option value="(skip|keep-both|overwrite)"', files) == [
        "skip", "keep-both", "overwrite",
    ]  # fmt: skip
    assert ">Sender</a>" not in files
    assert "No folder" not in files


def test_a_refused_form_comes_back_with_every_tick_and_choice(sandbox, alice, client_as):
    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    inbox = Folder.objects.get(object=point.object, well_known="inbox")
    client = client_as(alice)
    url = reverse("restore:point", args=[point.pk]) + f"?folder={inbox.pk}"
    fields = {"point": point.pk, "items": [item.pk], "folders": [inbox.pk], "target": "folder",
              "target_name": "a/b", "collision": "skip"}  # fmt: skip
    answer = client.post(
        reverse("restore:start-restore"), fields, headers={"Referer": f"http://testserver{url}"}
    )
    assert answer.status_code == 302
    assert not RestoreJob.objects.exists()
    page = client.get(url).content.decode()
    assert "can&#x27;t contain" in page or "can't contain" in page
    assert re.search(rf'value="{item.pk}" form="restore-form"[^>]* checked', page)
    assert re.search(rf'value="{inbox.pk}" form="restore-form"[^>]* checked', page)
    assert re.search(r'value="folder" checked', page)
    assert 'value="a/b"' in page
    assert re.search(r'<option value="skip" selected>', page)
    # Shown once: the next visit starts afresh.
    again = client.get(url).content.decode()
    assert not re.search(rf'value="{item.pk}" form="restore-form"[^>]* checked', again)
