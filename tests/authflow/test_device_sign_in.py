"""Device-code sign-in end to end: portal pages, the sandbox, a real Celery worker."""

from __future__ import annotations

import re

import pytest

from authflow.models import SignIn, TokenCache, User
from portal.models import AuditEvent
from tests.conftest import wait_for


@pytest.fixture
def fast(sandbox):
    sandbox.policy(device_code_interval=1)
    return sandbox


def start(client, next_url="/auth/profile"):
    response = client.post("/auth/sign-in/code", {"next": next_url})
    assert response.status_code == 302
    return response["Location"]


def wait_until_final(timeout=30) -> SignIn:
    return wait_for(
        lambda: SignIn.objects.exclude(status="pending").first(),
        timeout=timeout,
        message="The sign-in never ended",
    )


def test_sign_in_with_a_code_signs_the_browser_in(fast, celery_worker, client):
    page_url = start(client)
    page = client.get(page_url).content.decode()
    sign_in = SignIn.objects.get()
    assert f'data-testid="user-code">{sign_in.user_code}<' in page
    assert fast.device_login_url in page
    assert 'hx-trigger="every 2s"' in page

    fast.approve(sign_in.user_code, "alice")
    assert wait_until_final().status == "completed"

    status = client.get(page_url, headers={"HX-Request": "true"})
    assert status["HX-Redirect"] == "/auth/profile"
    profile = client.get("/auth/profile").content.decode()
    alice = fast.user("alice")
    assert f"{alice.id}.{fast.tenant_id}" in profile
    user = User.objects.get()
    assert user.identity == f"{alice.id}.{fast.tenant_id}"
    assert user.upn == "alice@contoso.example"
    assert TokenCache.objects.get(user=user).method == "device_code"
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["sign_in.started", "sign_in.completed"]


def test_the_same_sign_in_shows_after_a_reload(fast, celery_worker, client):
    page_url = start(client)
    first = client.get(page_url).content.decode()
    second = client.get(page_url).content.decode()
    code = re.search(r'data-testid="user-code">(\w+)<', first)[1]
    assert f'data-testid="user-code">{code}<' in second
    assert SignIn.objects.count() == 1


def test_another_browser_cannot_see_or_use_the_sign_in(fast, celery_worker, client):
    from django.test import Client

    page_url = start(client)
    stranger = Client()
    assert stranger.get(page_url).status_code == 404

    fast.approve(SignIn.objects.get().user_code, "alice")
    wait_until_final()
    stranger.get(page_url, headers={"HX-Request": "true"})
    assert "_auth_user_id" not in stranger.session


def test_declined_sign_in_says_so(fast, celery_worker, client):
    page_url = start(client)
    fast.approve(SignIn.objects.get().user_code, "alice", decline=True)

    assert wait_until_final().status == "declined"
    html = client.get(page_url).content.decode()
    assert "cancelled on the sign-in page" in html
    assert "hx-trigger" not in html  # polling stops
    assert "_auth_user_id" not in client.session


def test_expired_code_says_so(sandbox, celery_worker, client):
    sandbox.policy(device_code_interval=1, device_code_lifetime=3)
    page_url = start(client)

    assert wait_until_final().status == "expired"
    assert "The code expired" in client.get(page_url).content.decode()


def test_the_poller_never_polls_too_fast(fast, celery_worker, client):
    from sandbox.models import DeviceCode

    start(client)
    wait_for(lambda: DeviceCode.objects.get().polls >= 4, timeout=30)

    device_code = DeviceCode.objects.get()
    assert device_code.slow_downs == 0
    assert device_code.interval == 1


def test_server_errors_are_retried_and_the_sign_in_still_completes(fast, celery_worker, client):
    fast.fault("/oauth2/v2.0/token", 503, remaining=2)
    page_url = start(client)
    wait_for(lambda: SignIn.objects.get().transient_failures >= 1, timeout=30)
    assert "not answering right now" in client.get(page_url).content.decode()

    fast.approve(SignIn.objects.get().user_code, "alice")
    assert wait_until_final(timeout=60).status == "completed"


def test_throttled_polls_wait_for_retry_after(fast, celery_worker, client):
    fast.fault("/oauth2/v2.0/token", 429, retry_after=3)
    start(client)
    sign_in = wait_for(lambda: SignIn.objects.filter(transient_failures__gte=1).first(), timeout=30)
    assert "trying again in 3 s" in sign_in.message


def test_cancelling_stops_the_sign_in(fast, celery_worker, client):
    page_url = start(client)
    client.post(f"{page_url}/cancel")

    assert SignIn.objects.get().status == "cancelled"
    fast.approve(SignIn.objects.get().user_code, "alice")
    assert "You cancelled" in client.get(page_url).content.decode()


def test_starting_sign_ins_is_rate_limited(sandbox, client):
    # django-ratelimit counts in fixed one-minute windows: ten starts pass in a window,
    # the eleventh is refused, unless a window ends among the first ten (then the count
    # starts again, and the refusal comes at most ten starts later).
    codes: list[int] = []
    while 429 not in codes and len(codes) < 21:
        codes.append(client.post("/auth/sign-in/code", {}).status_code)
    assert 429 in codes
    passed = codes.index(429)
    assert 10 <= passed <= 20
    assert set(codes[:passed]) == {302}


def test_an_app_without_public_client_flows_tells_the_admin_what_to_fix(
    fast, celery_worker, client
):
    from sandbox.models import Application

    Application.objects.filter(client_id=fast.public_client_id).update(
        is_fallback_public_client=False
    )
    page_url = start(client)
    fast.approve(SignIn.objects.get().user_code, "alice")

    assert wait_until_final().status == "failed"
    assert "Allow public client flows" in client.get(page_url).content.decode()


def test_forget_my_tokens(alice, client):
    client.force_login(alice)
    response = client.post("/auth/profile/forget-tokens", follow=True)
    assert "no longer holds Microsoft tokens for you" in response.content.decode()
    assert TokenCache.objects.get(user=alice).status == "revoked"
    assert AuditEvent.objects.filter(action="token.forgotten").exists()
