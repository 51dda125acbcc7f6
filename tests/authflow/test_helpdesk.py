"""Helpdesk sign-ins on behalf of a user or a group: the right account completes them,
any other account is refused and its tokens are never kept."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from authflow import poller, tokens
from authflow.models import Role, SignIn, TokenCache, User
from portal.models import AuditEvent


@pytest.fixture
def heidi(sandbox, client) -> User:
    sandbox.policy(device_code_interval=1)
    user = User.objects.create(
        username="helpdesk.heidi", upn="heidi@contoso.example", role=Role.HELPDESK
    )
    client.force_login(user)
    return user


def start_for(client, principal: str, **extra):
    response = client.post(reverse("helpdesk:start"), {"principal": principal, **extra})
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def finish(sandbox, alias: str) -> SignIn:
    sign_in = SignIn.objects.order_by("-created_at").first()
    sandbox.approve(sign_in.user_code, alias)
    for _ in range(10):
        poller.run(max_seconds=1.5, threads=2)
        sign_in.refresh_from_db()
        if sign_in.is_final:
            break
    return sign_in


def test_a_sign_in_for_a_user_completed_by_that_user(sandbox, heidi, client):
    page_url = start_for(client, "alice@contoso.example")
    page = client.get(page_url).content.decode()
    sign_in = SignIn.objects.get()
    assert f"enter the code {sign_in.user_code} — sign in as alice@contoso.example" in page
    assert sign_in.tenant == sandbox.tenant_id
    assert sign_in.expected_identity == f"{sandbox.user('alice').id}.{sandbox.tenant_id}"

    assert finish(sandbox, "alice").status == SignIn.Status.COMPLETED
    row = TokenCache.objects.get(user__username=sign_in.expected_identity)
    assert row.started_by == heidi
    assert (
        "Signed in as <strong>alice@contoso.example</strong>"
        in client.get(page_url).content.decode()
    )


def test_a_sign_in_completed_by_the_wrong_account_keeps_nothing(sandbox, heidi, client):
    page_url = start_for(client, "alice@contoso.example")

    sign_in = finish(sandbox, "bob")

    assert sign_in.status == SignIn.Status.WRONG_ACCOUNT
    assert sign_in.actual_label == "bob@contoso.example"
    assert not TokenCache.objects.exists()
    assert not User.objects.filter(upn="bob@contoso.example").exists()
    html = client.get(page_url).content.decode()
    assert "bob@contoso.example signed in, but this sign-in was for alice@contoso.example" in html
    event = AuditEvent.objects.get(action="sign_in.wrong_account")
    assert event.actor_label == "heidi@contoso.example"
    assert event.outcome == "denied"


def test_a_group_sign_in_is_completed_by_any_owner(sandbox, heidi, client):
    page_url = start_for(client, "Dev/Team/1")
    page = client.get(page_url).content.decode()
    assert "Owners found: carol@contoso.example; erin@contoso.example" in page
    assert "sign in as an owner of Dev/Team/1" in page

    sign_in = finish(sandbox, "erin")

    assert sign_in.status == SignIn.Status.COMPLETED
    assert TokenCache.objects.get().user.upn == "erin@contoso.example"


def test_a_group_member_who_is_not_an_owner_is_the_wrong_account(sandbox, heidi, client):
    start_for(client, "Dev/Team/1")

    sign_in = finish(sandbox, "dave")

    assert sign_in.status == SignIn.Status.WRONG_ACCOUNT
    assert "is not an owner of Dev/Team/1" in sign_in.message
    assert not TokenCache.objects.exists()


def test_existing_tokens_are_reported_instead_of_a_new_sign_in(sandbox, heidi, client):
    start_for(client, "alice@contoso.example")
    finish(sandbox, "alice")

    again = client.post(reverse("helpdesk:start"), {"principal": "alice@contoso.example"})
    assert again.status_code == 200
    assert (
        "We have a valid token from <strong>alice@contoso.example</strong>"
        in again.content.decode()
    )
    assert SignIn.objects.count() == 1

    start_for(client, "alice@contoso.example", force="1")
    assert SignIn.objects.count() == 2


@pytest.mark.parametrize(
    ("principal", "message"),
    [
        ("nobody@contoso.example", "There is no user nobody@contoso.example"),
        ("No Such Group", "There is no user, group or site called 'No Such Group'"),
        ("", "Name a user (UPN), a group or a site."),
    ],
)
def test_unknown_principals_get_a_clear_message(sandbox, heidi, client, principal, message):
    response = client.post(reverse("helpdesk:start"), {"principal": principal})
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not SignIn.objects.exists()


def test_revoking_makes_later_token_use_need_a_sign_in(sandbox, heidi, client):
    start_for(client, "alice@contoso.example")
    alice = finish(sandbox, "alice").result_user
    admin = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    client.force_login(admin)

    client.post(reverse("console:revoke", args=[alice.identity]))

    with pytest.raises(tokens.SignInRequired):
        tokens.access_token(alice, ["Mail.ReadWrite"])
    listing = client.get(reverse("console:logged-in-users")).content.decode()
    assert "Revoked" in listing
    assert AuditEvent.objects.filter(action="token.revoked", on_behalf_of=alice.identity).exists()


def test_re_login_starts_a_helpdesk_sign_in_for_that_identity(sandbox, heidi, client):
    start_for(client, "alice@contoso.example")
    alice = finish(sandbox, "alice").result_user
    admin = User.objects.create(username="admin.ivan", upn="ivan@contoso.example", role=Role.ADMIN)
    client.force_login(admin)

    response = client.post(reverse("console:re-login", args=[alice.identity]))

    newest = SignIn.objects.order_by("-created_at").first()
    assert response["Location"] == reverse("helpdesk:sign-in", args=[newest.code])
    assert newest.expected_identity == alice.identity
    assert newest.started_by == admin
