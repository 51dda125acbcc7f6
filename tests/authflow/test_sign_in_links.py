"""Sign-in links from the helpdesk: one-time, 15 minutes, only a hash stored, bound to the
expected account. Browser journeys are in test_sign_in_links_browser.py; these drive the
portal over HTTP (the sandbox's pages without JavaScript)."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from authflow import links, signins
from authflow.models import Role, SignIn, TokenCache, User
from portal.models import AuditEvent
from tests.sandbox.pages import forms_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heidi(sandbox, client) -> User:
    user = User.objects.create(
        username="helpdesk.heidi", upn="heidi@contoso.example", role=Role.HELPDESK
    )
    client.force_login(user)
    return user


def new_link(client, principal: str = "alice@contoso.example") -> str:
    answer = client.post("/helpdesk/sign-ins", {"principal": principal, "method": "link"})
    assert answer.status_code == 201, answer.content.decode()[:500]
    found = re.search(r'data-testid="sign-in-link">([^<]+)<', answer.content.decode())
    assert found
    return found[1]


def secret_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["key"][0]


def press_continue(browser: requests.Session, url: str) -> requests.Response:
    page = browser.get(url, timeout=10)
    [form] = [f for f in forms_of(page.text) if "csrfmiddlewaretoken" in f["fields"]]
    return browser.post(
        url, data=form["fields"], headers={"Referer": url}, allow_redirects=False, timeout=10
    )


def test_a_link_is_stored_only_as_a_hash_and_bound_to_the_expected_account(
    sandbox, heidi, client, caplog
):
    url = new_link(client)
    assert requests.Session().get(url, timeout=10).status_code == 200

    sign_in = SignIn.objects.get()
    secret = secret_of(url)
    assert sign_in.method == SignIn.Method.LINK
    assert sign_in.link_hash == signins.binding_hash(secret)
    assert secret not in json.dumps(list(SignIn.objects.values()), default=str)
    assert sign_in.expected_identity == f"{sandbox.user('alice').id}.{sandbox.tenant_id}"
    assert sign_in.expires_at - sign_in.created_at == links.LINK_LIFETIME
    assert AuditEvent.objects.filter(action="sign_in.started", details__method="link").exists()
    # Later, the operator sees the sign-in but never the link again.
    detail = client.get(f"/helpdesk/sign-ins/{sign_in.code}").content.decode()
    assert secret not in detail
    assert "Waiting for the sign-in" in detail
    assert secret not in caplog.text  # the access log writes paths, never the query


def test_opening_a_link_only_shows_it_and_continuing_names_the_account(
    sandbox, heidi, client, live_server
):
    url = new_link(client)
    browser = requests.Session()

    for _ in range(2):  # a mail scanner's or link preview's GET changes nothing
        page = browser.get(url, timeout=10)
        assert page.status_code == 200
        assert "alice@contoso.example" in page.text
    assert SignIn.objects.get().link_opened_at is None
    answer = press_continue(browser, url)

    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["login_hint"] == ["alice@contoso.example"]
    assert query["domain_hint"] == ["contoso.example"]
    assert query["code_challenge_method"] == ["S256"]
    assert SignIn.objects.get().link_opened_at is not None


def test_a_link_works_once(sandbox, heidi, client):
    url = new_link(client)
    assert press_continue(requests.Session(), url).status_code == 302

    again = requests.Session().get(url, timeout=10)
    assert again.status_code == 410
    assert "already used" in again.text
    assert requests.Session().post(url, timeout=10).status_code in (403, 410)  # no CSRF either


def test_an_expired_link_is_refused_and_shown_expired(sandbox, heidi, client):
    url = new_link(client)
    SignIn.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    page = requests.Session().get(url, timeout=10)

    assert page.status_code == 410
    assert "expired" in page.text
    sign_in = SignIn.objects.get()
    assert sign_in.status == SignIn.Status.EXPIRED
    assert AuditEvent.objects.filter(action="sign_in.expired", target=str(sign_in.code)).exists()
    assert not TokenCache.objects.exists()


def test_an_unknown_link_is_refused(sandbox, client, db):
    page = requests.Session().get(f"{links.link_url('not-a-real-secret')}", timeout=10)
    assert page.status_code == 410
    assert "not valid" in page.text


def sandbox_portal_url() -> str:
    from django.conf import settings

    return settings.PORTAL_URL


def test_manage_py_login_link_prints_a_link(sandbox):
    out = io.StringIO()
    call_command("login", "alice@contoso.example", "--link", "--json", stdout=out)

    printed = json.loads(out.getvalue())
    sign_in = SignIn.objects.get()
    assert printed["link"].startswith(f"{sandbox_portal_url()}/auth/link?key=")
    assert sign_in.link_hash == signins.binding_hash(secret_of(printed["link"]))
    assert sign_in.method == SignIn.Method.LINK
    assert sign_in.expected_label == "alice@contoso.example"
