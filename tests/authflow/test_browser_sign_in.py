"""Sign in with Microsoft in the browser: authorization code + PKCE through msal."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
import requests

from authflow.models import TokenCache, User
from portal.models import AuditEvent
from sandbox.models import ServicePrincipal
from tests.sandbox.pages import forms_of, sign_in_through_authorize, submit


def start(live_server, session: requests.Session, next_url="/auth/profile") -> requests.Response:
    response = session.get(
        f"{live_server.url}/auth/sign-in/microsoft",
        params={"next": next_url},
        allow_redirects=False,
    )
    assert response.status_code == 302
    return response


def post_back(session: requests.Session, form_post_page: requests.Response, **override):
    """What the sandbox's form_post page makes the browser do: post to the redirect URI."""
    [form] = forms_of(form_post_page.text)
    fields = {**form["fields"], **override}
    return session.post(urljoin(form_post_page.url, form["action"]), data=fields, timeout=10)


def authorize_as(sandbox, live_server, alias: str, browser: requests.Session | None = None):
    """Start a browser sign-in and sign in at Microsoft (the sandbox) as `alias`.

    Returns (browser session, the sandbox's form_post page that would post back)."""
    browser = browser or requests.Session()
    authorize = start(live_server, browser)
    page = sign_in_through_authorize(
        authorize.headers["Location"], sandbox.upn(alias), sandbox.password(alias), session=browser
    )
    return browser, page


def test_browser_sign_in_happy_path(sandbox, live_server):
    browser = requests.Session()
    authorize = start(live_server, browser)
    assert "code_challenge_method=S256" in authorize.headers["Location"]
    assert "response_mode=form_post" in authorize.headers["Location"]

    page = sign_in_through_authorize(
        authorize.headers["Location"],
        sandbox.upn("alice"),
        sandbox.password("alice"),
        session=browser,
    )
    landed = post_back(browser, page)

    assert landed.url == f"{live_server.url}/auth/profile"
    alice = sandbox.user("alice")
    assert f"{alice.id}.{sandbox.tenant_id}" in landed.text
    user = User.objects.get()
    assert TokenCache.objects.get(user=user).method == "browser"
    assert AuditEvent.objects.filter(action="sign_in.completed").count() == 1


def test_tampered_state_is_refused(sandbox, live_server):
    browser, page = authorize_as(sandbox, live_server, "alice")
    landed = post_back(browser, page, state="forged-state")

    assert landed.status_code == 400
    assert "does not match the sign-in this browser started (state)" in landed.text
    assert not User.objects.exists()
    assert AuditEvent.objects.filter(action="sign_in.failed", outcome="denied").exists()


def test_an_answer_for_another_browser_is_refused(sandbox, live_server):
    victim = requests.Session()
    start(live_server, victim)
    _, page = authorize_as(sandbox, live_server, "bob")
    # The attacker makes the victim's browser post the attacker's code and state.
    landed = post_back(victim, page)

    assert landed.status_code == 400
    assert not User.objects.exists()


def test_nonce_mismatch_is_refused(sandbox, live_server):
    sandbox.policy(tamper_id_token_nonce=True)
    browser, page = authorize_as(sandbox, live_server, "alice")
    landed = post_back(browser, page)

    assert landed.status_code == 400
    assert "(nonce)" in landed.text
    assert not User.objects.exists()


def test_a_redirect_uri_microsoft_does_not_know_stops_at_microsoft(sandbox, live_server, settings):
    settings.PORTAL_URL = "http://portal.invalid:8000"
    browser = requests.Session()
    authorize = start(live_server, browser)
    page = browser.get(authorize.headers["Location"], timeout=10)

    assert page.status_code == 400
    assert "AADSTS50011" in page.text
    assert not User.objects.exists()


def test_cancelling_consent_comes_back_as_a_clear_message(sandbox, live_server):
    # Without tenant-wide consent for mail and files, the sandbox asks the person. What only
    # an admin may consent to (the group scopes of delegated backups) stays consented, or
    # the person would get "Need admin approval" instead of a consent page.
    ServicePrincipal.objects.update(
        admin_consented_scopes=[
            "User.Read",
            "GroupMember.Read.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
        ]
    )
    browser = requests.Session()
    authorize = start(live_server, browser)
    page = browser.get(authorize.headers["Location"], timeout=10)
    consent = submit(
        browser, page, username=sandbox.upn("alice"), password=sandbox.password("alice")
    )
    assert 'value="consent"' in consent.text
    cancelled = submit(browser, consent, decision="cancel")
    landed = post_back(browser, cancelled)

    assert landed.status_code == 400
    assert "cancelled or refused" in landed.text


@pytest.mark.parametrize("path", ["/auth/callback?handle=nope", "/auth/callback"])
def test_a_callback_without_a_parked_answer_is_refused(client, db, path):
    response = client.get(path)
    assert response.status_code == 400
    assert "expired or was already used" in response.content.decode()


def test_sign_out(sandbox, live_server):
    browser, page = authorize_as(sandbox, live_server, "alice")
    landed = post_back(browser, page)
    [sign_out_form] = [f for f in forms_of(landed.text) if f["action"] == "/auth/sign-out"]
    browser.post(
        f"{live_server.url}/auth/sign-out",
        data=sign_out_form["fields"],
        headers={"Referer": landed.url},
        timeout=10,
    )
    assert (
        browser.get(
            f"{live_server.url}/auth/profile", allow_redirects=False, timeout=10
        ).status_code
        == 302
    )
