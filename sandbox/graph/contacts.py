"""Outlook contacts through Graph: contact folders (nested), contacts, per-folder delta,
photos, extended properties.

As in Exchange, `/contactFolders` lists the folders below the default "Contacts" folder
(which `/contacts` reads and writes); `childFolders` goes deeper. `contacts/delta` is
per folder, like `messages/delta`: a first round lists the folder, later rounds what was
added, changed or deleted since (journalled in ContactChange).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.http import HttpResponse
from django.utils import timezone

from sandbox.graph import errors, ids, odata
from sandbox.graph.call import Call, json_response
from sandbox.graph.mail import expansions, property_key
from sandbox.graph.odata import Field
from sandbox.models import Contact, ContactChange, ContactFolder, DirectoryUser, ItemProperty

MAX_PHOTO = 4 * 1024 * 1024
WRITABLE = {
    "givenName", "surname", "middleName", "nickName", "displayName", "title", "initials",
    "generation", "jobTitle", "companyName", "department", "officeLocation", "profession",
    "manager", "assistantName", "spouseName", "birthday", "personalNotes", "fileAs",
    "emailAddresses", "businessPhones", "homePhones", "mobilePhone", "imAddresses",
    "businessAddress", "homeAddress", "otherAddress", "businessHomePage", "children",
    "categories", "yomiGivenName", "yomiSurname", "yomiCompanyName",
    "singleValueExtendedProperties",
}  # fmt: skip
READ_ONLY = {
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "parentFolderId",
    "@odata.etag", "@odata.type",
}  # fmt: skip
CONTACT_FIELDS = {
    "id": Field("id"),
    "displayname": Field("data__displayName"),
    "givenname": Field("data__givenName"),
    "surname": Field("data__surname"),
    "companyname": Field("data__companyName"),
    "lastmodifieddatetime": Field("modified_at", "datetime"),
}


def root_folder(owner: DirectoryUser) -> ContactFolder:
    found = ContactFolder.objects.filter(owner=owner, parent__isnull=True).first()
    if found is None:
        found = ContactFolder.objects.create(
            id=ids.folder_id(f"contacts:{owner.user_principal_name}"),
            owner=owner,
            display_name="Contacts",
        )
    return found


def folder_for(call: Call) -> ContactFolder:
    reference = call.params.get("folder")
    if reference is None:
        return root_folder(call.owner)
    found = ContactFolder.objects.filter(owner=call.owner, id=reference).first()
    if found is None:
        raise errors.not_found(errors.MAIL)
    return found


def folder_json(folder: ContactFolder) -> dict[str, Any]:
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id or "",
    }


def list_folders(call: Call) -> HttpResponse:
    parent = folder_for(call)
    rows = list(ContactFolder.objects.filter(parent=parent).order_by("display_name", "id"))
    top = odata.integer_option(call.request, "$top", 10, 1000)
    skip = odata.skip_of(call.request)
    page, link = odata.page(call.request, rows[skip : skip + top + 1], top=top, skip=skip)
    select = odata.selected(call.request)
    body: dict[str, Any] = {"value": [odata.apply_select(folder_json(f), select) for f in page]}
    if link:
        body["@odata.nextLink"] = link
    return json_response(body)


def get_folder(call: Call) -> HttpResponse:
    return json_response(
        odata.apply_select(folder_json(folder_for(call)), odata.selected(call.request))
    )


def create_folder(call: Call) -> HttpResponse:
    parent = folder_for(call)
    name = str(call.json().get("displayName") or "").strip()
    if not name:
        raise errors.bad_request("The folder name is required.", "ErrorInvalidParameter")
    if ContactFolder.objects.filter(parent=parent, display_name__iexact=name).exists():
        raise errors.GraphError(
            409, "ErrorFolderExists", "A folder with the specified name already exists."
        )
    folder = ContactFolder.objects.create(
        id=ids.folder_id(), owner=call.owner, parent=parent, display_name=name
    )
    return json_response(folder_json(folder), status=201)


# --- Contacts ----------------------------------------------------------------------------


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in data if k not in WRITABLE and k not in READ_ONLY]
    if unknown:
        raise errors.bad_request(
            f"Invalid property '{unknown[0]}' in the request.", "RequestBodyRead"
        )
    clean = {k: v for k, v in data.items() if k in WRITABLE}
    if len(clean.get("emailAddresses") or []) > 3:
        raise errors.bad_request(
            "A contact holds at most three e-mail addresses.", "ErrorInvalidRequest"
        )
    return clean


def _display_name(data: dict[str, Any]) -> str:
    if data.get("displayName"):
        return str(data["displayName"])
    return " ".join(str(data[k]) for k in ("givenName", "surname") if data.get(k))


def _properties(contact: Contact, values: Any) -> None:
    for prop in values or []:
        property_id = str(prop.get("id") or "")
        if not property_id:
            raise errors.bad_request("An extended property needs an id.")
        ItemProperty.objects.update_or_create(
            contact=contact,
            key=property_key(property_id),
            defaults={"property_id": property_id, "value": str(prop.get("value") or "")[:1000]},
        )


def record_change(contact: Contact | None, folder_id: str, contact_id: str) -> None:
    ContactChange.objects.create(folder_id=folder_id, contact_id=contact_id)


def new_contact(
    owner: DirectoryUser,
    folder: ContactFolder,
    data: dict[str, Any],
    *,
    contact_id: str | None = None,
    journal: bool = True,
) -> Contact:
    clean = _clean(data)
    properties = clean.pop("singleValueExtendedProperties", None)
    clean["displayName"] = _display_name(clean)
    contact = Contact.objects.create(
        id=contact_id or ids.message_id(),
        owner=owner,
        folder=folder,
        data=clean,
        change_key=ids.change_key(),
    )
    _properties(contact, properties)
    if journal:
        record_change(contact, folder.id, contact.id)
    return contact


def contact_json(
    contact: Contact, call: Call | None, select: list[str] | None = None
) -> dict[str, Any]:
    data = contact.data
    item: dict[str, Any] = {
        "@odata.etag": f'W/"{contact.change_key}"',
        "id": contact.id,
        "createdDateTime": contact.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "lastModifiedDateTime": contact.modified_at.astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "changeKey": contact.change_key,
        "parentFolderId": contact.folder_id,
        "categories": data.get("categories") or [],
        "emailAddresses": data.get("emailAddresses") or [],
        "businessPhones": data.get("businessPhones") or [],
        "homePhones": data.get("homePhones") or [],
        "imAddresses": data.get("imAddresses") or [],
        "children": data.get("children") or [],
        "businessAddress": data.get("businessAddress") or {},
        "homeAddress": data.get("homeAddress") or {},
        "otherAddress": data.get("otherAddress") or {},
    }
    for name in sorted(WRITABLE - set(item) - {"singleValueExtendedProperties"}):
        item[name] = data.get(name)
    item = odata.apply_select(item, select)  # what $expand adds comes back anyway
    if call is not None:
        expand = expansions(call)
        if "singlevalueextendedproperties" in expand:
            wanted = expand["singlevalueextendedproperties"]
            item["singleValueExtendedProperties"] = [
                {"id": p.property_id, "value": p.value}
                for p in contact.properties.all()
                if wanted is None or p.key in wanted
            ]
    return item


def _extended_any(collection: str, variable: str, body: Any) -> Q:
    if collection.lower() != "singlevalueextendedproperties":
        raise errors.bad_request(f"Invalid filter clause: '{collection}' is not a collection.")
    conditions: dict[str, str] = {}

    def collect(node: Any) -> None:
        if isinstance(node, tuple) and node[0] == "and":
            collect(node[1])
            collect(node[2])
            return
        if isinstance(node, tuple) and node[0] == "cmp" and node[1] == "eq":
            name, literal = node[2], node[3]
            if isinstance(name, odata.Name) and isinstance(literal, odata.Literal):
                conditions[name.path.lower().removeprefix(variable.lower() + "/")] = str(
                    literal.value
                )
                return
        raise errors.bad_request("Invalid filter clause: use ep/id eq '...' and ep/value eq '...'.")

    collect(body)
    if "id" not in conditions:
        raise errors.bad_request("Invalid filter clause: the lambda must compare ep/id.")
    matching = ItemProperty.objects.filter(
        contact=OuterRef("pk"), key=property_key(conditions["id"])
    )
    if "value" in conditions:
        matching = matching.filter(value=conditions["value"])
    return Q(Exists(matching))


def list_contacts(call: Call) -> HttpResponse:
    # /contacts: the default folder; /contactFolders/{id}/contacts: that folder.
    rows = Contact.objects.filter(owner=call.owner, folder=folder_for(call))
    rows = rows.filter(odata.filter_q(call.request, CONTACT_FIELDS, _extended_any))
    rows = rows.order_by(*odata.order_by(call.request, CONTACT_FIELDS, ["data__displayName", "id"]))
    top = odata.integer_option(call.request, "$top", 10, 1000)
    skip = odata.skip_of(call.request)
    page, link = odata.page(call.request, list(rows[skip : skip + top + 1]), top=top, skip=skip)
    select = odata.selected(call.request)
    body: dict[str, Any] = {"value": [contact_json(c, call, select) for c in page]}
    if link:
        body["@odata.nextLink"] = link
    return json_response(body)


def _contact_for(call: Call) -> Contact:
    contact = Contact.objects.filter(owner=call.owner, id=call.params["contact"]).first()
    if contact is None:
        raise errors.not_found(errors.MAIL)
    if "folder" in call.params and contact.folder_id != folder_for(call).id:
        raise errors.not_found(errors.MAIL)
    return contact


def get_contact(call: Call) -> HttpResponse:
    return json_response(contact_json(_contact_for(call), call, odata.selected(call.request)))


@transaction.atomic
def create_contact(call: Call) -> HttpResponse:
    contact = new_contact(call.owner, folder_for(call), call.json())
    return json_response(contact_json(contact, call), status=201)


@transaction.atomic
def update_contact(call: Call) -> HttpResponse:
    contact = _contact_for(call)
    data = _clean(call.json())
    properties = data.pop("singleValueExtendedProperties", None)
    contact.data = {**contact.data, **data}
    contact.data["displayName"] = _display_name(contact.data)
    contact.change_key = ids.change_key()
    contact.modified_at = timezone.now()
    contact.save()
    _properties(contact, properties)
    record_change(contact, contact.folder_id, contact.id)
    return json_response(contact_json(contact, call))


def delete(contact: Contact) -> None:
    folder_id, contact_id = contact.folder_id, contact.id
    contact.delete()
    record_change(None, folder_id, contact_id)


@transaction.atomic
def delete_contact(call: Call) -> HttpResponse:
    delete(_contact_for(call))
    return HttpResponse(status=204)


def get_photo(call: Call) -> HttpResponse:
    contact = _contact_for(call)
    if not contact.photo:
        raise errors.GraphError(404, "ImageNotFound", "The photo wasn't found.")
    return HttpResponse(bytes(contact.photo), content_type=contact.photo_type or "image/jpeg")


@transaction.atomic
def put_photo(call: Call) -> HttpResponse:
    contact = _contact_for(call)
    content = call.request.body
    kind = call.request.content_type or ""
    if not content or not kind.startswith("image/"):
        raise errors.bad_request("A photo must be image bytes with an image/* Content-Type.")
    if len(content) > MAX_PHOTO:
        raise errors.GraphError(413, "ErrorRequestEntityTooLarge", "The photo is larger than 4 MB.")
    contact.photo, contact.photo_type = content, kind
    contact.change_key = ids.change_key()
    contact.modified_at = timezone.now()
    contact.save(update_fields=["photo", "photo_type", "change_key", "modified_at"])
    record_change(contact, contact.folder_id, contact.id)
    return HttpResponse(status=200)


# --- Delta -------------------------------------------------------------------------------


def delta(call: Call) -> HttpResponse:
    folder = folder_for(call)
    size = odata.max_page_size(call.request, default=10, maximum=1000)
    token = call.query.get("$deltatoken") or call.query.get("$skiptoken")
    state = odata.unpack(token) if token else None
    if state is not None and state.get("folder") != folder.id:
        raise errors.bad_request("The delta token belongs to another folder.", "SyncStateInvalid")
    select = odata.selected(call.request)
    latest = ContactChange.objects.aggregate(m=Max("id"))["m"] or 0
    if state is None or state.get("phase") == "initial":
        watermark = state["watermark"] if state else latest
        after = state.get("after", "") if state else ""
        rows = list(Contact.objects.filter(folder=folder, id__gt=after).order_by("id")[: size + 1])
        items = [contact_json(c, call, select) for c in rows[:size]]
        if len(rows) > size:
            return _delta_page(
                call,
                items,
                {
                    "folder": folder.id,
                    "phase": "initial",
                    "watermark": watermark,
                    "after": rows[size - 1].id,
                },
                final=False,
            )
        return _delta_page(
            call,
            items,
            {"folder": folder.id, "phase": "changes", "watermark": watermark},
            final=True,
        )
    watermark = state["watermark"]
    upper = state.get("upper", latest)
    after = state.get("after", watermark)
    changes = list(
        ContactChange.objects.filter(folder_id=folder.id, id__gt=watermark, id__lte=upper)
        .values("contact_id")
        .annotate(last=Max("id"))
        .filter(last__gt=after)
        .order_by("last")[: size + 1]
    )
    page = changes[:size]
    present = {
        c.id: c
        for c in Contact.objects.filter(folder=folder, id__in=[c["contact_id"] for c in page])
    }
    items = []
    for change in page:
        contact = present.get(change["contact_id"])
        if contact is None:
            items.append({"id": change["contact_id"], "@removed": {"reason": "deleted"}})
        else:
            items.append(contact_json(contact, call, select))
    if len(changes) > size:
        return _delta_page(
            call,
            items,
            {
                "folder": folder.id,
                "phase": "changes",
                "watermark": watermark,
                "upper": upper,
                "after": page[-1]["last"],
            },
            final=False,
        )
    return _delta_page(
        call, items, {"folder": folder.id, "phase": "changes", "watermark": upper}, final=True
    )


def _delta_page(
    call: Call, items: list[dict[str, Any]], state: dict[str, Any], *, final: bool
) -> HttpResponse:
    params = {k: v for k, v in call.query.items() if k not in ("$deltatoken", "$skiptoken")}
    path = odata.request_graph_path(call.request)
    key = "@odata.deltaLink" if final else "@odata.nextLink"
    token = "$deltatoken" if final else "$skiptoken"
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(contact)",
            "value": items,
            key: odata.graph_url(path, {**params, token: odata.pack(state)}),
        }
    )
