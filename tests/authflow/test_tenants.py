"""Tenants as data: the first tenant from settings, tenant admins limited to their
tenants on every console page and API URL, another tenant's ids a 404."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api import tokens as api_tokens
from authflow import tenants
from authflow.models import Role, Tenant, TenantAdmin, TokenCache, User
from portal import audit
from portal.models import AuditEvent
from restore.models import ContentStatus, OperatorScope
from tests.restore import factories as f


def _tokens_for(user: User) -> TokenCache:
    return TokenCache.objects.create(
        user=user, method="device_code", signed_in_at=timezone.now(), scopes=["User.Read"]
    )


@pytest.fixture
def two_tenants(db) -> dict[str, Tenant]:
    return {
        "contoso": Tenant.objects.create(
            tenant_id=f.CONTOSO, domains=["contoso.example"], status="active"
        ),
        "fabrikam": Tenant.objects.create(
            tenant_id=f.FABRIKAM, domains=["fabrikam.example"], status="active"
        ),
    }


@pytest.fixture
def world(two_tenants):
    """One person of each tenant with tokens, a backed-up item with a content problem, an
    operator scope and an audit event in each."""
    people = {"contoso": f.user("alice"), "fabrikam": f.user("carol", tenant=f.FABRIKAM)}
    grants = {}
    for name, person in people.items():
        _tokens_for(person)
        obj = f.protected_object(person)
        f.point(obj, 1)
        item = f.message(obj, f.folder(obj, "Inbox"), f"{name} secret plans")
        item.content_status = ContentStatus.MISSING
        item.save()
        grants[name] = OperatorScope.objects.create(
            tenant_id=person.tenant_id,
            grantee_name=f"helpdesk@{name}.example",
            grantee_user=person,
            principal_kind="user",
            principal_id=person.oid,
            principal_name=person.upn,
        )
        audit.record("token.revoked", actor=person, target=f"{name}-event")
    return {"people": people, "grants": grants, **two_tenants}


@pytest.fixture
def fabrikam_admin(world) -> User:
    admin = f.user("frank", tenant=f.FABRIKAM)
    TenantAdmin.objects.create(user=admin, tenant=world["fabrikam"])
    return admin


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_configured_tenant_becomes_the_first_tenant_once(db, settings):
    settings.MICROSOFT_TENANT_ID = str(f.CONTOSO)
    assert tenants.active_ids() == [f.CONTOSO]
    assert tenants.active_ids() == [f.CONTOSO]
    first = Tenant.objects.get()
    assert first.status == Tenant.Status.ACTIVE
    assert first.credentials_ref in ("MICROSOFT_CLIENT_SECRET", "MICROSOFT_CLIENT_CERTIFICATE_PATH")


def test_no_first_tenant_is_added_once_tenants_are_connected(two_tenants, settings):
    settings.MICROSOFT_TENANT_ID = str(uuid.uuid4())
    assert sorted(tenants.active_ids()) == sorted([f.CONTOSO, f.FABRIKAM])


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("not-a-guid", "is not a tenant id"),
        ("5b7c2f1e-8d4a-4c3b-9e6f", "is not a tenant id"),
        ("bad domain.example", "neither a tenant id"),
        ("", "Give the tenant's id"),
    ],
)
def test_bad_tenant_references_are_refused_precisely(typed, message):
    with pytest.raises(tenants.TenantError, match=message):
        tenants.parse(typed)


def test_a_tenant_admin_sees_only_their_tenant_on_every_console_page(world, fabrikam_admin):
    client = as_user(fabrikam_admin)
    pages = {
        "console:people": ("carol@fabrikam.example", "alice@contoso.example"),
        "console:logged-in-users": ("carol@fabrikam.example", "alice@contoso.example"),
        "console:audit": ("fabrikam-event", "contoso-event"),
        "console:restore-scopes": ("helpdesk@fabrikam.example", "helpdesk@contoso.example"),
        "console:backup-store": ("fabrikam secret plans", "contoso secret plans"),
        "console:tenants": ("fabrikam.example", "contoso.example"),
    }
    for name, (theirs, other) in pages.items():
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        html = response.content.decode()
        assert theirs in html, name
        assert other not in html, name
    csv = b"".join(client.get(reverse("console:audit-csv"))).decode()
    assert "fabrikam-event" in csv
    assert "contoso-event" not in csv


def test_a_global_admin_sees_every_tenant(world):
    admin = f.user("ivan", role=Role.ADMIN)
    client = as_user(admin)
    for name, texts in {
        "console:people": ("carol@fabrikam.example", "alice@contoso.example"),
        "console:audit": ("fabrikam-event", "contoso-event"),
        "console:restore-scopes": ("helpdesk@fabrikam.example", "helpdesk@contoso.example"),
        "console:backup-store": ("fabrikam secret plans", "contoso secret plans"),
        "console:tenants": ("fabrikam.example", "contoso.example"),
    }.items():
        html = client.get(reverse(name)).content.decode()
        assert all(text in html for text in texts), name


def test_another_tenants_ids_are_404_on_every_console_url(world, fabrikam_admin):
    client = as_user(fabrikam_admin)
    alice = world["people"]["contoso"]
    probes = [
        ("console:revoke", [alice.identity], {}),
        ("console:re-login", [alice.identity], {}),
        ("console:change-role", [alice.identity], {"role": "helpdesk"}),
        ("console:restore-scope-delete", [world["grants"]["contoso"].pk], {}),
    ]
    for name, args, data in probes:
        response = client.post(reverse(name, args=args), data)
        assert response.status_code == 404, f"{name} answered {response.status_code}"
    alice.refresh_from_db()
    assert alice.role == Role.END_USER
    assert TokenCache.objects.get(user=alice).status == TokenCache.Status.VALID
    assert OperatorScope.objects.filter(pk=world["grants"]["contoso"].pk).exists()
    assert client.get(reverse("console:workers")).status_code == 404


def test_a_tenant_admin_changes_their_tenants_people_but_makes_no_admin(world, fabrikam_admin):
    client = as_user(fabrikam_admin)
    carol = world["people"]["fabrikam"]
    client.post(reverse("console:change-role", args=[carol.identity]), {"role": "helpdesk"})
    carol.refresh_from_db()
    assert carol.role == Role.HELPDESK
    response = client.post(
        reverse("console:change-role", args=[carol.identity]), {"role": "admin"}, follow=True
    )
    carol.refresh_from_db()
    assert carol.role == Role.HELPDESK
    assert "Only a global admin can make someone an admin." in response.content.decode()
    event = AuditEvent.objects.get(action="role.changed")
    assert event.tenant_id == f.FABRIKAM


def test_a_person_without_grant_or_role_gets_no_console(world):
    client = as_user(world["people"]["fabrikam"])
    assert client.get(reverse("console:people")).status_code == 403


def test_the_logged_users_api_is_limited_to_the_admins_tenants(world, fabrikam_admin, client):
    token = api_tokens.issue(fabrikam_admin, grant="operator").access_token
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/logged-users", headers=headers).json()
    upns = {row["upn"] for row in listed["items"]}
    assert "carol@fabrikam.example" in upns
    assert "alice@contoso.example" not in upns
    alice = world["people"]["contoso"]
    answer = client.post(f"/api/v1/logged-users/{alice.identity}/revoke", headers=headers)
    assert answer.status_code == 404
    assert TokenCache.objects.get(user=alice).status == TokenCache.Status.VALID


def test_an_admin_by_another_tenants_directory_administers_that_tenant_only(world):
    # Fabrikam's own admin (Lifeboat.Admin in Fabrikam's directory) is no global admin.
    trent = f.user("trent", tenant=f.FABRIKAM, directory_role=Role.ADMIN)
    client = as_user(trent)
    html = client.get(reverse("console:people")).content.decode()
    assert "carol@fabrikam.example" in html
    assert "alice@contoso.example" not in html
    assert client.get(reverse("console:workers")).status_code == 404
    alice = world["people"]["contoso"]
    assert client.post(reverse("console:revoke", args=[alice.identity])).status_code == 404
    # The home tenant's (Contoso's, the first connected) admin by directory role is global.
    ivan = f.user("ivan", directory_role=Role.ADMIN)
    assert "carol@fabrikam.example" in as_user(ivan).get(reverse("console:people")).content.decode()
