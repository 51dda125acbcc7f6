"""Helpdesk scoped by tenant: a helpdesk person starts, sees and cancels sign-ins only in
their own tenant and the tenants granted to them; another tenant's sign-in is a 404 on
every helpdesk URL and on the sign-ins API, and audit events name the target's tenant."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from api import tokens as api_tokens
from authflow.models import Role, SignIn, Tenant, TenantAdmin, User
from portal.models import AuditEvent
from sandbox import constants
from tests.authflow.test_login_principals import fabrikam_consents
from tests.restore import factories as f


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


def pending_sign_in(tenant: uuid.UUID, label: str, started_by: User) -> SignIn:
    return SignIn.objects.create(
        method=SignIn.Method.DEVICE_CODE,
        tenant=str(tenant),
        user_code=f"CODE{label[:4].upper()}",
        verification_uri="https://microsoft.com/devicelogin",
        expires_at=timezone.now() + timedelta(minutes=15),
        started_by=started_by,
        expected_identity=f"{uuid.uuid4()}.{tenant}",
        expected_label=label,
    )


@pytest.fixture
def world(two_tenants):
    """Contoso's helpdesk Heidi, Fabrikam's own helpdesk Hank (by Fabrikam's directory),
    and one pending helpdesk sign-in in each tenant."""
    heidi = f.user("heidi", role=Role.HELPDESK)
    hank = f.user("hank", tenant=f.FABRIKAM, directory_role=Role.HELPDESK)
    return {
        "heidi": heidi,
        "hank": hank,
        "contoso_sign_in": pending_sign_in(f.CONTOSO, "alice@contoso.example", heidi),
        "fabrikam_sign_in": pending_sign_in(f.FABRIKAM, "carol@fabrikam.example", hank),
        **two_tenants,
    }


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_tokens.issue(user, grant='operator').access_token}"}


# Every helpdesk URL that takes a sign-in's id; a new one fails the coverage test below.
PROBES = {
    "helpdesk:sign-in": "GET",
    "helpdesk:cancel": "POST",
    "helpdesk:link-instead": "POST",
}


def test_every_helpdesk_url_with_an_id_is_probed():
    from authflow import helpdesk_urls

    with_id = {
        f"helpdesk:{p.name}" for p in helpdesk_urls.urlpatterns if "<uuid:code>" in str(p.pattern)
    }
    assert with_id == set(PROBES)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_another_tenants_sign_in_is_404_on_the_helpdesk_url(world, name):
    client = as_user(world["heidi"])
    other = world["fabrikam_sign_in"]
    url = reverse(name, args=[other.code])
    response = client.get(url) if PROBES[name] == "GET" else client.post(url)
    assert response.status_code == 404, f"{name} answered {response.status_code}"
    other.refresh_from_db()
    assert other.status == SignIn.Status.PENDING
    assert SignIn.objects.count() == 2
    assert not AuditEvent.objects.filter(action="sign_in.cancelled").exists()
    # Their own tenant's sign-in answers (the probe can fail).
    mine = reverse("helpdesk:sign-in", args=[world["contoso_sign_in"].code])
    assert client.get(mine).status_code == 200


def test_another_tenants_sign_in_is_404_on_get_api_sign_in(world, client):
    other = world["fabrikam_sign_in"]
    headers = bearer(world["heidi"])
    assert client.get(f"/api/v1/sign-ins/{other.code}", headers=headers).status_code == 404
    mine = client.get(f"/api/v1/sign-ins/{world['contoso_sign_in'].code}", headers=headers)
    assert mine.status_code == 200


def test_starting_in_another_tenant_is_404_on_post_api_sign_ins(world, client):
    answer = client.post(
        "/api/v1/sign-ins",
        {"principal": "carol@fabrikam.example", "tenant": "fabrikam.example"},
        content_type="application/json",
        headers=bearer(world["heidi"]),
    )
    assert answer.status_code == 404, answer.content
    assert "No connected tenant is fabrikam.example" in answer.content.decode()
    assert SignIn.objects.count() == 2


def test_starting_in_another_tenant_is_404_on_the_helpdesk_page(world):
    response = as_user(world["heidi"]).post(
        reverse("helpdesk:start"),
        {"principal": "carol@fabrikam.example", "tenant": f.FABRIKAM},
    )
    assert response.status_code == 404
    assert f"No connected tenant is {f.FABRIKAM}" in response.content.decode()
    assert SignIn.objects.count() == 2


def test_the_helpdesk_list_shows_only_the_tenants_they_act_in(world):
    for person, theirs, other in (
        ("heidi", "alice@contoso.example", "carol@fabrikam.example"),
        ("hank", "carol@fabrikam.example", "alice@contoso.example"),
    ):
        html = as_user(world[person]).get(reverse("helpdesk:home")).content.decode()
        assert theirs in html, person
        assert other not in html, person


def test_a_customers_directory_helpdesk_acts_in_that_tenant_only(world, client):
    # Hank is helpdesk by Fabrikam's own directory: Contoso's sign-ins are not his.
    hank = world["hank"]
    contoso = world["contoso_sign_in"]
    assert as_user(hank).post(reverse("helpdesk:cancel", args=[contoso.code])).status_code == 404
    headers = bearer(hank)
    assert client.get(f"/api/v1/sign-ins/{contoso.code}", headers=headers).status_code == 404
    contoso.refresh_from_db()
    assert contoso.status == SignIn.Status.PENDING


def test_a_helpdesk_grant_extends_to_that_tenant_and_the_audit_names_it(world):
    heidi = world["heidi"]
    TenantAdmin.objects.create(
        user=heidi, tenant=world["fabrikam"], role=TenantAdmin.GrantRole.HELPDESK
    )
    client = as_user(heidi)
    html = client.get(reverse("helpdesk:home")).content.decode()
    assert "carol@fabrikam.example" in html
    assert "alice@contoso.example" in html
    other = world["fabrikam_sign_in"]
    assert client.post(reverse("helpdesk:cancel", args=[other.code])).status_code == 302
    other.refresh_from_db()
    assert other.status == SignIn.Status.CANCELLED
    event = AuditEvent.objects.get(action="sign_in.cancelled")
    assert event.tenant_id == f.FABRIKAM  # the target's tenant, not Heidi's (Contoso)
    # A helpdesk grant makes no admin.
    assert client.get(reverse("console:people")).status_code == 403


def test_a_helpdesk_grant_alone_allows_helpdesk_there_only(world):
    gina = f.user("gina")  # no role of her own
    TenantAdmin.objects.create(
        user=gina, tenant=world["fabrikam"], role=TenantAdmin.GrantRole.HELPDESK
    )
    client = as_user(gina)
    html = client.get(reverse("helpdesk:home")).content.decode()
    assert "carol@fabrikam.example" in html
    assert "alice@contoso.example" not in html
    assert f'<a href="{reverse("helpdesk:home")}">Helpdesk</a>' in html  # the menu offers it
    contoso = world["contoso_sign_in"]
    assert client.get(reverse("helpdesk:sign-in", args=[contoso.code])).status_code == 404


def test_a_global_admin_sees_every_tenants_sign_ins(world):
    html = as_user(f.user("ivan", role=Role.ADMIN)).get(reverse("helpdesk:home")).content.decode()
    assert "carol@fabrikam.example" in html
    assert "alice@contoso.example" in html


@pytest.mark.django_db(transaction=True)
def test_a_granted_helpdesk_starts_a_sign_in_in_that_tenant_audited_there(sandbox):
    contoso = Tenant.objects.create(
        tenant_id=constants.TENANT_ID, domains=["contoso.example"], status="active"
    )
    fabrikam = Tenant.objects.create(
        tenant_id=constants.OTHER_TENANT_ID, domains=["fabrikam.example"], status="active"
    )
    fabrikam_consents()
    heidi = f.user("heidi", tenant=contoso.tenant_id, role=Role.HELPDESK)
    client = as_user(heidi)
    start = {"principal": "mallory@fabrikam.example", "tenant": "fabrikam.example"}
    refused = client.post(reverse("helpdesk:start"), start)
    assert refused.status_code == 404
    assert not SignIn.objects.exists()

    TenantAdmin.objects.create(user=heidi, tenant=fabrikam, role=TenantAdmin.GrantRole.HELPDESK)
    heidi = User.objects.get(pk=heidi.pk)  # a fresh request: the grant is read again
    client = as_user(heidi)
    response = client.post(reverse("helpdesk:start"), start)
    assert response.status_code == 302, response.content.decode()[:500]
    sign_in = SignIn.objects.get()
    assert sign_in.tenant == constants.OTHER_TENANT_ID
    event = AuditEvent.objects.get(action="sign_in.started")
    assert str(event.tenant_id) == constants.OTHER_TENANT_ID


@pytest.mark.django_db(transaction=True)
def test_grant_in_tenant_makes_a_tenant_grant_not_a_portal_role(sandbox):
    import io

    from django.core.management import CommandError, call_command

    Tenant.objects.create(
        tenant_id=constants.TENANT_ID, domains=["contoso.example"], status="active"
    )
    fabrikam = Tenant.objects.create(
        tenant_id=constants.OTHER_TENANT_ID, domains=["fabrikam.example"], status="active"
    )
    out = io.StringIO()
    call_command(
        "grant", "helpdesk", "grace@contoso.example", "--in-tenant", "fabrikam.example", stdout=out
    )
    grace = User.objects.get(upn="grace@contoso.example")
    assert "is now Helpdesk in fabrikam.example only" in out.getvalue()
    assert grace.role == Role.END_USER
    grant = TenantAdmin.objects.get(user=grace)
    assert (grant.tenant, grant.role) == (fabrikam, TenantAdmin.GrantRole.HELPDESK)
    event = AuditEvent.objects.get(action="role.changed")
    assert str(event.tenant_id) == constants.OTHER_TENANT_ID
    with pytest.raises(CommandError, match=r"No connected tenant is nowhere\.example"):
        call_command("grant", "helpdesk", "grace@contoso.example", "--in-tenant", "nowhere.example")
    with pytest.raises(CommandError, match="grants the admin or the helpdesk role"):
        call_command(
            "grant", "end_user", "grace@contoso.example", "--in-tenant", "fabrikam.example"
        )
    assert TenantAdmin.objects.count() == 1
