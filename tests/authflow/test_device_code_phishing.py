"""Device-code phishing (Storm-2372; RFC 8628 §5.4) yields nothing with production's
defaults: "Sign in with a code" for oneself is off unless an admin turns it on (and then
maybe only for some networks); where it is on, the page warns, and the person sees every
sign-in by code afterwards."""

from __future__ import annotations

import ipaddress

import pytest

from authflow.models import SignIn, User
from portal.models import AuditEvent
from tests.authflow.test_device_sign_in import start, wait_until_final


@pytest.fixture
def production_defaults(settings):
    settings.SELF_DEVICE_CODE_SIGN_IN = False  # production's default
    settings.SELF_DEVICE_CODE_NETWORKS = []


def test_the_phishing_script_gets_no_code_no_session_and_stores_nothing(
    sandbox, production_defaults, client
):
    # The attacker, not signed in, asks for a code to send to a colleague.
    page = client.get("/auth/sign-in").content.decode()
    assert 'data-testid="sign-in-code"' not in page
    answer = client.post("/auth/sign-in/code", {"next": "/backups/"})
    assert answer.status_code == 403
    assert "Sign in with Microsoft" in answer.content.decode()
    assert not SignIn.objects.exists()
    assert not User.objects.exists()
    assert client.get("/backups/").status_code == 302  # still signed out
    assert not AuditEvent.objects.filter(action="sign_in.started").exists()


def test_limited_to_networks_the_browser_is_not_in(sandbox, settings, client):
    settings.SELF_DEVICE_CODE_SIGN_IN = True
    settings.SELF_DEVICE_CODE_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.post("/auth/sign-in/code", {}).status_code == 403  # from 127.0.0.1
    settings.SELF_DEVICE_CODE_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    assert client.post("/auth/sign-in/code", {}).status_code == 302
    assert SignIn.objects.count() == 1


def test_where_it_is_on_the_page_warns_and_the_person_sees_it_afterwards(
    sandbox, settings, celery_worker, client
):
    settings.SELF_DEVICE_CODE_SIGN_IN = True
    settings.MICROSOFT_APP_NAME = "Contoso Restore"
    sandbox.policy(device_code_interval=1)
    page_url = start(client)
    page = client.get(page_url).content.decode()
    assert "Only enter a code you started in this browser" in page
    assert "<strong>Contoso Restore</strong>" in page

    sandbox.approve(SignIn.objects.get().user_code, "alice")
    assert wait_until_final().status == "completed"
    client.get(page_url)  # this browser is signed in now
    profile = client.get("/auth/profile").content.decode()
    assert 'data-testid="sign-ins-by-code"' in profile
    assert "127.0.0.1" in profile
    assert "sign-out-everywhere" in profile
