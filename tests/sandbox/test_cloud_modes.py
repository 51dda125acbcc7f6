"""The sandbox as each national cloud: the portal signs in, backs up and restores with
nothing but MICROSOFT_CLOUD's hosts. In China the issuer host (login.partner.
microsoftonline.cn) is not the authority host (login.chinacloudapi.cn), and Graph lives
at microsoftgraph.chinacloudapi.cn, whose resource every Graph scope must name: a token
for the global Graph is refused there, as Entra would."""

from __future__ import annotations

import jwt
import pytest

from authflow import flows, identity
from portal.clouds import CLOUDS
from restore.jobs import lifecycle as jobs
from restore.jobs import runner as restore_runner
from restore.models import Item, RestoreJob
from restore.scope import Scope
from tests.conftest import wait_for
from tests.restore.jobs_support import back_up_mailbox, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("session_workers_paused"),
]


@pytest.fixture(params=["china", "usgov", "usgov-dod"])
def cloud(request, sandbox, settings):
    """The sandbox (and this process) as MICROSOFT_CLOUD=<param> sets them."""
    chosen = CLOUDS[request.param]
    settings.MICROSOFT_CLOUD = chosen.name
    settings.MICROSOFT_AUTHORITY_HOST = chosen.authority_host
    settings.MICROSOFT_ISSUER_HOSTS = list(chosen.issuer_hosts)
    settings.MICROSOFT_GRAPH_URL = chosen.graph_url
    settings.MICROSOFT_GRAPH_RESOURCE = chosen.graph_resource
    settings.MICROSOFT_AUTHORITY_KIND = "microsoft"
    settings.MICROSOFT_ROUTES = {
        chosen.authority_host: f"{sandbox.url}/login",
        chosen.graph_resource.removeprefix("https://"): f"{sandbox.url}/graph",
    }
    flows._app_only.clear()
    flows._HTTP_CACHE.clear()
    return chosen


def test_sign_in_back_up_and_restore_in_a_national_cloud(cloud, sandbox):
    from sandbox.models import Message

    alice = sign_in(sandbox, "alice")
    assert alice.identity.endswith(sandbox.tenant_id)
    issuer = identity.issuer_for(sandbox.tenant_id)
    assert issuer == f"https://{cloud.issuer_hosts[0]}/{sandbox.tenant_id}/v2.0"
    app_token = jwt.decode(
        flows.app_only_token(sandbox.tenant_id), options={"verify_signature": False}
    )
    assert app_token["aud"] == cloud.graph_resource

    point = back_up_mailbox("alice")
    item = Item.objects.get(object=point.object, name="Q3 budget — final")
    Message.objects.get(id=item.graph_id).delete()
    job = jobs.create_job(Scope.for_user(alice), point.pk, [item.pk], [], "original", "", "skip")
    restore_runner.run(job.pk)
    wait_for(lambda: RestoreJob.objects.get(pk=job.pk).is_finished, timeout=30)
    job.refresh_from_db()

    assert job.status == RestoreJob.Status.COMPLETED, list(
        job.log.values_list("message", flat=True)
    )
    assert Message.objects.filter(
        mailbox__user_principal_name__startswith="alice@", subject=item.name
    ).exists()


def test_the_global_graph_is_not_found_in_another_cloud(cloud, sandbox):
    app = flows.confidential_app(tenant=sandbox.tenant_id)
    refused = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert refused.get("error") in ("invalid_scope", "invalid_resource", "unauthorized_client")
