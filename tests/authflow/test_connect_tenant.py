"""Connect a tenant: `manage.py tenant add|verify|list|remove`, Entra's admin consent as
the sandbox emulates it, and Verify reading what the tenant granted through Graph."""

from __future__ import annotations

import io
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from authflow import tenants
from authflow.models import Role, Tenant
from portal.models import AuditEvent
from restore.models import ProtectedObject, RestoreJob
from sandbox import constants
from sandbox.models import ServicePrincipal
from tests.restore import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

FABRIKAM = uuid.UUID(constants.OTHER_TENANT_ID)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("tenant", *args, stdout=out)
    return out.getvalue()


def fabrikam_sp() -> ServicePrincipal:
    return ServicePrincipal.objects.get(
        tenant_id=FABRIKAM, application__client_id=constants.CONFIDENTIAL_CLIENT_ID
    )


def consent(consent_url: str, alias: str, password: str, decision: str = "accept") -> dict:
    """The tenant's admin at Entra's admin consent page: the query of the redirect."""
    browser = Client()
    parts = urlsplit(consent_url)
    page = browser.get(parts.path, parse_qs(parts.query))
    assert page.status_code == 200, page.content
    state = page.context["state"]
    answer = browser.post(
        parts.path,
        {
            "state": state,
            "username": f"{alias}@fabrikam.example",
            "password": password,
            "decision": decision,
        },
    )
    assert answer.status_code == 302, answer.content
    location = urlsplit(answer["Location"])
    assert location.path == "/admin/tenants/consent"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def test_add_shows_the_admin_consent_url_and_writes_a_pending_tenant(sandbox, settings):
    out = run("add", "fabrikam.example", "--name", "Fabrikam")
    tenant = Tenant.objects.get(tenant_id=FABRIKAM)
    assert tenant.status == Tenant.Status.PENDING
    assert tenant.domains == ["fabrikam.example"]
    assert tenant.credentials_ref == "MICROSOFT_CLIENT_SECRET"
    url = next(line for line in out.splitlines() if "adminconsent" in line)
    parts = urlsplit(url)
    assert parts.path.endswith(f"/login/{FABRIKAM}/v2.0/adminconsent")
    query = parse_qs(parts.query)
    assert query["client_id"] == [settings.MICROSOFT_CLIENT_ID]
    assert query["scope"] == [f"{settings.MICROSOFT_GRAPH_RESOURCE}/.default"]
    assert query["redirect_uri"] == [f"{settings.PORTAL_URL}/admin/tenants/consent"]
    assert AuditEvent.objects.get(action="tenant.added").tenant_id == FABRIKAM


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("nowhere.example", "Microsoft knows no organisation with the domain nowhere.example"),
        ("12345", "'12345' is not a tenant id"),
        (str(uuid.uuid4()), "Microsoft knows no organisation with the tenant id"),
    ],
)
def test_add_refuses_bad_input_and_writes_nothing(sandbox, typed, message):
    with pytest.raises(CommandError, match=message):
        run("add", typed)
    assert not Tenant.objects.exists()
    assert not AuditEvent.objects.filter(action="tenant.added").exists()


def test_add_refuses_a_tenant_already_connected_and_a_secret_as_credentials(sandbox):
    run("add", constants.OTHER_TENANT_ID)
    with pytest.raises(CommandError, match="is already connected"):
        run("add", "fabrikam.example")
    with pytest.raises(CommandError, match="never the secret itself"):
        run("add", constants.TENANT_ID, "--credentials", "s3cr3t value!")
    assert Tenant.objects.filter(tenant_id=FABRIKAM).count() == 1


def test_consent_then_verify_works_and_a_withheld_permission_blocks_that_workload(sandbox):
    out = run("add", "fabrikam.example")
    url = next(line for line in out.splitlines() if "adminconsent" in line)
    assert fabrikam_sp().graph_app_roles == []  # no application permission before consent

    # Before consent: Verify names what discovery lacks and exits non-zero.
    with pytest.raises(CommandError, match="directory \\(tenant\\) discover needs"):
        run("verify", "fabrikam.example")
    assert Tenant.objects.get(tenant_id=FABRIKAM).status == Tenant.Status.CONSENT_MISSING

    answer = consent(url, "trent", sandbox.password("trent"))
    assert answer["admin_consent"] == "True"
    assert answer["tenant"] == constants.OTHER_TENANT_ID
    assert answer["state"] == "cli"
    assert "Mail.ReadWrite" in fabrikam_sp().graph_app_roles

    out = run("verify", "fabrikam.example")
    assert "every enabled workload works" in out
    assert "mail (user) backup" in out
    tenant = Tenant.objects.get(tenant_id=FABRIKAM)
    assert tenant.status == Tenant.Status.ACTIVE
    assert "fabrikam.example" in tenant.domains

    # The tenant's admin takes one application permission back.
    sp = fabrikam_sp()
    sp.graph_app_roles = [r for r in sp.graph_app_roles if r != "Files.ReadWrite.All"]
    sp.save()
    with pytest.raises(CommandError) as failure:
        run("verify", constants.OTHER_TENANT_ID)
    assert "onedrive (user) backup needs Files.Read.All" in str(failure.value)
    assert "mail (user) backup" not in str(failure.value)
    checks = {
        (c["workload"], c["entity"], c["operation"]): c
        for c in Tenant.objects.get(tenant_id=FABRIKAM).verification["results"]
    }
    assert checks[("onedrive", "user", "backup")]["missing"] == ["Files.Read.All"]
    assert checks[("mail", "user", "backup")]["status"] == "works"
    assert checks[("calendar", "user", "backup")]["status"] == "works"  # enabled since issue 18
    assert checks[("chats", "user", "backup")]["status"] == "not_enabled"
    # Discovery still works: the tenant stays active, only OneDrive is blocked.
    assert Tenant.objects.get(tenant_id=FABRIKAM).status == Tenant.Status.ACTIVE


def test_consent_refused_by_the_admin_or_asked_of_a_non_admin(sandbox):
    out = run("add", "fabrikam.example")
    url = next(line for line in out.splitlines() if "adminconsent" in line)
    declined = consent(url, "trent", sandbox.password("trent"), decision="cancel")
    assert declined["error"] == "access_denied"
    assert declined["error_description"].startswith("AADSTS65004")
    not_admin = consent(url, "mallory", sandbox.password("mallory"))
    assert not_admin["error"] == "access_denied"
    assert not_admin["error_description"].startswith("AADSTS90094")
    assert fabrikam_sp().graph_app_roles == []


def test_the_console_connects_shows_the_consent_url_and_takes_the_answer(sandbox):
    admin = f.user("ivan", role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    response = client.post(reverse("console:tenant-add"), {"tenant": "fabrikam.example"})
    assert response.status_code == 302
    page = client.get(response["Location"])
    url = page.context["consent_url"]
    state = parse_qs(urlsplit(url).query)["state"][0]

    refused = client.get(
        reverse("console:tenant-consent"),
        {"error": "access_denied", "error_description": "AADSTS65004: declined", "state": state},
        follow=True,
    )
    assert "did not consent: AADSTS65004: declined" in refused.content.decode()
    assert AuditEvent.objects.filter(action="tenant.consent", outcome="failure").exists()

    page = client.get(reverse("console:tenant", args=[FABRIKAM]))
    url = page.context["consent_url"]
    answer = consent(url, "trent", sandbox.password("trent"))
    done = client.get(reverse("console:tenant-consent"), answer, follow=True)
    html = done.content.decode()
    assert "Verified: every enabled workload works." in html
    assert 'data-status="works"' in html
    assert Tenant.objects.get(tenant_id=FABRIKAM).status == Tenant.Status.ACTIVE

    # An answer not asked for in this browser is refused.
    again = client.get(reverse("console:tenant-consent"), answer, follow=True)
    assert "was not asked for here" in again.content.decode()


def test_remove_is_refused_while_restore_jobs_run_unless_cancelled(sandbox):
    run("add", "fabrikam.example")
    carol = f.user("carol", tenant=FABRIKAM)
    obj = f.protected_object(carol)
    point = f.point(obj, 1)
    job = RestoreJob.objects.create(
        user=carol, object=obj, restore_point=point, target="original", status="running"
    )
    with pytest.raises(CommandError, match=r"1 restore job\(s\) of fabrikam.example"):
        run("remove", "fabrikam.example")
    assert Tenant.objects.filter(tenant_id=FABRIKAM).exists()
    assert ProtectedObject.objects.get(pk=obj.pk).enabled

    out = run("remove", "fabrikam.example", "--cancel-jobs")
    assert "1 restore job(s) cancelled" in out
    assert not Tenant.objects.filter(tenant_id=FABRIKAM).exists()
    assert not ProtectedObject.objects.get(pk=obj.pk).enabled
    assert RestoreJob.objects.get(pk=job.pk).cancel_requested
    with pytest.raises(CommandError, match=r"No connected tenant is fabrikam\.example"):
        run("remove", "fabrikam.example")


def test_list_shows_every_tenant_with_its_status(sandbox, settings):
    settings.MICROSOFT_TENANT_ID = constants.TENANT_ID
    run("add", "fabrikam.example")
    out = run("list").splitlines()
    # The configured tenant stays the first one (an install upgraded, then a second added).
    assert out[0].startswith(f"{constants.TENANT_ID}  Active")
    assert out[1].startswith(f"{FABRIKAM}  Waiting for admin consent")
    assert tenants.all_tenants().count() == 2


def test_a_tenant_of_another_cloud_is_refused_naming_both_clouds(sandbox):
    # Northwind lives in the US Government cloud: Entra's discovery document says so.
    sandbox.policy(cloud_instance_names={constants.THIRD_TENANT_ID: "microsoftonline.us"})
    for typed in (constants.THIRD_TENANT_DOMAIN, constants.THIRD_TENANT_ID):
        with pytest.raises(CommandError) as refused:
            run("add", typed)
        message = str(refused.value)
        assert "is in another Microsoft cloud" in message
        assert "cloud_instance_name microsoftonline.us" in message
        assert "configured for MICROSOFT_CLOUD=global (microsoftonline.com)" in message
        assert "MICROSOFT_CLOUD=usgov or usgov-dod" in message
    assert not Tenant.objects.filter(tenant_id=constants.THIRD_TENANT_ID).exists()
    # Fabrikam, in the configured cloud, is connected as before.
    run("add", "fabrikam.example")
    assert Tenant.objects.filter(tenant_id=FABRIKAM).exists()
