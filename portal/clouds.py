"""Microsoft's clouds: where each one signs people in and serves Graph.

One table, chosen by MICROSOFT_CLOUD. The hosts are the ones Microsoft documents
(docs/clouds.md says where): the Entra authority host, the hosts Entra's v2.0 issuers use
(Azure China's differs from its authority host), and Graph's service root, which is also
the resource every Graph scope is qualified with (`<resource>/.default`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cloud:
    name: str
    authority_host: str
    issuer_hosts: tuple[str, ...]
    graph_resource: str
    # The `cloud_instance_name` Entra's discovery documents give this cloud's tenants.
    instance_name: str

    @property
    def graph_url(self) -> str:
        return f"{self.graph_resource}/v1.0"


CLOUDS = {
    cloud.name: cloud
    for cloud in (
        Cloud(
            "global",
            "login.microsoftonline.com",
            ("login.microsoftonline.com",),
            "https://graph.microsoft.com",
            "microsoftonline.com",
        ),
        # GCC High (L4) and DoD (L5) share the US Government authority; Graph differs.
        Cloud(
            "usgov",
            "login.microsoftonline.us",
            ("login.microsoftonline.us",),
            "https://graph.microsoft.us",
            "microsoftonline.us",
        ),
        Cloud(
            "usgov-dod",
            "login.microsoftonline.us",
            ("login.microsoftonline.us",),
            "https://dod-graph.microsoft.us",
            "microsoftonline.us",
        ),
        # Operated by 21Vianet: tokens say login.partner.microsoftonline.cn, which is also
        # the newer name of the authority host.
        Cloud(
            "china",
            "login.chinacloudapi.cn",
            ("login.partner.microsoftonline.cn", "login.chinacloudapi.cn"),
            "https://microsoftgraph.chinacloudapi.cn",
            "partner.microsoftonline.cn",
        ),
    )
}

# Every host that is one of Microsoft's own authorities: there msal's instance discovery
# and authority validation stay on. Any other authority host is a custom one.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    host for cloud in CLOUDS.values() for host in (cloud.authority_host, *cloud.issuer_hosts)
)
