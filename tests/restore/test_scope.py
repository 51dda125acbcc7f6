"""Scope enforcement: another person's (or tenant's) backups are a 404 from every URL."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from authflow.models import Role
from portal.models import AuditEvent
from restore.catalog import urls as browse_urls
from restore.models import EntityKind, OperatorScope, ProtectedObject, RestoreSession, Workload
from tests.restore import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob():
    user = f.user("bob")
    f.mailbox(user)
    return user


def _site_library() -> dict:
    """A SharePoint library of a site bob is not in (a private channel's, say): Graph can't
    confirm he may open it (here it is not even reachable), so it stays out of his scope."""
    obj = f.protected_object(
        workload=Workload.SHAREPOINT,
        entity=EntityKind.SITE,
        owner_id=uuid.uuid4(),  # the site's own id: no person or group opens it by membership
        name="Finance - Audit / Documents",
    )
    ProtectedObject.objects.filter(pk=obj.pk).update(graph_ref="b!audit-library")
    points = [f.point(obj, 1), f.point(obj, 2)]
    findings = f.folder(obj, "Findings")
    secret = f.file(obj, findings, "Quarterly secret zanzibar.docx", b"zanzibar findings")
    return {"object": obj, "points": points, "inbox": findings, "secret": secret}


@pytest.fixture(params=["same-tenant", "other-tenant", "site-library"])
def victim(request, bob):
    """Someone whose backups bob must not reach: a colleague, or a user of another tenant
    who even has bob's object id (oids are only unique per tenant), or a site's library."""
    if request.param == "site-library":
        return _site_library()
    if request.param == "same-tenant":
        owner = f.user("alice")
    else:
        owner = f.user("mallory", tenant=f.FABRIKAM, oid=bob.oid)
    box = f.mailbox(owner, points=2)
    box["secret"] = f.message(
        box["object"],
        box["inbox"],
        "Quarterly secret zanzibar",
        body="zanzibar body",
        attachments=[("secret.txt", "text/plain", b"secret bytes")],
    )
    return box


# What each browse URL is asked with another person's ids. A URL added to browse_urls
# without an entry here fails test_every_browse_url_is_covered.
def _cases(victim, bob_box):
    secret = victim["secret"]
    return {
        "object": [reverse("restore:object", args=[victim["object"].pk])],
        "deleted": [reverse("restore:deleted", args=[victim["object"].pk])],
        "point": [
            reverse("restore:point", args=[victim["points"][0].pk]),
            # Own restore point, someone else's folder id.
            reverse("restore:point", args=[bob_box["point"].pk]) + f"?folder={victim['inbox'].pk}",
        ],
        "item": [reverse("restore:item", args=[secret.pk])],
        "item-body": [reverse("restore:item-body", args=[secret.pk])],
        "item-download": [reverse("restore:item-download", args=[secret.pk])],
        "attachment": [reverse("restore:attachment", args=[secret.pk, 0])],
        "search": [reverse("restore:search") + f"?object={victim['object'].pk}"],
        "basket-add": [],  # a POST: test_a_basket_takes_no_one_elses_ids
    }


# Pages without an id in the URL: checked for what they show instead.
LISTING_PAGES = {"my-backups", "refresh-scope", "basket", "basket-remove"}


@pytest.fixture
def bob_box(bob):
    own = ProtectedObject.objects.get(owner_id=bob.oid, tenant_id=bob.tenant_id)
    return {"object": own, "point": own.restore_points.get()}


def test_every_browse_url_is_covered(bob, bob_box):
    victim = f.mailbox(f.user("carol"))
    victim["secret"] = victim["items"][0]
    names = {pattern.name for pattern in browse_urls.urlpatterns}
    covered = set(_cases(victim, bob_box)) | LISTING_PAGES
    assert names == covered, f"Add a scope test case for: {names - covered}"


def test_another_persons_ids_are_404_on_every_view(client, bob, bob_box, victim):
    client.force_login(bob)
    cases = _cases(victim, bob_box)
    assert set(cases) | LISTING_PAGES == {p.name for p in browse_urls.urlpatterns}
    for name, urls in cases.items():
        for url in urls:
            response = client.get(url)
            assert response.status_code == 404, f"{name}: {url} answered {response.status_code}"
    assert not AuditEvent.objects.filter(action="restore.download").exists()


def test_listing_pages_do_not_show_another_persons_backups(client, bob, bob_box, victim):
    client.force_login(bob)
    assert client.post(reverse("restore:refresh-scope")).status_code == 302
    html = client.get(reverse("restore:my-backups")).content.decode()
    assert f"/backups/objects/{bob_box['object'].pk}/" in html
    assert f"/backups/objects/{victim['object'].pk}/" not in html
    found = client.get(reverse("restore:search") + "?q=zanzibar").content.decode()
    assert "Quarterly secret" not in found
    assert 'data-testid="no-results"' in found


def test_the_owner_reaches_every_view(client, victim):
    from authflow.models import User

    if victim["object"].workload == Workload.SHAREPOINT:
        pytest.skip("a site has no owner account: tests/restore/test_sharepoint.py")

    owner = User.objects.get(oid=victim["object"].owner_id, tenant_id=victim["object"].tenant_id)
    client.force_login(owner)
    secret = victim["secret"]
    for url in [
        reverse("restore:object", args=[victim["object"].pk]),
        reverse("restore:point", args=[victim["points"][0].pk]) + f"?folder={victim['inbox'].pk}",
        reverse("restore:item", args=[secret.pk]),
        reverse("restore:item-body", args=[secret.pk]),
        reverse("restore:item-download", args=[secret.pk]),
        reverse("restore:attachment", args=[secret.pk, 0]),
        reverse("restore:search") + f"?object={victim['object'].pk}&q=zanzibar",
    ]:
        assert client.get(url).status_code == 200, url
    assert AuditEvent.objects.filter(action="restore.download").count() == 1


def test_signed_out_people_are_sent_to_sign_in(client, victim):
    response = client.get(reverse("restore:item", args=[victim["secret"].pk]))
    assert response.status_code == 302
    assert "/auth/" in response["Location"]


def test_operator_scope_makes_objects_visible_until_removed(client, bob, victim):
    """A grant (by an admin, here straight in the table) widens scope at the next session."""
    if victim["object"].tenant_id != bob.tenant_id:
        pytest.skip("grants are per tenant")
    client.force_login(bob)
    url = reverse("restore:object", args=[victim["object"].pk])
    assert client.get(url).status_code == 404
    grant = OperatorScope.objects.create(
        tenant_id=bob.tenant_id,
        grantee_user=bob,
        grantee_name=bob.upn,
        principal_kind=OperatorScope.PrincipalKind.USER,
        principal_id=victim["object"].owner_id,
        principal_name="alice",
    )
    from restore.scope import expire_sessions

    expire_sessions(grant)
    assert client.get(url).status_code == 200
    expire_sessions(grant)
    grant.delete()
    assert client.get(url).status_code == 404
    assert RestoreSession.objects.filter(user=bob).count() == 3


def test_restore_scope_admin_pages_are_for_admins(client, bob):
    client.force_login(bob)
    assert client.get(reverse("console:restore-scopes")).status_code == 403
    bob.role = Role.ADMIN
    bob.save()
    assert client.get(reverse("console:restore-scopes")).status_code == 200


def test_a_basket_takes_no_one_elses_ids(client, bob, bob_box, victim):
    client.force_login(bob)
    for point, items in (
        (victim["points"][0], [victim["secret"]]),  # their point
        (bob_box["point"], [victim["secret"]]),  # own point, their item
    ):
        answer = client.post(
            reverse("restore:basket-add"), {"point": point.pk, "items": [i.pk for i in items]}
        )
        assert answer.status_code == 404
    assert "Quarterly secret" not in client.get(reverse("restore:basket")).content.decode()
