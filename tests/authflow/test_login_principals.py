"""`manage.py login` for a group or a site (its owners sign in), `--tenant`, and the
same principals over `POST /api/v1/sign-ins`; `logged_users --tenant`."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from authflow import poller
from authflow.models import SignIn, Tenant, TokenCache
from sandbox import constants
from sandbox.models import Group, ServicePrincipal
from sandbox.seed import PORTAL_APPLICATION_ROLES, PORTAL_DELEGATED_SCOPES

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def fabrikam_consents() -> None:
    """Fabrikam's admin consents for the portal (as Connect a tenant has them do)."""
    ServicePrincipal.objects.filter(tenant_id=constants.OTHER_TENANT_ID).update(
        graph_app_roles=PORTAL_APPLICATION_ROLES, admin_consented_scopes=PORTAL_DELEGATED_SCOPES
    )


def finish(sandbox, alias: str) -> SignIn:
    sign_in = SignIn.objects.order_by("-created_at").first()
    sandbox.approve(sign_in.user_code, alias)
    for _ in range(10):
        poller.run(max_seconds=1.5, threads=2)
        sign_in.refresh_from_db()
        if sign_in.is_final:
            break
    return sign_in


def test_login_for_a_group_names_its_owners_and_an_owner_completes_it(sandbox):
    out = run("login", "Dev/Team/1")
    sign_in = SignIn.objects.get()
    lines = out.splitlines()
    assert (
        lines[0]
        == "We don't have a valid token for any group owner of Dev/Team/1. It's needed to sign in."
    )
    assert f"enter the code {sign_in.user_code} to authenticate" in lines[1]
    assert lines[1].endswith("Please do it with some owner of the group Dev/Team/1.")
    assert lines[2] == "Owners found: carol@contoso.example;erin@contoso.example"
    assert sign_in.expected_group_id == str(Group.objects.get(display_name="Dev/Team/1").id)

    assert finish(sandbox, "carol").status == SignIn.Status.COMPLETED
    assert TokenCache.objects.get().user.upn == "carol@contoso.example"

    again = run("login", "Dev/Team/1")
    assert "We have a valid token got from account: carol@contoso.example" in again
    assert "It will be automatically refreshed when needed" in again
    assert "around carol@contoso.example won't ask for intervention" in again
    assert SignIn.objects.count() == 1  # nothing new started


def test_login_for_a_group_completed_by_a_member_who_is_no_owner_is_refused(sandbox):
    run("login", "Dev/Team/1")
    sign_in = finish(sandbox, "dave")
    assert sign_in.status == SignIn.Status.WRONG_ACCOUNT
    assert "is not an owner of Dev/Team/1" in sign_in.message
    assert not TokenCache.objects.exists()


def test_login_for_a_site_by_url_and_by_name_asks_its_groups_owners(sandbox):
    out = run("login", "https://contoso.sharepoint.com/sites/dev-team-1")
    assert "any site owner of Dev/Team/1" in out
    assert "Owners found: carol@contoso.example;erin@contoso.example" in out
    sign_in = SignIn.objects.get()
    assert finish(sandbox, "erin").status == SignIn.Status.COMPLETED
    assert sign_in.expected_group_id == str(Group.objects.get(display_name="Dev/Team/1").id)

    by_name = json.loads(run("login", "All Staff", "--json"))
    assert by_name["status"] == "pending"


@pytest.mark.parametrize(
    ("principal", "message"),
    [
        ("Nothing Like This", "There is no user, group or site called 'Nothing Like This'"),
        ("https://contoso.sharepoint.com/sites/nope", r"There is no site https://contoso\."),
        ("nobody@contoso.example", r"There is no user nobody@contoso\.example"),
    ],
)
def test_login_for_what_matches_nothing_says_so_and_starts_nothing(sandbox, principal, message):
    with pytest.raises(CommandError, match=message):
        run("login", principal)
    assert not SignIn.objects.exists()


def test_login_for_a_name_several_groups_have_lists_them(sandbox):
    first = Group.objects.get(display_name="Dev/Team/1")
    twin = Group.objects.create(
        tenant_id=first.tenant_id, display_name="Dev/Team/1", mail_nickname="dev-team-1b"
    )
    with pytest.raises(CommandError) as failure:
        run("login", "Dev/Team/1")
    assert "2 groups are called 'Dev/Team/1'" in str(failure.value)
    assert str(first.id) in str(failure.value)
    assert str(twin.id) in str(failure.value)
    assert not SignIn.objects.exists()


def test_login_in_another_tenant_and_an_unknown_tenant(sandbox):
    Tenant.objects.create(
        tenant_id=constants.TENANT_ID, domains=["contoso.example"], status="active"
    )
    Tenant.objects.create(
        tenant_id=constants.OTHER_TENANT_ID, domains=["fabrikam.example"], status="active"
    )
    fabrikam_consents()
    run("login", "mallory@fabrikam.example", "--tenant", "fabrikam.example")
    sign_in = SignIn.objects.get()
    assert sign_in.tenant == constants.OTHER_TENANT_ID
    with pytest.raises(CommandError, match=r"There is no user alice@contoso\.example"):
        run("login", "alice@contoso.example", "--tenant", "fabrikam.example")
    with pytest.raises(CommandError, match=r"No connected tenant is nowhere\.example"):
        run("login", "alice@contoso.example", "--tenant", "nowhere.example")
    assert SignIn.objects.count() == 1


def test_logged_users_per_tenant(sandbox):
    Tenant.objects.create(
        tenant_id=constants.TENANT_ID, domains=["contoso.example"], status="active"
    )
    Tenant.objects.create(
        tenant_id=constants.OTHER_TENANT_ID, domains=["fabrikam.example"], status="active"
    )
    fabrikam_consents()
    run("login", "alice@contoso.example")
    finish(sandbox, "alice")
    run("login", "mallory@fabrikam.example", "--tenant", constants.OTHER_TENANT_ID)
    mallory = finish(sandbox, "mallory")
    assert mallory.status == SignIn.Status.COMPLETED, mallory.message
    everyone = run("logged_users")
    assert f"tenant={constants.TENANT_ID}" in everyone
    assert f"tenant={constants.OTHER_TENANT_ID}" in everyone
    fabrikam = run("logged_users", "--tenant", "fabrikam.example")
    assert "mallory@fabrikam.example" in fabrikam
    assert "alice@contoso.example" not in fabrikam
