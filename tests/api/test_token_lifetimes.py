"""Portal API tokens with a bounded life: one family per assertion, an absolute lifetime,
refreshes that ask Microsoft whether the person may still sign in, and logout."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import ApiToken
from portal.models import AuditEvent

from .test_token import assert_oauth_error, resigned


@pytest.fixture
def grant(operator, identity_of):
    """A fresh operator grant for `alias`: (assertion, token response body)."""

    def make(alias: str = "alice") -> tuple[str, dict]:
        assertion = operator.api_access_token(alias)
        answer = operator.token(
            {"grant_type": "operator", "client_id": identity_of(alias), "assertion": assertion}
        )
        assert answer.status_code == 200, answer.text
        return assertion, answer.json()

    return make


@pytest.fixture
def fresh_account_checks(settings):
    settings.API_GRANT_CHECK_SECONDS = 0


def refresh(operator, body: dict):
    return operator.token({"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})


def test_an_assertion_mints_one_token_family_only(operator, identity_of, grant):
    assertion, _ = grant("alice")
    again = operator.token(
        {"grant_type": "operator", "client_id": identity_of("alice"), "assertion": assertion}
    )
    body = assert_oauth_error(again, 400, "invalid_grant")
    assert "already traded" in body["error_description"]
    assert ApiToken.objects.values("family").distinct().count() == 1
    refused = AuditEvent.objects.filter(action="api.token.refused").get()
    assert "already traded" in refused.details["description"]


def test_an_assertion_expired_beyond_a_minute_is_refused(operator, identity_of):
    good = operator.api_access_token("alice")
    now = int(time.time())
    late = resigned(good, iat=now - 3600, nbf=now - 3600, exp=now - 90)
    answer = operator.token(
        {"grant_type": "operator", "client_id": identity_of("alice"), "assertion": late}
    )
    assert "expired" in assert_oauth_error(answer, 400, "invalid_grant")["error_description"]
    assert not ApiToken.objects.exists()


def test_refreshing_never_extends_the_family(operator, grant, settings, fresh_account_checks):
    settings.API_TOKEN_FAMILY_LIFETIME = 600
    _, body = grant("alice")
    started = ApiToken.objects.get(kind=ApiToken.Kind.REFRESH).family_started_at
    refreshed = refresh(operator, body)
    assert refreshed.status_code == 200, refreshed.text
    newest = ApiToken.objects.filter(kind=ApiToken.Kind.REFRESH).latest("created_at")
    assert newest.family_started_at == started
    assert newest.expires_at <= started + timedelta(seconds=600)
    assert refreshed.json()["expires_in"] <= 600

    # The family's lifetime is over (the clock driven by data, not by sleeping).
    ApiToken.objects.update(family_started_at=timezone.now() - timedelta(seconds=601))
    ended = refresh(operator, refreshed.json())
    assert "lifetime" in assert_oauth_error(ended, 400, "invalid_grant")["error_description"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("disable", "disabled"),
        ("revoke_sessions", "sessions were revoked"),
        ("delete", "no longer exists"),
    ],
)
def test_a_refresh_fails_closed_once_microsoft_shuts_the_person_out(
    operator, grant, sandbox, fresh_account_checks, change, reason
):
    _, body = grant("alice")
    assert operator.get("/me", body["access_token"]).status_code == 200
    person = sandbox.user("alice")
    if change == "disable":
        person.account_enabled = False
        person.save(update_fields=["account_enabled"])
    elif change == "revoke_sessions":
        person.revoke_sign_in_sessions()
    else:
        person.delete()

    answer = refresh(operator, body)
    assert reason in assert_oauth_error(answer, 400, "invalid_grant")["error_description"]
    # Everything the person held ends with it: the access token of the family too.
    assert operator.get("/me", body["access_token"]).status_code == 401
    ended = AuditEvent.objects.get(action="identity.access_ended")
    assert reason in ended.details["reason"]


def test_a_refresh_waits_when_microsoft_cannot_be_asked(
    operator, grant, sandbox, fresh_account_checks
):
    _, body = grant("alice")
    fault = sandbox.fault("/users/", status=503, remaining=100)
    answer = refresh(operator, body)
    assert_oauth_error(answer, 503, "temporarily_unavailable")
    assert answer.headers["Retry-After"]
    fault.delete()
    # The refresh token was not spent by the failed attempt.
    assert refresh(operator, body).status_code == 200


def test_logout_ends_the_whole_family_at_once(operator, grant):
    _, body = grant("alice")
    out = operator.post("/token/logout", body["access_token"])
    assert out.status_code == 204, out.text
    assert operator.get("/me", body["access_token"]).status_code == 401
    assert (
        "revoked"
        in assert_oauth_error(refresh(operator, body), 400, "invalid_grant")["error_description"]
    )
    assert AuditEvent.objects.filter(action="api.token.logout").exists()


def test_logout_needs_a_live_access_token(operator):
    assert operator.post("/token/logout", "lbat_unknown").status_code == 401
