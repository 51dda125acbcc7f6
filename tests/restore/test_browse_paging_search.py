"""Keyset paging over folders and search on PostgreSQL full-text search."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from restore.catalog import browse
from restore.models import Item
from tests.restore import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return f.user("alice")


@pytest.fixture
def big_inbox(alice):
    obj = f.protected_object(alice)
    f.point(obj, 1)
    inbox = f.folder(obj, "Inbox", well_known="inbox")
    start = f.base_time()
    # Ties on purpose: pairs share a date, a name and a size, so the id breaks them.
    items = [
        Item.objects.create(
            object=obj, folder=inbox, graph_id=f"m{n}", kind=Item.Kind.MESSAGE, first_seq=1,
            name=f"Subject {n // 2:03d}", sender=f"sender{n % 7}@contoso.example",
            dated_at=start + timedelta(hours=n // 2), size=1000 + (n // 2) % 9,
        )
        for n in range(57)
    ]  # fmt: skip
    return {"object": obj, "inbox": inbox, "items": items}


@pytest.mark.parametrize("sort", list(browse.SORTS))
def test_keyset_pages_cover_every_item_once_in_order(big_inbox, sort):
    rows = Item.objects.filter(folder=big_inbox["inbox"])
    seen, cursor = [], None
    while True:
        page = browse.page(rows, cursor, sort, limit=10)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    spec = browse.SORTS[sort]
    expected = sorted(
        big_inbox["items"], key=lambda i: (getattr(i, spec.field), i.pk), reverse=spec.descending
    )
    assert [i.pk for i in seen] == [i.pk for i in expected]


def test_pages_stay_stable_when_new_items_arrive(big_inbox):
    rows = Item.objects.filter(folder=big_inbox["inbox"])
    first = browse.page(rows, None, "date", limit=10)
    newest = Item.objects.create(
        object=big_inbox["object"], folder=big_inbox["inbox"], graph_id="late",
        kind=Item.Kind.MESSAGE, first_seq=1, name="Late", dated_at=f.base_time() + timedelta(days=9),
    )  # fmt: skip
    second = browse.page(rows, first.next_cursor, "date", limit=10)
    assert newest not in second.items
    assert not set(first.items) & set(second.items)


def test_a_cursor_only_works_for_its_own_sort(big_inbox):
    rows = Item.objects.filter(folder=big_inbox["inbox"])
    cursor = browse.page(rows, None, "date", limit=5).next_cursor
    with pytest.raises(browse.InvalidPage, match="another sort"):
        browse.page(rows, cursor, "name", limit=5)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("cursor=garbage", "not valid"),
        ("cursor=" + "x" * 40, "not valid"),
        ("sort=colour", "Unknown sort"),
        ("limit=0", "between 1 and"),
        ("limit=abc", "must be a number"),
    ],
)
def test_bad_paging_input_is_a_400_that_says_why(client, alice, big_inbox, query, message):
    client.force_login(alice)
    point = big_inbox["object"].restore_points.get()
    response = client.get(reverse("restore:point", args=[point.pk]) + "?" + query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_folder_page_pages_with_load_more_links(client, alice, big_inbox):
    client.force_login(alice)
    point = big_inbox["object"].restore_points.get()
    url = reverse("restore:point", args=[point.pk]) + "?sort=name&limit=20"
    names = []
    html = client.get(url).content.decode()
    while True:
        names += re.findall(r">(Subject \d{3})</a>", html)
        more = re.search(r'hx-get="([^"]+)"', html)
        if not more:
            break
        html = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
        assert "<html" not in html.content.decode()
        html = html.content.decode()
    assert len(names) == 57
    assert names == sorted(names)


@pytest.fixture
def searchable(alice):
    mailbox = f.protected_object(alice)
    drive = f.protected_object(alice, workload="onedrive")
    for obj in (mailbox, drive):
        for seq in (1, 2, 3):
            f.point(obj, seq)
    inbox = f.folder(mailbox, "Inbox", well_known="inbox")
    archive = f.folder(mailbox, "Archive")
    root = f.folder(drive, "", well_known="root")
    day = f.base_time()
    return {
        "budget": f.message(mailbox, inbox, "Budget review", sender="Bob Lee <bob@contoso.example>",
                            body="numbers for the board", dated_at=day, last_seq=2,
                            attachments=[("q1.xlsx", "application/octet-stream", b"x")]),
        "lunch": f.message(mailbox, archive, "Lunch on Friday", sender="Dave Patel <dave@contoso.example>",
                           recipients="Erin Walsh <erin@contoso.example>",
                           body="pizza with the platform team", dated_at=day + timedelta(days=10)),
        "file": f.file(drive, root, "roadmap-platform.docx", b"doc", dated_at=day + timedelta(days=5)),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=budget", {"budget"}),  # subject
        ("q=dave", {"lunch"}),  # sender
        ("q=erin", {"lunch"}),  # recipients
        ("q=pizza", {"lunch"}),  # body text
        ("q=roadmap", {"file"}),  # file name
        ("q=platform", {"lunch", "file"}),
        ("q=platform&kind=file", {"file"}),
        ("q=platform&kind=message", {"lunch"}),
        ("has_attachments=on", {"budget"}),
        ("folder=archive", {"lunch"}),
        ("date_from=2026-03-05&date_to=2026-03-06", {"file"}),
        ("date_to=2026-03-01", {"budget"}),
        ("q=nothing-like-this", set()),
    ],
)
def test_search_finds_by_words_and_filters(client, alice, searchable, query, expected):
    client.force_login(alice)
    response = client.get(reverse("restore:search") + "?" + query)
    assert response.status_code == 200
    html = response.content.decode()
    found = {key for key, item in searchable.items() if f"/backups/items/{item.pk}/" in html}
    assert found == expected


def test_search_shows_which_restore_points_hold_a_result(client, alice, searchable):
    client.force_login(alice)
    html = client.get(reverse("restore:search") + "?q=budget").content.decode()
    # first_seq 1 to last_seq 2: two backups, each shown with the one date format.
    assert re.search(r"2 backups, <time[^>]*>2026-03-01 \d\d:\d\d UTC</time> \u2013 "
                     r"<time[^>]*>2026-03-02 \d\d:\d\d UTC</time>", html)  # fmt: skip
    html = client.get(reverse("restore:search") + "?q=pizza").content.decode()
    assert "\u2013 now" in html


def test_search_rejects_bad_filters_with_400(client, alice):
    client.force_login(alice)
    response = client.get(reverse("restore:search") + "?date_from=2026-04-01&date_to=2026-03-01")
    assert response.status_code == 400
    assert "after" in response.content.decode()
    assert client.get(reverse("restore:search") + "?date_from=yesterday").status_code == 400
    assert client.get(reverse("restore:search") + "?q=a&cursor=nonsense").status_code == 400


def test_item_preview_shows_the_snapshots_of_the_same_item(client, alice):
    box = f.mailbox(alice, points=3, messages=0)
    old = f.message(box["object"], box["inbox"], "Draft v1", graph_id="same", last_seq=1)
    new = f.message(box["object"], box["inbox"], "Draft v2", graph_id="same", first_seq=2)
    client.force_login(alice)
    html = client.get(reverse("restore:item", args=[new.pk])).content.decode()
    assert f"/backups/items/{old.pk}/" in html
    assert "still there" in html


def test_file_preview_shows_versions_and_downloads_the_file(client, alice):
    drive = f.protected_object(alice, workload="onedrive")
    f.point(drive, 1)
    root = f.folder(drive, "", well_known="root")
    item = f.file(drive, root, "plan.txt", b"the plan",
                  versions=[{"id": "1.0", "lastModifiedDateTime": "2026-02-01T10:00:00Z", "size": 5}])  # fmt: skip
    client.force_login(alice)
    html = client.get(reverse("restore:item", args=[item.pk])).content.decode()
    assert "1.0" in html
    assert "2026-02-01T10:00:00Z" in html
    response = client.get(reverse("restore:item-download", args=[item.pk]))
    assert b"".join(response.streaming_content) == b"the plan"
    assert 'attachment; filename="plan.txt"' in response["Content-Disposition"]


def test_message_downloads_as_eml_and_is_audited(client, alice):
    from portal.models import AuditEvent

    box = f.mailbox(alice)
    client.force_login(alice)
    item = box["items"][0]
    response = client.get(reverse("restore:item-download", args=[item.pk]))
    assert response["Content-Type"] == "message/rfc822"
    assert ".eml" in response["Content-Disposition"]
    assert b"Subject: Message 1 for Alice" in b"".join(response.streaming_content)
    event = AuditEvent.objects.get(action="restore.download")
    assert event.details["kind"] == "download"
    assert event.actor_identity == alice.identity


def test_attachments_download_as_octet_stream_with_a_safe_name(client, alice):
    box = f.mailbox(alice, messages=0)
    item = f.message(box["object"], box["inbox"], "Nasty",
                     attachments=[("../../evil\".html", "text/html", b"<script>alert(1)</script>")])  # fmt: skip
    client.force_login(alice)
    response = client.get(reverse("restore:attachment", args=[item.pk, 0]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert ".." not in response["Content-Disposition"]
    assert client.get(reverse("restore:attachment", args=[item.pk, 1])).status_code == 404


def test_search_uses_the_gin_index(alice, searchable):
    from django.db import connection

    from restore.catalog import search

    query = search.matching(Item.objects.all(), "platform")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "item_search" in plan, plan
