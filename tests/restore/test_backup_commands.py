"""`manage.py backup`, the Celery tasks and the demo's two restore points."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from authflow.models import Tenant
from restore.backup import discovery
from restore.backup.tasks import backup_due_objects, objects_due
from restore.models import Item, ProtectedObject, RestorePoint, valid_at
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_backup_command_backs_up_one_person_and_prints_a_summary(sandbox):
    out = io.StringIO()
    call_command("backup", "alice@contoso.example", "--workload", "mail", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Mailbox of Alice")
    assert "restore point 1 — 30 added, 0 changed, 0 removed" in lines[0]
    assert lines[0].endswith(" s")

    out = io.StringIO()
    call_command("backup", "alice@contoso.example", stdout=out)  # both workloads
    summary = out.getvalue()
    assert "Mailbox of Alice" in summary
    assert "restore point 2 — 0 added" in summary
    assert "OneDrive of Alice" in summary
    assert "restore point 1 — 8 added" in summary


def test_backup_command_refuses_unknown_objects_and_bad_arguments(sandbox):
    with pytest.raises(
        CommandError, match=r"No protected object matches 'nobody@contoso\.example'"
    ):
        call_command("backup", "nobody@contoso.example", stdout=io.StringIO())
    with pytest.raises(CommandError, match="either --all or one OBJECT"):
        call_command("backup", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No protected object matches '999999'"):
        call_command("backup", "999999", stdout=io.StringIO())
    assert not RestorePoint.objects.exists()


def test_backup_command_reports_a_failed_run_with_a_non_zero_exit(sandbox):
    sandbox.fault("/drive/root/delta", 500, remaining=5)
    sandbox.fault("root/delta", 500, remaining=5)
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 backup"):
        call_command("backup", "Finance", "--workload", "onedrive", stdout=out)
    assert "restore point 1 FAILED: Microsoft Graph answered 500" in out.getvalue()


def test_beat_task_discovers_and_queues_due_objects_to_the_worker(sandbox, celery_worker):
    objects = discovery.discover(sandbox.tenant_id)
    alice_mail = ProtectedObject.objects.get(workload="mail", owner_id=sandbox.user("alice").id)
    ProtectedObject.objects.exclude(pk=alice_mail.pk).update(enabled=False)
    assert len(objects) > 1
    assert list(objects_due()) == [alice_mail]

    assert backup_due_objects() == 1

    point = wait_for(
        lambda: RestorePoint.objects.filter(object=alice_mail, status="succeeded").first(),
        timeout=60,
        message="The worker never backed up Alice's mailbox",
    )
    assert point.items_added == 30
    alice_mail.refresh_from_db()
    assert alice_mail.last_backup_at == point.finished_at
    assert not objects_due().exists()  # backed up just now: not due again
    assert backup_due_objects() == 0


def test_seed_demo_leaves_q3_budget_in_the_first_point_only(sandbox):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert "Backed up" in out.getvalue()
    alice_mail = ProtectedObject.objects.get(workload="mail", owner_id=sandbox.user("alice").id)
    first, second = alice_mail.restore_points.order_by("seq")
    assert (first.status, second.status) == ("succeeded", "succeeded")

    def subjects(point):
        return set(
            Item.objects.filter(valid_at(point.seq), object=alice_mail).values_list(
                "name", flat=True
            )
        )

    assert "Q3 budget — final" in subjects(first)
    assert "Q3 budget — final" not in subjects(second)
    assert "Q4 planning kickoff" in subjects(second) - subjects(first)
    assert not RestorePoint.objects.filter(status="failed").exists()
    # Two organisations: Fabrikam was connected (consent, verify) and backed up too.
    fabrikam = Tenant.objects.get(tenant_id=sandbox.other_tenant_id)
    assert fabrikam.status == "active"
    assert "fabrikam.example" in fabrikam.domains
    assert Tenant.objects.filter(tenant_id=sandbox.tenant_id, status="active").exists()
    mallory_mail = ProtectedObject.objects.get(workload="mail", owner_id=sandbox.user("mallory").id)
    assert mallory_mail.restore_points.filter(status="succeeded").count() == 2
    points = RestorePoint.objects.count()

    call_command("seed_demo", stdout=io.StringIO())  # a second `make run`: nothing more
    assert RestorePoint.objects.count() == points
