"""Restoring into another person's mailbox: asked of them, run with their own token.

Heidi (helpdesk) has restore scopes for Alice and Bob. She restores Alice's backed-up
message into Bob's mailbox; Bob decides. The sandbox lets a delegated token write only
into its own mailbox, so a message that lands in Bob's mailbox was written with Bob's.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from api import tokens as api_tokens
from portal.models import AuditEvent
from restore.jobs import consent, runner
from restore.jobs import lifecycle as jobs
from restore.models import (
    EntityKind,
    Item,
    OperatorScope,
    ProtectedObject,
    RestoreConsent,
    RestoreJob,
    Workload,
)
from restore.scope import Scope
from tests.conftest import wait_for
from tests.restore.jobs_support import back_up_drive, back_up_mailbox, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

S = RestoreJob.Status


def grant(heidi, obj: ProtectedObject, *, without_asking: bool = False) -> OperatorScope:
    return OperatorScope.objects.create(
        tenant_id=obj.tenant_id,
        grantee_user=heidi,
        grantee_name=heidi.upn,
        principal_kind=OperatorScope.PrincipalKind.USER,
        principal_id=obj.owner_id,
        principal_name=obj.address,
        restore_without_asking=without_asking,
    )


@pytest.fixture
def people(sandbox):
    """Heidi signed in, with restore scopes for Alice's and Bob's mailboxes."""
    alice_point, bob_point = back_up_mailbox("alice"), back_up_mailbox("bob")
    heidi = sign_in(sandbox, "heidi")
    grant(heidi, alice_point.object)
    grant(heidi, bob_point.object)
    item = Item.objects.get(object=alice_point.object, name="Q3 budget — final")
    return {"heidi": heidi, "point": alice_point, "bob_box": bob_point.object, "item": item}


def ask_bob(people) -> RestoreJob:
    return jobs.create_job(
        Scope.for_user(people["heidi"]),
        people["point"].pk,
        [people["item"].pk],
        [],
        "another",
        "",
        "skip",
        people["bob_box"].pk,
    )


def in_mailbox(alias: str, subject: str):
    from sandbox.models import Message

    return Message.objects.filter(
        mailbox__user_principal_name__startswith=f"{alias}@", subject=subject
    ).select_related("folder__parent")


def restored_into(alias: str, subject: str, folder_name: str) -> list[str]:
    """Paths of the copies under the restore's top folder (its tree keeps the source's)."""
    return [
        f"{m.folder.parent.display_name}/{m.folder.display_name}"
        for m in in_mailbox(alias, subject).filter(folder__parent__display_name=folder_name)
    ]


def actions(job: RestoreJob) -> list[str]:
    return list(
        AuditEvent.objects.filter(target=str(job.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def run_to_end(job: RestoreJob) -> RestoreJob:
    runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    job.refresh_from_db()
    return job


def test_bob_agrees_in_the_portal_and_alices_message_lands_in_a_folder_of_his_named_for_her(
    sandbox, people, client
):
    subject = people["item"].name
    before = in_mailbox("bob", subject).count()
    client.force_login(people["heidi"])
    answer = client.post(
        "/backups/restore/",
        {
            "point": people["point"].pk,
            "items": [people["item"].pk],
            "target": "another",
            "target_object": people["bob_box"].pk,
            "collision": "skip",
        },
    )
    job = RestoreJob.objects.get()
    assert answer.status_code == 302
    assert (job.status, job.consent.status) == (S.CONSENT, RestoreConsent.Status.ASKED)
    assert job.target_name.startswith("Restored from alice@")
    page = client.get(f"/backups/jobs/{job.pk}/").content.decode()
    assert "Waiting for" in page
    assert f"/backups/restore-requests/{job.pk}/" in page
    # Heidi cannot answer for Bob: the request is Bob's alone.
    assert client.get(f"/backups/restore-requests/{job.pk}/").status_code == 404
    assert (
        client.post(f"/backups/restore-requests/{job.pk}/answer", {"answer": "agree"}).status_code
        == 404
    )
    # Nothing is written before Bob says yes, even if a worker picks the job up.
    runner.run(job.pk)
    job.refresh_from_db()
    assert job.status == S.CONSENT
    assert in_mailbox("bob", subject).count() == before

    bob = sign_in(sandbox, "bob")
    client.force_login(bob)
    home = client.get("/backups/").content.decode()
    assert "1 restore into your mailbox or OneDrive waits for your answer" in home
    request_page = client.get(f"/backups/restore-requests/{job.pk}/").content.decode()
    assert "asks to restore 1 item into your mailbox" in request_page
    answer = client.post(f"/backups/restore-requests/{job.pk}/answer", {"answer": "agree"})
    assert answer.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.consent.status) == (S.QUEUED, RestoreConsent.Status.GIVEN)

    job = run_to_end(job)
    assert job.status == S.COMPLETED, list(job.log.values_list("message", flat=True))
    assert (job.items_done, job.items_verified) == (1, 1)
    assert restored_into("bob", subject, job.target_name) == [f"{job.target_name}/Inbox"]
    assert in_mailbox("alice", subject).count() == 1  # Alice's mailbox untouched
    assert actions(job) == [
        "restore.requested",
        "restore.consent_requested",
        "restore.consent_given",
        "restore.finished",
    ]
    given = AuditEvent.objects.get(target=str(job.pk), action="restore.consent_given")
    assert given.actor_identity == bob.identity
    assert given.details["requester"] == people["heidi"].identity
    # Answered once: a second answer is refused with the reason.
    again = client.post(f"/backups/restore-requests/{job.pk}/answer", {"answer": "refuse"})
    assert again.status_code == 409
    assert "already answered" in again.content.decode()


def test_bob_refuses_and_nothing_is_written(sandbox, people, client):
    before = in_mailbox("bob", people["item"].name).count()
    job = ask_bob(people)
    bob = sign_in(sandbox, "bob")
    client.force_login(bob)
    assert (
        client.post(
            f"/backups/restore-requests/{job.pk}/answer", {"answer": "nonsense"}
        ).status_code
        == 400
    )
    answer = client.post(f"/backups/restore-requests/{job.pk}/answer", {"answer": "refuse"})
    assert answer.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.consent.status) == (S.CANCELLED, RestoreConsent.Status.REFUSED)
    runner.run(job.pk)
    assert in_mailbox("bob", people["item"].name).count() == before
    assert "restore.consent_refused" in actions(job)
    assert "refused; nothing was restored" in " ".join(job.log.values_list("message", flat=True))
    assert "1 restore" not in client.get("/backups/").content.decode()


def test_an_unanswered_request_expires_and_cannot_be_agreed_to_afterwards(
    sandbox, people, settings
):
    job = ask_bob(people)
    bob = sign_in(sandbox, "bob")
    asked = consent.request_for(bob, job.pk)
    # Not yet due: the sweep leaves it.
    assert consent.expire_overdue() == 0
    later = timezone.now() + timedelta(hours=settings.RESTORE_CONSENT_HOURS, minutes=1)
    assert consent.expire_overdue(now=later) == 1
    job.refresh_from_db()
    assert (job.status, job.consent.status) == (S.CANCELLED, RestoreConsent.Status.EXPIRED)
    with pytest.raises(consent.Undecidable, match="already answered: expired"):
        consent.agree(asked)
    assert "restore.consent_expired" in actions(job)
    assert not consent.pending_for(bob).exists()


def test_an_answer_after_the_deadline_is_refused_even_before_the_sweep(sandbox, people):
    job = ask_bob(people)
    bob = sign_in(sandbox, "bob")
    RestoreConsent.objects.filter(job=job).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(consent.Undecidable, match="This request expired at"):
        consent.agree(consent.request_for(bob, job.pk))
    job.refresh_from_db()
    assert job.status == S.CONSENT  # the sweep cancels it and audits the expiry


def test_heidi_cancelling_withdraws_the_request(sandbox, people):
    job = ask_bob(people)
    assert jobs.cancel(job, by=people["heidi"])
    job.refresh_from_db()
    assert (job.status, job.consent.status) == (S.CANCELLED, RestoreConsent.Status.WITHDRAWN)
    assert "restore.consent_withdrawn" in actions(job)


def test_an_admin_policy_skips_the_question_but_the_restore_still_waits_for_bobs_own_sign_in(
    sandbox, people
):
    OperatorScope.objects.filter(principal_id=people["bob_box"].owner_id).update(
        restore_without_asking=True
    )
    job = ask_bob(people)
    assert (job.status, job.consent.status) == (S.QUEUED, RestoreConsent.Status.BY_POLICY)
    runner.run(job.pk)  # Bob never signed in: the portal holds no token of his
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).status == S.WAITING, timeout=30)
    job.refresh_from_db()
    assert job.waiting_reason.startswith("Bob Lee") or "bob@" in job.waiting_reason
    bob = sign_in(sandbox, "bob")
    jobs.requeue_waiting(bob)  # what his sign-in's signal does
    job = run_to_end(job)
    assert job.status == S.COMPLETED, list(job.log.values_list("message", flat=True))
    assert restored_into("bob", people["item"].name, job.target_name)


def test_restoring_into_oneself_needs_no_question(sandbox, people):
    """Heidi restores Alice's message into her own mailbox: her consent is the request."""
    heidi_point = back_up_mailbox("heidi")
    grant(people["heidi"], heidi_point.object)
    job = jobs.create_job(
        Scope.for_user(people["heidi"], refresh=True),
        people["point"].pk,
        [people["item"].pk],
        [],
        "another",
        "",
        "skip",
        heidi_point.object.pk,
    )
    assert (job.status, job.consent.status) == (S.QUEUED, RestoreConsent.Status.GIVEN)
    job = run_to_end(job)
    assert job.status == S.COMPLETED
    assert restored_into("heidi", people["item"].name, job.target_name)


def test_bad_targets_are_refused_precisely_and_nothing_is_created(sandbox, people):
    scope = Scope.for_user(people["heidi"])
    point, item = people["point"], people["item"]
    carol = ProtectedObject.objects.create(
        tenant_id=point.object.tenant_id,
        workload=Workload.MAIL,
        entity=EntityKind.USER,
        owner_id="00000000-0000-0000-0000-00000000ca01",
        name="Carol Diaz",
        address="carol@contoso.example",
    )
    bob_drive = back_up_drive("bob").object
    finance = ProtectedObject.objects.create(
        tenant_id=point.object.tenant_id,
        workload=Workload.MAIL,
        entity=EntityKind.GROUP,
        owner_id="00000000-0000-0000-0000-00000000f001",
        name="Finance",
        address="finance@contoso.example",
    )
    grant(people["heidi"], finance)
    scope = Scope.for_user(people["heidi"], refresh=True)

    def attempt(target_object):
        return jobs.create_job(scope, point.pk, [item.pk], [], "another", "", "skip", target_object)

    with pytest.raises(ValidationError, match="Choose the person whose mailbox or OneDrive"):
        attempt("")
    with pytest.raises(Http404):
        attempt(carol.pk)  # not in Heidi's scope: as if it did not exist
    with pytest.raises(Http404):
        attempt("not-a-number")
    with pytest.raises(
        ValidationError, match="The OneDrive of Bob Lee can't hold items of a Mailbox"
    ):
        attempt(bob_drive.pk)
    with pytest.raises(ValidationError, match="is a group"):
        attempt(finance.pk)
    with pytest.raises(ValidationError, match="That is where these items come from"):
        attempt(point.object.pk)
    assert not RestoreJob.objects.exists()
    assert not RestoreConsent.objects.exists()


def test_the_api_asks_too_and_shows_the_consent_state(sandbox, people, client):
    headers = {
        "Authorization": "Bearer "
        + api_tokens.issue(people["heidi"], grant="operator").access_token
    }
    body = {
        "restore_point": people["point"].pk,
        "items": [people["item"].pk],
        "target": {"kind": "another", "object": people["bob_box"].pk},
    }
    plan = client.post(
        "/api/v1/restore-jobs",
        json.dumps(body | {"dry_run": True}),
        content_type="application/json",
        headers=headers,
    )
    assert plan.status_code == 200, plan.content
    assert plan.json()["items"][0]["action"] == "restore"
    assert "once they agree" in plan.json()["items"][0]["detail"]
    assert not RestoreJob.objects.exists()
    answer = client.post(
        "/api/v1/restore-jobs", json.dumps(body), content_type="application/json", headers=headers
    )
    assert answer.status_code == 202, answer.content
    job = answer.json()
    assert (job["status"], job["consent"]) == ("waiting-for-consent", "asked")
    assert job["target"]["object_id"] == people["bob_box"].pk
    missing = client.post(
        "/api/v1/restore-jobs",
        json.dumps(body | {"target": {"kind": "another"}}),
        content_type="application/json",
        headers=headers,
    )
    assert missing.status_code == 400
    assert "Choose the person" in missing.json()["error_description"]


def test_a_file_goes_into_bobs_onedrive_under_a_folder_named_for_alice_once_he_agrees(sandbox):
    from sandbox.models import DirectoryUser, DriveItem

    alice_point, bob_point = back_up_drive("alice"), back_up_drive("bob")
    heidi = sign_in(sandbox, "heidi")
    grant(heidi, alice_point.object)
    grant(heidi, bob_point.object)
    item = Item.objects.filter(object=alice_point.object, kind=Item.Kind.FILE).first()
    assert item is not None
    job = jobs.create_job(
        Scope.for_user(heidi), alice_point, [item.pk], [], "another", "", "skip",
        bob_point.object.pk,
    )  # fmt: skip
    assert job.status == S.CONSENT
    bob = sign_in(sandbox, "bob")
    consent.agree(consent.request_for(bob, job.pk))
    job = run_to_end(job)
    assert job.status == S.COMPLETED, list(job.log.values_list("message", flat=True))
    assert job.items_verified == 1
    bob_drive = DirectoryUser.objects.get(user_principal_name__startswith="bob@").drive
    top = DriveItem.objects.get(drive=bob_drive, name=job.target_name, deleted_at=None)
    assert top.parent.parent_id is None  # at the root of Bob's OneDrive
    copies = DriveItem.objects.filter(drive=bob_drive, name=item.name, deleted_at=None)
    assert any(top.pk in _ancestors(copy) for copy in copies)


def _ancestors(drive_item) -> list[str]:
    found = []
    while drive_item.parent_id:
        drive_item = drive_item.parent
        found.append(drive_item.pk)
    return found
