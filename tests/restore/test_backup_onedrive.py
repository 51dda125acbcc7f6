"""OneDrive backup against the sandbox tenant: files, folders, versions, dedup, changes."""

from __future__ import annotations

import pytest

from restore.backup import discovery, runner
from restore.blobs import blob_store, sealing
from restore.models import Folder, Item, ProtectedObject, RestorePoint, valid_at
from sandbox.graph import drive as drive_api
from sandbox.models import DriveItem

pytestmark = pytest.mark.django_db(transaction=True)


def drive_of(sandbox, alias: str) -> ProtectedObject:
    discovery.discover(sandbox.tenant_id)
    return ProtectedObject.objects.get(workload="onedrive", owner_id=sandbox.user(alias).id)


def items_at(point: RestorePoint):
    return Item.objects.filter(valid_at(point.seq), object=point.object)


def sandbox_path(item: DriveItem) -> str:
    parts = []
    while item.parent_id is not None:
        parts.append(item.name)
        item = item.parent
    return "/".join(reversed(parts))


def test_discovery_finds_mailboxes_user_drives_and_group_drives(sandbox):
    from sandbox.models import Drive

    objects = discovery.discover(sandbox.tenant_id)
    again = discovery.discover(sandbox.tenant_id)
    assert sorted(o.pk for o in objects) == sorted(o.pk for o in again)
    contoso = Drive.objects.filter(tenant_id=sandbox.tenant_id)
    drives = {o.graph_ref: o for o in objects if o.workload == "onedrive"}
    libraries = {o.graph_ref for o in objects if o.workload == "sharepoint"}
    # Users' and groups' drives are OneDrive objects; the other site libraries SharePoint's.
    assert set(drives) == {d.id for d in contoso.exclude(owner_user=None, owner_group=None)}
    assert libraries == {d.id for d in contoso.filter(owner_user=None, owner_group=None)}
    finance = next(o for o in objects if o.name == "Finance" and o.workload == "onedrive")
    assert finance.entity == "group"
    assert any(o.workload == "mail" and o.address.startswith("alice@") for o in objects)


def check_first_backup(sandbox) -> RestorePoint:
    """Alice's first OneDrive backup: every file, its path and versions, exact bytes."""
    obj = drive_of(sandbox, "alice")
    point = runner.run(obj).point
    assert point.status == RestorePoint.Status.SUCCEEDED, point.error
    files = list(
        DriveItem.objects.filter(drive_id=obj.graph_ref, is_folder=False, deleted_at__isnull=True)
    )
    assert point.items_added == len(files) == items_at(point).count()
    for file in files:
        state = items_at(point).select_related("folder").get(graph_id=file.id)
        path = f"{state.folder.path}/{state.name}".lstrip("/")
        assert path == sandbox_path(file)
        assert state.size == file.size
        assert state.meta["quickXorHash"] == file.quick_xor_hash
        assert len(state.meta["versions"]) == file.versions.count()
        latest = file.versions.order_by("-number").first()
        with blob_store().open(state.content_sha256) as blob:
            assert blob.read() == bytes(latest.content)
    assert Folder.objects.get(object=obj, well_known="root").path == ""
    return point


def test_first_backup_then_changes_and_content_stored_once(sandbox, blob_root):
    first = check_first_backup(sandbox)
    obj = first.object
    alice = sandbox.user("alice")
    files = list(
        DriveItem.objects.filter(drive_id=obj.graph_ref, is_folder=False).order_by("name", "id")
    )
    edited, deleted, renamed = files[0], files[-1], files[1]
    old_bytes = bytes(edited.versions.order_by("-number").first().content)
    drive_api.write_content(edited, b"new figures\n", alice)
    drive_api.delete_tree(deleted)
    renamed.name = "Renamed " + renamed.name
    renamed.revision += 1
    renamed.save()
    drive_api.record_change(renamed)
    # The same bytes as another file: a copy costs no new blob.
    root = DriveItem.objects.get(drive_id=obj.graph_ref, parent__isnull=True)
    copy_source = files[2]
    same = bytes(copy_source.versions.order_by("-number").first().content)
    drive_api.put_file(root, "Copy of a file.bin", same, "fail", alice)

    before = sum(f.stat().st_size for f in (blob_root / "v1").rglob("*") if f.is_file())
    second = runner.run(obj).point
    after = sum(f.stat().st_size for f in (blob_root / "v1").rglob("*") if f.is_file())
    assert second.status == RestorePoint.Status.SUCCEEDED, second.error
    assert (second.items_added, second.items_changed, second.items_removed) == (1, 2, 1)
    # One new blob: sealed, so a header and one authentication tag more than its bytes.
    assert second.bytes_stored == len(b"new figures\n")
    assert after - before == sealing.HEADER + sealing.TAG + len(b"new figures\n")

    with blob_store().open(items_at(first).get(graph_id=edited.id).content_sha256) as blob:
        assert blob.read() == old_bytes
    with blob_store().open(items_at(second).get(graph_id=edited.id).content_sha256) as blob:
        assert blob.read() == b"new figures\n"
    assert items_at(first).filter(graph_id=deleted.id).exists()
    assert not items_at(second).filter(graph_id=deleted.id).exists()
    assert items_at(second).get(graph_id=renamed.id).name.startswith("Renamed ")
    assert not items_at(first).get(graph_id=renamed.id).name.startswith("Renamed ")
    copy = items_at(second).get(name="Copy of a file.bin")
    assert copy.content_sha256 == items_at(second).get(graph_id=copy_source.id).content_sha256
