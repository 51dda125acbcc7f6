"""Directory reads: /me, /users, /organization, /groups and their relations."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpResponse

from sandbox.graph import access, errors, odata
from sandbox.graph.call import Call, json_response
from sandbox.graph.odata import Field
from sandbox.models import DirectoryUser, Group, Tenant

USER_FIELDS = {
    "id": Field("id", "uuid"),
    "displayname": Field("display_name"),
    "userprincipalname": Field("user_principal_name"),
    "mail": Field("mail"),
    "givenname": Field("given_name"),
    "surname": Field("surname"),
    "jobtitle": Field("job_title"),
    "department": Field("department"),
    "accountenabled": Field("account_enabled", "bool"),
}
GROUP_FIELDS = {
    "id": Field("id"),
    "displayname": Field("display_name"),
    "mail": Field("mail"),
    "mailnickname": Field("mail_nickname"),
    "securityenabled": Field("security_enabled", "bool"),
    "mailenabled": Field("mail_enabled", "bool"),
}
CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"


def user_json(user: DirectoryUser) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": str(user.id),
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": user.given_name or None,
        "jobTitle": user.job_title or None,
        "mail": user.mail or None,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": user.surname or None,
        "userPrincipalName": user.user_principal_name,
        "department": user.department or None,
        "accountEnabled": user.account_enabled,
        # Only with $select, as in Graph (not in DEFAULT_USER_PROPERTIES).
        "signInSessionsValidFromDateTime": user.sign_in_sessions_valid_from.astimezone(
            UTC
        ).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def group_json(group: Group) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.group",
        "id": str(group.id),
        "displayName": group.display_name,
        "description": group.description or None,
        "mail": group.mail or None,
        "mailNickname": group.mail_nickname,
        "mailEnabled": group.mail_enabled,
        "securityEnabled": group.security_enabled,
        "groupTypes": group.group_types,
        "visibility": "Private" if "Unified" in group.group_types else None,
    }


# Properties a default /users or /me answer has (other ones need $select, as in Graph).
DEFAULT_USER_PROPERTIES = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
]


def _shape_user(call: Call, user: DirectoryUser) -> dict[str, Any]:
    body = user_json(user)
    select = odata.selected(call.request)
    if select is None:
        body = {k: v for k, v in body.items() if k in DEFAULT_USER_PROPERTIES or k == "@odata.type"}
        return body
    return odata.apply_select(body, select, always=())


def get_user(call: Call) -> HttpResponse:
    user = access.directory_user(call.caller, call.params.get("user", "me").removeprefix("users/"))
    body = _shape_user(call, user)
    body.pop("@odata.type", None)
    return json_response({"@odata.context": f"{CONTEXT}users/$entity", **body})


def _group_any(collection: str, variable: str, body: Any) -> Q:
    # groupTypes/any(c:c eq 'Unified')
    if collection.lower() == "grouptypes" and isinstance(body, tuple) and body[0] == "cmp":
        _, op, left, right = body
        if op == "eq" and isinstance(left, odata.Name) and left.path == variable:
            value = right.value if isinstance(right, odata.Literal) else None
            if value == "Unified":
                return Q(group_types__icontains="Unified")
            return Q(pk__in=[g.pk for g in Group.objects.all() if value in g.group_types])
    raise errors.bad_request("Invalid filter clause: the lambda expression is not supported.")


def _list(
    call: Call,
    rows: QuerySet[Any],
    fields: dict[str, Field],
    shape: Any,
    name: str,
    any_handler: Any = None,
) -> HttpResponse:
    rows = rows.filter(odata.filter_q(call.request, fields, any_handler))
    rows = rows.order_by(*odata.order_by(call.request, fields, ["display_name", "id"]))
    top = odata.integer_option(call.request, "$top", 100, 999)
    skip = odata.skip_of(call.request)
    page, next_link = odata.page(
        call.request, list(rows[skip : skip + top + 1]), top=top, skip=skip, use_skiptoken=True
    )
    body: dict[str, Any] = {"@odata.context": f"{CONTEXT}{name}", "value": [shape(r) for r in page]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return json_response(body)


def list_users(call: Call) -> HttpResponse:
    def shape(user: DirectoryUser) -> dict[str, Any]:
        body = _shape_user(call, user)
        body.pop("@odata.type", None)
        return body

    users = DirectoryUser.objects.filter(tenant_id=call.caller.tenant_id)
    return _list(call, users, USER_FIELDS, shape, "users")


def organization(call: Call) -> HttpResponse:
    tenant = Tenant.objects.get(id=call.caller.tenant_id)
    if (wanted := call.params.get("org")) and wanted.lower() != str(tenant.id):
        raise errors.not_found(errors.DIRECTORY, wanted)
    domains = [
        {
            "capabilities": "Email, OfficeCommunicationsOnlineIdentity",
            "isDefault": d.is_default,
            "isInitial": d.is_default,
            "name": d.name,
            "type": "Managed",
        }
        for d in tenant.domains.all()
    ]
    org = {
        "id": str(tenant.id),
        "displayName": tenant.display_name,
        "tenantType": "AAD",
        "countryLetterCode": "US",
        "preferredLanguage": "en",
        "verifiedDomains": domains,
        "createdDateTime": "2020-01-01T00:00:00Z",
    }
    select = odata.selected(call.request)
    body = odata.apply_select(org, select)
    if call.params.get("org"):
        return json_response({"@odata.context": f"{CONTEXT}organization/$entity", **body})
    return json_response({"@odata.context": f"{CONTEXT}organization", "value": [body]})


def _select_each(call: Call, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    select = odata.selected(call.request)
    return [odata.apply_select(i, select) for i in items]


def member_of(call: Call) -> HttpResponse:
    user = access.directory_user(call.caller, call.params["user"].removeprefix("users/"))
    # Groups don't nest in the sandbox, so direct and transitive membership are the same.
    groups = Group.objects.filter(tenant_id=user.tenant_id, members=user).order_by("display_name")
    items = _select_each(call, [group_json(g) for g in groups])
    return json_response({"@odata.context": f"{CONTEXT}directoryObjects", "value": items})


def owned_objects(call: Call) -> HttpResponse:
    user = access.directory_user(call.caller, call.params["user"].removeprefix("users/"))
    groups = Group.objects.filter(tenant_id=user.tenant_id, owners=user).order_by("display_name")
    items = _select_each(call, [group_json(g) for g in groups])
    return json_response({"@odata.context": f"{CONTEXT}directoryObjects", "value": items})


def list_groups(call: Call) -> HttpResponse:
    groups = Group.objects.filter(tenant_id=call.caller.tenant_id)
    select = odata.selected(call.request)
    return _list(
        call,
        groups,
        GROUP_FIELDS,
        lambda g: odata.apply_select(group_json(g), select),
        "groups",
        _group_any,
    )


def get_group(call: Call) -> HttpResponse:
    group = access.group(call.caller, call.params["group"])
    body = odata.apply_select(group_json(group), odata.selected(call.request))
    body.pop("@odata.type", None)
    return json_response({"@odata.context": f"{CONTEXT}groups/$entity", **body})


def group_relation(call: Call) -> HttpResponse:
    group = access.group(call.caller, call.params["group"])
    relation = call.params["relation"].lower()
    users = group.owners.all() if relation == "owners" else group.members.all()
    items = _select_each(call, [user_json(u) for u in users.order_by("display_name")])
    return json_response({"@odata.context": f"{CONTEXT}directoryObjects", "value": items})
