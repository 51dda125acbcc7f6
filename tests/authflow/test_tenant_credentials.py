"""Per-tenant credentials: a tenant connected with its own app registration and a
credentials reference gets its application tokens with that app's secret (the sandbox
checks it), falls back to the configured credentials when it names none, and a
reference that resolves to nothing skips the tenant with that reason — never a crash,
never the secret in a log or message."""

from __future__ import annotations

import io
import logging
import uuid

import jwt
import pytest
from django.core.management import CommandError, call_command

from authflow import flows, tenants, tokens
from authflow.models import Tenant
from sandbox import constants
from sandbox.models import Application, ServicePrincipal
from sandbox.models import Tenant as SandboxTenant
from sandbox.models.directory import hash_secret
from sandbox.seed import PORTAL_APPLICATION_ROLES

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "fabrikam-own-app-secret-0123456789"
FABRIKAM_APP = uuid.UUID("7d0c8a52-2f4e-4b8e-9c1a-5e6f7a8b9c0d")


@pytest.fixture
def fabrikam_app(sandbox, monkeypatch):
    """Fabrikam registers an app of its own (one app per tenant), with a secret, and
    grants it the portal's application permissions; the portal knows Fabrikam with that
    client id and the name of the variable holding the secret."""
    home = SandboxTenant.objects.get(id=constants.OTHER_TENANT_ID)
    app = Application.objects.create(
        client_id=FABRIKAM_APP,
        home_tenant=home,
        display_name="Lifeboat for Fabrikam",
        client_secret_hashes=[hash_secret(SECRET)],
        sign_in_audience="AzureADMyOrg",
    )
    ServicePrincipal.objects.create(
        tenant=home, application=app, graph_app_roles=PORTAL_APPLICATION_ROLES
    )
    Tenant.objects.create(tenant_id=constants.TENANT_ID, domains=["contoso.example"])
    tenant = Tenant.objects.create(
        tenant_id=constants.OTHER_TENANT_ID,
        domains=["fabrikam.example"],
        status="active",
        client_id=str(FABRIKAM_APP),
        credentials_ref="FABRIKAM_APP_SECRET",
    )
    Tenant.objects.filter(tenant_id=constants.TENANT_ID).update(status="active")
    monkeypatch.setenv("FABRIKAM_APP_SECRET", SECRET)
    flows.forget_app_only_tokens()
    yield tenant
    flows.forget_app_only_tokens()


def token_app(tenant_id: str) -> str:
    claims = jwt.decode(
        flows.app_only_token(tenant_id, force=True), options={"verify_signature": False}
    )
    return claims.get("appid") or claims.get("azp")


def test_the_tenants_own_app_and_secret_are_used_there_only(fabrikam_app):
    assert token_app(constants.OTHER_TENANT_ID) == str(FABRIKAM_APP)
    upns = {u["userPrincipalName"] for u in tokens.graph_as_app(constants.OTHER_TENANT_ID)
            .iterate("users", **{"$select": "userPrincipalName"})}  # fmt: skip
    assert "mallory@fabrikam.example" in upns
    # Contoso names the configured credentials: the configured app, as before.
    assert token_app(constants.TENANT_ID) == constants.CONFIDENTIAL_CLIENT_ID


def test_the_secret_may_come_from_a_file(fabrikam_app, monkeypatch, tmp_path):
    secret_file = tmp_path / "fabrikam-secret"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.delenv("FABRIKAM_APP_SECRET")
    monkeypatch.setenv("FABRIKAM_APP_SECRET_FILE", str(secret_file))
    assert token_app(constants.OTHER_TENANT_ID) == str(FABRIKAM_APP)


def test_a_wrong_secret_is_refused_by_the_identity_platform(fabrikam_app, monkeypatch, caplog):
    monkeypatch.setenv("FABRIKAM_APP_SECRET", "not-the-secret-at-all")
    with caplog.at_level(logging.DEBUG), pytest.raises(flows.FlowError) as refused:
        flows.app_only_token(constants.OTHER_TENANT_ID, force=True)
    assert "not-the-secret-at-all" not in str(refused.value)
    assert "not-the-secret-at-all" not in caplog.text


def test_missing_credentials_skip_the_tenant_with_that_reason(fabrikam_app, monkeypatch, caplog):
    monkeypatch.delenv("FABRIKAM_APP_SECRET")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(
            flows.FlowError, match="credentials missing: FABRIKAM_APP_SECRET not set"
        ):
            flows.app_only_token(constants.OTHER_TENANT_ID)
        assert tenants.active_ids() == [uuid.UUID(constants.TENANT_ID)]
    fabrikam_app.refresh_from_db()
    assert fabrikam_app.status_reason == "credentials missing: FABRIKAM_APP_SECRET not set"
    out = io.StringIO()
    call_command("tenant", "list", stdout=out)
    assert "(credentials missing: FABRIKAM_APP_SECRET not set)" in out.getvalue()
    assert SECRET not in caplog.text
    # Set again: backed up again, the reason gone.
    monkeypatch.setenv("FABRIKAM_APP_SECRET", SECRET)
    assert uuid.UUID(constants.OTHER_TENANT_ID) in tenants.active_ids()
    fabrikam_app.refresh_from_db()
    assert fabrikam_app.status_reason == ""


def test_add_takes_a_client_id_and_a_reference_never_a_secret(sandbox):
    with pytest.raises(CommandError, match="is not a client id"):
        call_command("tenant", "add", "fabrikam.example", "--client-id", "lifeboat")
    with pytest.raises(CommandError, match="never the secret itself"):
        call_command("tenant", "add", "fabrikam.example", "--credentials", "/etc/secret")
    assert not Tenant.objects.filter(tenant_id=constants.OTHER_TENANT_ID).exists()
    out = io.StringIO()
    call_command(
        "tenant", "add", "fabrikam.example", "--client-id", str(FABRIKAM_APP),
        "--credentials", "FABRIKAM_APP_SECRET", stdout=out,
    )  # fmt: skip
    tenant = Tenant.objects.get(tenant_id=constants.OTHER_TENANT_ID)
    assert (tenant.client_id, tenant.credentials_ref) == (str(FABRIKAM_APP), "FABRIKAM_APP_SECRET")
    assert f"client_id={FABRIKAM_APP}" in out.getvalue()  # its consent link names its app


def test_discovery_uses_the_tenants_app_and_skips_it_while_credentials_are_missing(
    fabrikam_app, monkeypatch
):
    from restore.backup import discovery
    from restore.models import ProtectedObject

    fabrikam = uuid.UUID(constants.OTHER_TENANT_ID)
    monkeypatch.delenv("FABRIKAM_APP_SECRET")
    assert set(discovery.discover_all()) == {constants.TENANT_ID}
    assert not ProtectedObject.objects.filter(tenant_id=fabrikam).exists()
    monkeypatch.setenv("FABRIKAM_APP_SECRET", SECRET)
    assert set(discovery.discover_all()) == {constants.TENANT_ID, constants.OTHER_TENANT_ID}
    found = {o.address for o in ProtectedObject.objects.filter(tenant_id=fabrikam)}
    assert "mallory@fabrikam.example" in found


def test_a_reference_ending_in_certificate_path_names_the_tenants_certificate(
    fabrikam_app, monkeypatch, tmp_path
):
    from tests.authflow.test_certificate import make_certificate

    pem = tmp_path / "fabrikam-app.pem"
    Application.objects.filter(client_id=FABRIKAM_APP).update(
        certificates=[make_certificate(pem)], client_secret_hashes=[]
    )
    Tenant.objects.filter(pk=fabrikam_app.pk).update(credentials_ref="FABRIKAM_CERTIFICATE_PATH")
    monkeypatch.setenv("FABRIKAM_CERTIFICATE_PATH", str(tmp_path / "nowhere.pem"))
    with pytest.raises(flows.FlowError, match="FABRIKAM_CERTIFICATE_PATH names no readable"):
        flows.app_only_token(constants.OTHER_TENANT_ID)
    monkeypatch.setenv("FABRIKAM_CERTIFICATE_PATH", str(pem))
    assert token_app(constants.OTHER_TENANT_ID) == str(FABRIKAM_APP)


def test_the_connect_form_takes_a_client_id_and_refuses_a_secret(sandbox):
    from django.test import Client
    from django.urls import reverse

    from authflow.models import Role, User

    admin = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    refused = client.post(
        reverse("console:tenant-add"),
        {"tenant": "fabrikam.example", "credentials_ref": "hunter2 secret!"},
        follow=True,
    )
    assert "never the secret itself" in refused.content.decode()
    assert "hunter2" not in refused.content.decode()
    assert not Tenant.objects.filter(tenant_id=constants.OTHER_TENANT_ID).exists()
    client.post(
        reverse("console:tenant-add"),
        {
            "tenant": "fabrikam.example",
            "client_id": str(FABRIKAM_APP),
            "credentials_ref": "FABRIKAM_APP_SECRET",
        },
    )
    tenant = Tenant.objects.get(tenant_id=constants.OTHER_TENANT_ID)
    assert (tenant.client_id, tenant.credentials_ref) == (str(FABRIKAM_APP), "FABRIKAM_APP_SECRET")
