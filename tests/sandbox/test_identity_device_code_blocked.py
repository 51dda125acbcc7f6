"""Conditional Access blocking the device code flow, as Entra answers it: the code can be
asked for and entered, but the token request is refused with AADSTS53003."""

from __future__ import annotations

import msal
import pytest

from portal.microsoft import authority_url, http_session
from tests.sandbox.graph import PORTAL_SCOPES


def poll_after_approval(sandbox, alias: str) -> dict:
    app = msal.PublicClientApplication(
        sandbox.public_client_id,
        authority=authority_url(sandbox.tenant_id),
        http_client=http_session(),
    )
    flow = app.initiate_device_flow(scopes=PORTAL_SCOPES)
    assert "user_code" in flow  # asking for a code still works: nobody is known yet
    sandbox.approve(flow["user_code"], alias)
    return app.acquire_token_by_device_flow(flow, exit_condition=lambda f: True)


@pytest.mark.parametrize(
    "policy",
    [{"device_code_blocked": True}, {"device_code_blocked_users": ["ALICE@contoso.example"]}],
)
def test_a_blocked_device_code_is_refused_with_entras_error(sandbox, policy):
    sandbox.policy(device_code_interval=0, **policy)

    result = poll_after_approval(sandbox, "alice")

    assert "access_token" not in result
    assert result["error"] == "interaction_required"
    assert result["error_description"].startswith(
        "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy "
        "does not allow token issuance.\r\nTrace ID: "
    )
    assert result["error_codes"] == [53003]
    assert result["suberror"] == "message_only"


def test_a_per_user_block_leaves_others_alone(sandbox):
    sandbox.policy(device_code_interval=0, device_code_blocked_users=["alice@contoso.example"])

    assert "access_token" in poll_after_approval(sandbox, "bob")
