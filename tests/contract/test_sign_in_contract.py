"""The portal's sign-in code paths against oidc-provider (see conftest.py): device code
through the real poller in a Celery worker, browser auth code + PKCE in Chromium, silent
refresh, and the REST API's operator grant."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from authflow import encryption, tokens
from authflow.models import SignIn, TokenCache, User
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("contract_worker")]


def start(client) -> SignIn:
    response = client.post("/auth/sign-in/code", {"next": "/auth/profile"})
    assert response.status_code == 302, response.content.decode()[-600:]
    return SignIn.objects.latest("id")


def final(sign_in: SignIn, timeout: float = 60) -> SignIn:
    def ended():
        sign_in.refresh_from_db()
        return sign_in if sign_in.status != SignIn.Status.PENDING else None

    return wait_for(ended, timeout=timeout, message=f"{sign_in} never ended")


def provider_page(browser):
    # The browser is not the party under test: the portal verifies TLS with
    # MICROSOFT_CA_BUNDLE; Chromium simply accepts the throwaway certificate.
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(15_000)
    return context, context.new_page()


def sign_in_on_provider(page, alias: str) -> None:
    """oidc-provider's own login and consent pages."""
    page.fill('input[name="login"]', alias)
    page.fill('input[name="password"]', "any")
    page.locator('button[type="submit"]').first.click()
    page.locator("button[autofocus]").first.click()  # consent: Continue


def enter_code(browser, verification_uri: str, user_code: str, alias: str, *, abort=False):
    context, page = provider_page(browser)
    try:
        page.goto(verification_uri)
        page.fill('input[name="user_code"]', user_code)
        page.locator('button[type="submit"]').first.click()
        if abort:
            page.locator('button[name="abort"]').click()
        else:
            page.locator("button[autofocus]").click()
            sign_in_on_provider(page, alias)
        page.wait_for_load_state()
    finally:
        context.close()


def polls_of(contract, outcome: str | None = None, sign_in: SignIn | None = None) -> list[dict]:
    """The provider's poll log, of one sign-in's device code if given."""
    device = None
    if sign_in is not None:
        flow = json.loads(encryption.decrypt(SignIn.objects.get(pk=sign_in.pk).flow_ciphertext))
        device = hashlib.sha256(flow["device_code"].encode()).hexdigest()[:16]
    return [
        p
        for p in contract.provider.polls()
        if (outcome is None or p["outcome"] == outcome)
        and (device is None or p["device"] == device)
    ]


def test_device_code_approved_signs_in_with_a_refresh_token(contract, client, browser):
    sign_in = start(client)
    assert sign_in.verification_uri.startswith(contract.provider.url)
    enter_code(browser, sign_in.verification_uri, sign_in.user_code, "alice")

    assert final(sign_in).status == SignIn.Status.COMPLETED, sign_in.message
    user = User.objects.get()
    assert user.identity == contract.identity("alice")
    assert user.upn == contract.upn("alice")
    row = TokenCache.objects.get(user=user)
    assert row.method == TokenCache.Method.DEVICE_CODE
    assert json.loads(encryption.decrypt(row.ciphertext))["RefreshToken"]
    # The browser that started it is signed in once it looks again.
    profile = client.get(f"/auth/sign-in/code/{sign_in.code}", follow=True).content.decode()
    assert contract.identity("alice") in profile


def test_device_code_denied_is_declined(contract, client, browser):
    sign_in = start(client)
    enter_code(browser, sign_in.verification_uri, sign_in.user_code, "alice", abort=True)

    assert final(sign_in).status == SignIn.Status.DECLINED
    assert "cancelled on the sign-in page" in sign_in.message
    assert polls_of(contract, "access_denied")  # the standard refusal, not Entra's code
    assert not TokenCache.objects.exists()


def test_a_code_the_provider_expired_ends_as_expired(contract, client):
    requests.post(
        f"{contract.provider.url}/_control/device-code-ttl?seconds=2",
        verify=str(contract.provider.ca_file),
        timeout=10,
    )
    try:
        sign_in = start(client)
    finally:
        requests.post(
            f"{contract.provider.url}/_control/device-code-ttl?seconds=0",
            verify=str(contract.provider.ca_file),
            timeout=10,
        )
    # The portal believes the code lives longer (clock skew): the provider's answer decides.
    SignIn.objects.filter(pk=sign_in.pk).update(expires_at=timezone.now() + timedelta(minutes=5))

    assert final(sign_in).status == SignIn.Status.EXPIRED, sign_in.message
    assert "expired" in sign_in.message
    # oidc-provider no longer finds a code past its lifetime: invalid_grant, which after
    # the code's lifetime means expired (an Entra-like provider says expired_token).
    assert polls_of(contract, "invalid_grant") or polls_of(contract, "expired_token")


def test_a_reused_device_code_has_ended(contract, client, browser):
    first = start(client)
    flow = bytes(first.flow_ciphertext)
    enter_code(browser, first.verification_uri, first.user_code, "alice")
    assert final(first).status == SignIn.Status.COMPLETED

    again = SignIn.objects.create(
        method=SignIn.Method.DEVICE_CODE,
        flow_ciphertext=flow,
        user_code=first.user_code,
        verification_uri=first.verification_uri,
        tenant=first.tenant,
        expires_at=first.expires_at,
        next_poll_at=timezone.now(),
    )
    from authflow.tasks import run_poller

    run_poller.delay()
    assert final(again).status == SignIn.Status.FAILED
    assert "has ended" in again.message
    assert "Start again" in again.message
    assert polls_of(contract, "invalid_grant")


def test_slow_down_adds_five_seconds_to_the_interval(contract, client, browser):
    sign_in = start(client)
    wait_for(lambda: SignIn.objects.filter(pk=sign_in.pk, polls__gte=1).first(), timeout=30)
    assert polls_of(contract, "authorization_pending", sign_in)
    # A poll that arrives early (as if it waited in a queue and the next one did not).
    SignIn.objects.filter(pk=sign_in.pk).update(next_poll_at=timezone.now())
    wait_for(lambda: polls_of(contract, "slow_down", sign_in), timeout=30)
    slowed_at = polls_of(contract, "slow_down", sign_in)[0]["at"]
    wait_for(
        lambda: [p for p in polls_of(contract, None, sign_in) if p["at"] > slowed_at],
        timeout=40,
    )

    after = [p for p in polls_of(contract, None, sign_in) if p["at"] > slowed_at]
    assert after[0]["at"] - slowed_at >= 10.0  # RFC 8628 §3.5: interval 5 + 5 s
    assert after[0]["outcome"] == "authorization_pending"
    assert len(polls_of(contract, "slow_down", sign_in)) == 1
    sign_in.refresh_from_db()
    assert sign_in.interval == 10
    enter_code(browser, sign_in.verification_uri, sign_in.user_code, "bob")
    assert final(sign_in).status == SignIn.Status.COMPLETED
    assert sign_in.actual_identity == contract.identity("bob")


def test_provider_down_and_back(contract, client, browser):
    sign_in = start(client)
    contract.provider.stop()
    try:
        wait_for(
            lambda: SignIn.objects.filter(pk=sign_in.pk, transient_failures__gte=1).first(),
            timeout=40,
            message="The poller never noticed the provider was down",
        )
        sign_in.refresh_from_db()
        assert sign_in.status == SignIn.Status.PENDING
        assert "not answering" in sign_in.message
    finally:
        contract.provider.start()  # same port, same state: the code is still known
    enter_code(browser, sign_in.verification_uri, sign_in.user_code, "alice")
    assert final(sign_in, timeout=90).status == SignIn.Status.COMPLETED
    assert SignIn.objects.get(pk=sign_in.pk).message.startswith("Signed in as")


def test_browser_sign_in_with_pkce(contract, browser, live_server):
    context, page = provider_page(browser)
    try:
        page.goto(f"{live_server.url}/auth/sign-in?next=/auth/profile")
        page.get_by_test_id("sign-in-browser").click()
        page.wait_for_url(f"{contract.provider.url}/**")
        sign_in_on_provider(page, "bob")
        page.wait_for_url(f"{live_server.url}/auth/profile")
        assert contract.identity("bob") in page.content()
    finally:
        context.close()
    row = TokenCache.objects.get(user__username=contract.identity("bob"))
    assert row.method == TokenCache.Method.BROWSER
    assert json.loads(encryption.decrypt(row.ciphertext))["RefreshToken"]


def signed_in(contract, client, browser, alias: str) -> User:
    sign_in = start(client)
    enter_code(browser, sign_in.verification_uri, sign_in.user_code, alias)
    assert final(sign_in).status == SignIn.Status.COMPLETED, sign_in.message
    return sign_in.result_user


def test_silent_refresh_and_a_refused_refresh(contract, client, browser):
    user = signed_in(contract, client, browser, "alice")
    scopes = ["User.Read"]
    first = tokens.access_token(user, scopes)
    # A refresh through msal with no instance discovery (oidc-provider serves none),
    # TLS verified with MICROSOFT_CA_BUNDLE although REQUESTS_CA_BUNDLE says otherwise.
    renewed = tokens.access_token(user, scopes, force_refresh=True)
    assert renewed != first
    assert jwt.decode(renewed, options={"verify_signature": False})["aud"] == (
        "https://graph.contract.test"
    )

    row = TokenCache.objects.get(user=user)
    cache = json.loads(encryption.decrypt(row.ciphertext))
    for entry in cache["RefreshToken"].values():
        entry["secret"] = "revoked-" + entry["secret"][:8]
    TokenCache.objects.filter(pk=row.pk).update(ciphertext=encryption.encrypt(json.dumps(cache)))
    with pytest.raises(tokens.SignInRequired) as refused:
        tokens.access_token(user, scopes, force_refresh=True)
    assert "refused the refresh token" in refused.value.reason
    row.refresh_from_db()
    assert row.status == TokenCache.Status.NEEDS_SIGN_IN
    assert "refused the refresh token" in row.status_reason


def api_token_for(contract, browser, alias: str) -> str:
    """What a restore operator's script does: a device flow for the portal's API."""
    provider = contract.provider
    config = provider.discovery()
    ca = str(provider.ca_file)
    flow = requests.post(
        config["device_authorization_endpoint"],
        data={
            "client_id": contract.public_client_id,
            "scope": "openid access_as_user",
            "resource": contract.api_resource,
        },
        verify=ca,
        timeout=10,
    ).json()
    enter_code(browser, flow["verification_uri"], flow["user_code"], alias)
    time.sleep(5)  # the interval, or the provider answers slow_down
    answer = requests.post(
        config["token_endpoint"],
        data={
            "client_id": contract.public_client_id,
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": flow["device_code"],
        },
        verify=ca,
        timeout=10,
    ).json()
    return answer["access_token"]


def test_operator_grant_good_and_forged(contract, browser, live_server):
    assertion = api_token_for(contract, browser, "alice")
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["aud"] == contract.api_resource

    good = requests.post(
        f"{live_server.url}/api/v1/token",
        data={
            "grant_type": "operator",
            "client_id": contract.identity("alice"),
            "assertion": assertion,
        },
        timeout=10,
    )
    assert good.status_code == 200, good.text
    me = requests.get(
        f"{live_server.url}/api/v1/me",
        headers={"Authorization": f"Bearer {good.json()['access_token']}"},
        timeout=10,
    )
    assert me.json()["identity"] == contract.identity("alice")

    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = jwt.get_unverified_header(assertion)
    forged = {
        "same key id, another key": jwt.encode(
            {**claims, "oid": "b0b00000-0000-4000-8000-000000000b0b"},
            impostor,
            algorithm="RS256",
            headers={"kid": header["kid"]},
        ),
        "unknown key id": jwt.encode(
            claims, impostor, algorithm="RS256", headers={"kid": "not-published"}
        ),
        "another issuer": jwt.encode(
            {**claims, "iss": "https://login.contract.test/elsewhere/v2.0"},
            contract.provider.private_key,
            algorithm="RS256",
            headers={"kid": header["kid"]},
        ),
    }
    for case, token in forged.items():
        refused = requests.post(
            f"{live_server.url}/api/v1/token",
            data={
                "grant_type": "operator",
                "client_id": contract.identity("alice"),
                "assertion": token,
            },
            timeout=10,
        )
        assert refused.status_code == 400, case
        assert refused.json()["error"] == "invalid_grant", case


def test_commands_that_need_graph_say_it_is_not_available(contract):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as refused:
        call_command("login", contract.upn("alice"))
    assert "Microsoft Graph is not available with this identity provider" in str(refused.value)
    assert "unsupported_grant_type" not in str(refused.value)
