"""SharePoint sites and Teams files: discovery of every library, incremental backups through
the OneDrive reader, scope through SharePoint's own permissions, restores as the person."""

from __future__ import annotations

import pytest
from django.http import Http404

from authflow import flows
from restore.backup import discovery, runner
from restore.blobs import blob_store
from restore.jobs import lifecycle as jobs
from restore.models import EntityKind, Item, ProtectedObject, RestoreJob, RestorePoint, Workload
from restore.scope import Scope
from tests.restore.jobs_support import sign_in
from tests.restore.test_jobs import run_to_end

pytestmark = pytest.mark.django_db(transaction=True)

AUDIT = "Finance - Audit / Documents"
FINDINGS = "Audit findings 2025.docx"


def libraries(sandbox) -> dict[str, ProtectedObject]:
    discovery.discover(sandbox.tenant_id)
    return {
        o.name: o
        for o in ProtectedObject.objects.filter(
            tenant_id=sandbox.tenant_id, workload=Workload.SHAREPOINT
        )
    }


def backed_up(obj: ProtectedObject) -> RestorePoint:
    point = runner.run(obj).point
    assert point.status == RestorePoint.Status.SUCCEEDED, point.error
    return point


def delete_in_sandbox(obj: ProtectedObject, name: str) -> None:
    from sandbox.graph import drive as sandbox_drive
    from sandbox.models import DriveItem

    sandbox_drive.delete_tree(DriveItem.objects.get(drive_id=obj.graph_ref, name=name))


def test_discovery_finds_every_library_including_a_private_channels(sandbox):
    found = libraries(sandbox)
    again = libraries(sandbox)
    audit = found[AUDIT]

    assert {"Projects / Documents", "Projects / Plans", AUDIT} <= set(found)
    assert set(again) == set(found)  # found again, not twice
    assert audit.entity == EntityKind.SITE
    assert audit.details["site_kind"] == "channel"
    assert audit.details["channel"]["name"] == "Audit"
    assert audit.details["channel"]["membership"] == "private"
    assert audit.details["site_url"] == "https://contoso.sharepoint.com/sites/finance-Audit"
    assert [o["upn"] for o in audit.details["owners"]] == ["bob@contoso.example"]
    assert found["Projects / Plans"].details["site_kind"] == "communication"
    # A team site's default library stays its group's OneDrive object, once.
    refs = list(ProtectedObject.objects.values_list("graph_ref", flat=True).exclude(graph_ref=""))
    assert len(refs) == len(set(refs))
    assert not any(name.startswith("Finance / ") for name in found)


def test_a_library_backs_up_incrementally_by_delta(sandbox):
    audit = libraries(sandbox)[AUDIT]
    first = backed_up(audit)
    delete_in_sandbox(audit, FINDINGS)
    second = backed_up(audit)

    assert second.delta_state["drive"] != first.delta_state["drive"]
    at_first = Item.objects.filter(object=audit, first_seq__lte=first.seq)
    assert FINDINGS in set(at_first.values_list("name", flat=True))
    live = Item.objects.filter(object=audit, last_seq__isnull=True)
    assert FINDINGS not in set(live.values_list("name", flat=True))


def test_scope_follows_sharepoint_membership(sandbox):
    found = libraries(sandbox)
    alice, frank = sign_in(sandbox, "alice"), sign_in(sandbox, "frank")

    assert Scope.for_user(alice).object(found[AUDIT].pk)
    with pytest.raises(Http404):
        Scope.for_user(frank).object(found[AUDIT].pk)  # in the team, not in the channel
    with pytest.raises(Http404):
        Scope.for_user(alice).object(found["Projects / Documents"].pk)


def test_a_member_restores_a_deleted_file_into_the_channel_library_and_it_reads_back(sandbox):
    from sandbox.models import DriveItem

    audit = libraries(sandbox)[AUDIT]
    point = backed_up(audit)
    item = Item.objects.get(object=audit, name=FINDINGS)
    delete_in_sandbox(audit, FINDINGS)
    alice = sign_in(sandbox, "alice")

    job = run_to_end(
        jobs.create_job(Scope.for_user(alice), point, [item.pk], [], "original", "", "skip")
    )

    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
    back = DriveItem.objects.get(drive_id=audit.graph_ref, name=FINDINGS, deleted_at=None)
    assert back.parent.name == "Findings"
    with blob_store().open(item.content_sha256) as stream:
        assert bytes(back.versions.order_by("-number").first().content) == stream.read()

    scope = Scope.for_user(alice)
    for collision in ("skip", "keep-both", "overwrite"):
        again = run_to_end(jobs.create_job(scope, point, [item.pk], [], "original", "", collision))
        assert again.status == RestoreJob.Status.COMPLETED, collision
    names = set(
        DriveItem.objects.filter(parent=back.parent, deleted_at=None).values_list("name", flat=True)
    )
    assert {FINDINGS, "Audit findings 2025 1.docx"} <= names
    assert DriveItem.objects.get(pk=back.pk).versions.count() == 2  # overwritten in place
    into_folder = run_to_end(
        jobs.create_job(scope, point, [item.pk], [], "folder", "Restored", "skip")
    )
    assert into_folder.status == RestoreJob.Status.COMPLETED
    assert DriveItem.objects.filter(
        drive_id=audit.graph_ref, name=FINDINGS, parent__name="Findings",
        parent__parent__name="Restored", deleted_at=None,
    ).exists()  # fmt: skip


def test_throttled_site_requests_are_retried_after_retry_after(sandbox):
    from sandbox.models import Fault

    sandbox.fault("/sites/getAllSites", 429, retry_after=1)
    sandbox.fault("/sites/getAllSites", 503, retry_after=1)

    found = libraries(sandbox)

    assert AUDIT in found
    assert not Fault.objects.filter(remaining__gt=0).exists()  # both answered, then retried


def test_a_reader_who_may_not_write_is_refused_and_the_job_says_why(sandbox):
    from sandbox.models import DriveItem

    documents = libraries(sandbox)["Projects / Documents"]
    point = backed_up(documents)
    item = Item.objects.get(object=documents, name="Roadmap.docx")
    delete_in_sandbox(documents, "Roadmap.docx")
    grace = sign_in(sandbox, "grace")  # a visitor of Projects: reads, may not write

    job = run_to_end(
        jobs.create_job(Scope.for_user(grace), point, [item.pk], [], "original", "", "skip")
    )

    messages = " ".join(job.log.values_list("message", flat=True))
    assert job.status == RestoreJob.Status.FAILED, messages
    assert "Microsoft 365 refused (accessDenied)" in messages
    assert "the right to write in the library Projects / Documents" in messages
    assert not DriveItem.objects.filter(
        drive_id=documents.graph_ref, name="Roadmap.docx", deleted_at=None
    ).exists()


def test_sites_selected_without_a_grant_names_the_site(sandbox):
    from sandbox.models import ServicePrincipal

    ServicePrincipal.objects.filter(tenant_id=sandbox.tenant_id).update(
        graph_app_roles=["User.Read.All", "GroupMember.Read.All", "Sites.Selected"]
    )
    flows.forget_app_only_tokens()

    problems = discovery.check_sites(sandbox.tenant_id)

    assert any("getAllSites" in p and "Sites.Selected" in p for p in problems)
    assert any("team site of Finance" in p for p in problems), problems
    assert not ProtectedObject.objects.filter(workload=Workload.SHAREPOINT).exists()


def test_a_member_browses_searches_and_downloads_as_in_onedrive_others_get_404(sandbox, client):
    from django.urls import reverse

    audit = libraries(sandbox)[AUDIT]
    point = backed_up(audit)
    item = Item.objects.get(object=audit, name=FINDINGS)
    urls = [
        reverse("restore:object", args=[audit.pk]),
        reverse("restore:point", args=[point.pk]) + f"?folder={item.folder_id}",
        reverse("restore:item", args=[item.pk]),
        reverse("restore:item-download", args=[item.pk]),
        reverse("restore:search") + f"?object={audit.pk}&q=findings",
    ]
    alice, frank = sign_in(sandbox, "alice"), sign_in(sandbox, "frank")

    client.force_login(alice)
    answers = {url: client.get(url) for url in urls}
    listing = client.get(reverse("restore:my-backups")).content.decode()
    client.force_login(frank)
    refused = {url: client.get(url).status_code for url in urls}

    assert {url: a.status_code for url, a in answers.items()} == dict.fromkeys(urls, 200)
    assert FINDINGS in answers[urls[-1]].content.decode()
    with blob_store().open(item.content_sha256) as stream:
        assert b"".join(answers[urls[3]].streaming_content) == stream.read()
    assert AUDIT in listing
    assert refused == dict.fromkeys(urls, 404)


def test_the_demo_deletes_a_document_of_the_private_channel_between_its_backups(sandbox):
    from sandbox import demo

    audit = libraries(sandbox)[AUDIT]
    first = backed_up(audit)
    changes = demo.apply_demo_changes()
    second = backed_up(audit)

    assert changes["deleted site document"] == f"Finance / Audit: {FINDINGS}"
    findings = Item.objects.get(object=audit, name=FINDINGS)
    assert findings.first_seq <= first.seq
    assert findings.last_seq == first.seq < second.seq


def test_an_operator_scope_on_a_team_covers_its_private_channels_library(sandbox):
    from restore.models import OperatorScope
    from restore.scope import expire_sessions

    audit = libraries(sandbox)[AUDIT]
    frank = sign_in(sandbox, "frank")  # in the team, not in its private channel
    with pytest.raises(Http404):
        Scope.for_user(frank).object(audit.pk)
    grant = OperatorScope.objects.create(
        tenant_id=frank.tenant_id,
        grantee_user=frank,
        grantee_name=frank.upn,
        principal_kind=OperatorScope.PrincipalKind.GROUP,
        principal_id=audit.details["group_id"],
        principal_name="Finance",
    )
    expire_sessions(grant)

    assert Scope.for_user(frank).object(audit.pk) == audit
