"""Scope strings as Entra reads them: OIDC scopes plus the scopes of exactly one resource."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.conf import settings

from sandbox.identity import errors
from sandbox.models import Application, Consent, DirectoryUser, ServicePrincipal, Tenant
from sandbox.models.directory import GRAPH_APP_ID, GRAPH_RESOURCE

OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})

# Microsoft Graph delegated permissions the sandbox knows, and which of them only an
# admin may consent to (a user is shown "Need admin approval").
GRAPH_DELEGATED = frozenset(
    {
        "User.Read", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite", "User.ReadWrite.All",
        "Mail.Read", "Mail.ReadBasic", "Mail.ReadWrite", "Mail.Send",
        "Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All",
        "Sites.Read.All", "Sites.ReadWrite.All",
        "Group.Read.All", "Group.ReadWrite.All", "GroupMember.Read.All",
        "Directory.Read.All", "Directory.AccessAsUser.All",
        "Calendars.Read", "Calendars.ReadWrite", "Contacts.Read", "Contacts.ReadWrite",
        "Tasks.Read", "Tasks.ReadWrite", "Notes.Read", "Notes.ReadWrite", "Notes.Create",
        "MailboxItem.ImportExport", "Channel.ReadBasic.All",
    }
)  # fmt: skip
GRAPH_ADMIN_ONLY = frozenset(
    {
        "User.Read.All", "User.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
        "GroupMember.Read.All", "Directory.Read.All", "Directory.AccessAsUser.All",
    }
)  # fmt: skip
# Application permissions (app roles of Graph) the sandbox enforces.
GRAPH_APPLICATION = frozenset(
    {
        "User.Read.All", "User.ReadWrite.All", "Group.Read.All", "GroupMember.Read.All",
        "Directory.Read.All", "Mail.Read", "Mail.ReadWrite", "Files.Read.All",
        "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All",
        "Calendars.Read", "Calendars.ReadWrite", "Contacts.Read", "Contacts.ReadWrite",
        "Tasks.ReadWrite.All",
    }
)  # fmt: skip


@dataclass
class ScopeRequest:
    """What a `scope` parameter asks for."""

    oidc: set[str] = field(default_factory=set)
    resource: str = GRAPH_RESOURCE  # "https://graph.microsoft.com" or "api://<client id>"
    api: Application | None = None  # the app exposing the API, when not Graph
    scopes: set[str] = field(default_factory=set)  # short names, e.g. {"Mail.ReadWrite"}
    is_default: bool = False  # "<resource>/.default"

    @property
    def is_graph(self) -> bool:
        return self.api is None

    def display(self, granted: set[str]) -> str:
        """The `scope` value of a token response: Graph scopes unqualified, as Entra does."""
        names = sorted(granted) if self.is_graph else [f"{self.resource}/{s}" for s in granted]
        return " ".join([*names, *sorted(self.oidc)])


def _split_resource(item: str) -> tuple[str, str]:
    """'https://graph.microsoft.com/Mail.Read' → (graph, 'Mail.Read'); 'Mail.Read' → graph.

    Graph is the configured cloud's Graph resource (GRAPH_RESOURCE is only the key it is
    stored under): another cloud's Graph is not found here, as in Entra.
    """
    if "/" not in item:
        return GRAPH_RESOURCE, item
    resource, _, name = item.rpartition("/")
    if resource.rstrip("/") in (settings.MICROSOFT_GRAPH_RESOURCE, GRAPH_APP_ID):
        return GRAPH_RESOURCE, name
    if resource.rstrip("/") == GRAPH_RESOURCE:
        return "urn:another-cloud:" + resource, name
    return resource, name


def _find_api(resource: str) -> Application | None:
    for app in Application.objects.exclude(identifier_uris=[]):
        if resource in app.identifier_uris or resource == str(app.client_id):
            return app
    return None


def parse(scope: str, tenant_name: str) -> ScopeRequest:
    items = scope.split()
    if not items:
        raise errors.missing_parameter("scope")
    request = ScopeRequest()
    resources: set[str] = set()
    for item in items:
        if item in OIDC_SCOPES:
            request.oidc.add(item)
            continue
        resource, name = _split_resource(item)
        resources.add(resource)
        if name == ".default":
            request.is_default = True
        elif name:
            request.scopes.add(name)
        else:
            raise errors.invalid_scope(item)
    if len(resources) > 1:
        raise errors.MULTIPLE_RESOURCES
    if resources:
        request.resource = resources.pop()
    if request.resource != GRAPH_RESOURCE:
        request.api = _find_api(request.resource)
        if request.api is None:
            raise errors.resource_not_found(request.resource, tenant_name)
        unknown = request.scopes - set(request.api.api_scopes)
    else:
        unknown = request.scopes - GRAPH_DELEGATED
    if unknown:
        raise errors.invalid_scope(" ".join(sorted(unknown)))
    return request


def consented(user: DirectoryUser, client: Application, request: ScopeRequest) -> set[str]:
    """Scopes of the requested resource this user may get for this client without asking."""
    if request.api is not None:
        if request.api == client or str(client.client_id) in request.api.pre_authorized_client_ids:
            return set(request.api.api_scopes)
        resource = request.resource
    else:
        resource = GRAPH_RESOURCE
    sp = ServicePrincipal.objects.filter(tenant_id=user.tenant_id, application=client).first()
    granted = set(sp.admin_consented_scopes) if sp and request.api is None else set()
    consent = Consent.objects.filter(user=user, application=client, resource=resource).first()
    if consent:
        granted |= set(consent.scopes)
    return granted


def missing_consent(user: DirectoryUser, client: Application, request: ScopeRequest) -> set[str]:
    """Requested scopes the user still has to consent to (empty when none)."""
    if request.is_default:
        return set()
    wanted = set(request.scopes) or ({"User.Read"} if request.is_graph else set())
    return wanted - consented(user, client, request)


def record_consent(user: DirectoryUser, client: Application, request: ScopeRequest) -> None:
    resource = request.resource if request.api else GRAPH_RESOURCE
    consent, _ = Consent.objects.get_or_create(user=user, application=client, resource=resource)
    consent.scopes = sorted(
        set(consent.scopes) | request.scopes | ({"User.Read"} if request.is_graph else set())
    )
    consent.save(update_fields=["scopes"])


def needs_admin(scopes: set[str]) -> set[str]:
    return scopes & GRAPH_ADMIN_ONLY


def service_principal(tenant: Tenant, client: Application) -> ServicePrincipal | None:
    return ServicePrincipal.objects.filter(tenant=tenant, application=client).first()


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
