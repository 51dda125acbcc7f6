"""Service principals and what a tenant granted them: the reads a "Verify" makes.

- `GET /servicePrincipals?$filter=appId eq '{appId}'`: the app's service principal in the
  caller's tenant, or Microsoft Graph's own (appId 00000003-0000-0000-c000-000000000000),
  whose `appRoles` map the ids of application permissions to their names.
- `GET /servicePrincipals/{id}/appRoleAssignments`: the application permissions granted
  to a service principal (principalId, resourceId, appRoleId).
- `GET /oauth2PermissionGrants?$filter=clientId eq '{sp id}'`: delegated permissions
  consented for the client, `consentType` AllPrincipals for an admin's consent for
  everyone, `scope` the space-separated names.

Shapes as learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments,
oauth2permissiongrant-list and the servicePrincipal resource document them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.http import HttpResponse

from sandbox.graph import errors
from sandbox.graph import permissions as p
from sandbox.graph.call import Call, json_response
from sandbox.models import ServicePrincipal

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"
NAMESPACE = uuid.UUID("0b1e5a50-6a1f-4c0e-9a3e-5f1a2b3c4d5e")

_EQ = re.compile(r"^\s*(?P<field>\w+)\s+eq\s+'(?P<value>[^']*)'\s*$", re.IGNORECASE)


def _eq_filter(call: Call, field: str) -> str:
    match = _EQ.match(call.query.get("$filter", ""))
    if match is None or match["field"].lower() != field.lower():
        raise errors.bad_request(f"Invalid filter clause: only {field} eq '...' is supported.")
    return match["value"]


def graph_sp_id(tenant_id: uuid.UUID) -> uuid.UUID:
    """Microsoft Graph's service principal in a tenant (one per tenant, like Entra's)."""
    return uuid.uuid5(NAMESPACE, f"graph-sp:{tenant_id}")


def app_role_id(name: str) -> uuid.UUID:
    """A Graph application permission's id (the same in every tenant, as in Entra)."""
    return uuid.uuid5(NAMESPACE, f"graph-app-role:{name}")


def _graph_sp(tenant_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": str(graph_sp_id(tenant_id)),
        "appId": GRAPH_APP_ID,
        "displayName": "Microsoft Graph",
        "servicePrincipalType": "Application",
        "appRoles": [
            {
                "id": str(app_role_id(name)),
                "value": name,
                "displayName": name,
                "allowedMemberTypes": ["Application"],
                "isEnabled": True,
            }
            for name in p.application_permission_names()
        ],
    }


def _sp_json(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "id": str(sp.id),
        "appId": sp.application.client_id,
        "displayName": sp.application.display_name,
        "servicePrincipalType": "Application",
        "appRoles": list(sp.application.app_roles or []),
    }


def list_service_principals(call: Call) -> HttpResponse:
    app_id = _eq_filter(call, "appId")
    tenant_id = call.caller.tenant_id
    if app_id.lower() == GRAPH_APP_ID:
        value = [_graph_sp(tenant_id)]
    else:
        value = [
            _sp_json(sp)
            for sp in ServicePrincipal.objects.select_related("application").filter(
                tenant_id=tenant_id, application__client_id__iexact=app_id
            )
        ]
    return json_response({"@odata.context": f"{CONTEXT}servicePrincipals", "value": value})


def _sp(call: Call, sp_id: str) -> ServicePrincipal:
    try:
        key = uuid.UUID(sp_id)
    except ValueError:
        raise errors.bad_request(f"Invalid object identifier '{sp_id}'.") from None
    found = ServicePrincipal.objects.filter(tenant_id=call.caller.tenant_id, pk=key).first()
    if found is None:
        raise errors.not_found(errors.DIRECTORY, sp_id)
    return found


def app_role_assignments(call: Call) -> HttpResponse:
    sp = call.params["sp"]
    found = _sp(call, sp)
    resource = str(graph_sp_id(found.tenant_id))
    value = [
        {
            "id": str(uuid.uuid5(NAMESPACE, f"assignment:{found.id}:{name}")),
            "appRoleId": str(app_role_id(name)),
            "principalId": str(found.id),
            "principalType": "ServicePrincipal",
            "principalDisplayName": found.application.display_name,
            "resourceId": resource,
            "resourceDisplayName": "Microsoft Graph",
        }
        for name in found.graph_app_roles
    ]
    return json_response(
        {"@odata.context": f"{CONTEXT}servicePrincipals('{sp}')/appRoleAssignments", "value": value}
    )


def oauth2_permission_grants(call: Call) -> HttpResponse:
    client_id = _eq_filter(call, "clientId")
    value = []
    try:
        key = uuid.UUID(client_id)
    except ValueError:
        key = None
    sp = (
        ServicePrincipal.objects.filter(tenant_id=call.caller.tenant_id, pk=key).first()
        if key
        else None
    )
    if sp is not None and sp.admin_consented_scopes:
        value.append(
            {
                "id": str(uuid.uuid5(NAMESPACE, f"grant:{sp.id}")),
                "clientId": str(sp.id),
                "consentType": "AllPrincipals",
                "principalId": None,
                "resourceId": str(graph_sp_id(sp.tenant_id)),
                "scope": " ".join(sp.admin_consented_scopes),
            }
        )
    return json_response({"@odata.context": f"{CONTEXT}oauth2PermissionGrants", "value": value})
