"""Contacts reader: the contact folder tree, then `contacts/delta` per folder.

As for mail: the first run reads every folder's delta from the start, later runs go on
from the delta links of the previous point (`delta_state`); an invalid link means that
folder is read again in full. The default "Contacts" folder is the parent of the folders
`/contactFolders` lists, and of the contacts `/contacts` lists (Graph has no id for it
otherwise). Each added or changed contact is stored as its JSON, and its photo
(`/contacts/{id}/photo/$value`, 404 when it has none, asked for 20 at a time in
`$batch`) as a blob of its own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Generator, Iterator
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.graph import GraphClient, GraphError
from restore.backup.base import (
    Change,
    Context,
    FolderRemoved,
    FolderSeen,
    ItemSeen,
    delta_pages,
    delta_with_resync,
)

SELECT = (
    "id,displayName,givenName,surname,middleName,nickName,title,initials,generation,jobTitle,"
    "companyName,department,officeLocation,profession,manager,assistantName,spouseName,"
    "birthday,personalNotes,fileAs,emailAddresses,businessPhones,homePhones,mobilePhone,"
    "imAddresses,businessAddress,homeAddress,otherAddress,businessHomePage,children,"
    "categories,changeKey,lastModifiedDateTime,createdDateTime,parentFolderId"
)
DELTA_PAGE = 100


def read(context: Context) -> Iterator[Change]:
    user = f"users/{context.object.owner_id}"
    graph = context.graph
    root = _root_id(graph, user)
    if root is None:  # no folder and no contact: nothing to back up
        for graph_id in context.current_folders:
            yield FolderRemoved(graph_id)
        context.delta_state = {}
        return
    folders = [(root, "", "Contacts"), *list(_tree(graph, user, root))]
    for graph_id, parent, name in folders:
        yield FolderSeen(graph_id, parent, name, "contacts" if graph_id == root else "")
    for graph_id in set(context.current_folders) - {f[0] for f in folders}:
        yield FolderRemoved(graph_id)
    old = context.previous_delta_state.get("folders", {})
    links = {}
    for graph_id, _parent, _name in folders:
        links[graph_id] = yield from _folder(context, user, graph_id, old.get(graph_id))
    context.delta_state = {"folders": links}


def _root_id(graph: GraphClient, user: str) -> str | None:
    for folder in graph.iterate(
        f"{user}/contactFolders", **{"$select": "id,parentFolderId", "$top": "1"}
    ):
        if folder.get("parentFolderId"):
            return str(folder["parentFolderId"])
    for contact in graph.get(
        f"{user}/contacts", **{"$select": "id,parentFolderId", "$top": "1"}
    ).get("value", []):
        return str(contact["parentFolderId"])
    return None


def _tree(graph: GraphClient, user: str, root: str) -> Iterator[tuple[str, str, str]]:
    level = [(root, f"{user}/contactFolders")]
    while level:
        following = []
        for parent, path in level:
            for entry in graph.iterate(path, **{"$top": "100"}):
                yield str(entry["id"]), parent, str(entry.get("displayName") or "")
                following.append(
                    (str(entry["id"]), f"{user}/contactFolders/{entry['id']}/childFolders")
                )
        level = following


def _folder(
    context: Context, user: str, folder_id: str, link: str | None
) -> Generator[Change, None, str]:
    start = f"{user}/contactFolders/{folder_id}/contacts/delta?$select={SELECT}"
    return (
        yield from delta_with_resync(
            lambda url, full: _rounds(context, user, folder_id, url, full=full), start, link
        )
    )


def _rounds(
    context: Context, user: str, folder_id: str, url: str, *, full: bool
) -> Generator[Change, None, str]:
    def changed(contacts: list[dict[str, Any]]) -> Iterator[Change]:
        photos = context.graph.get_many(
            {str(n): f"/{user}/contacts/{e['id']}/photo/$value" for n, e in enumerate(contacts)}
        )
        for n, entry in enumerate(contacts):
            status, body = photos.get(str(n), (404, None))
            photo = base64.b64decode(body) if status == 200 and isinstance(body, str) else None
            if status >= 400 and status != 404:
                raise GraphError.from_batch(status, body)
            yield _contact(context, folder_id, entry, photo)

    return (
        yield from delta_pages(
            context,
            url,
            folder_id,
            lambda entry: entry.get("changeKey"),
            changed,
            full=full,
            page_size=DELTA_PAGE,
        )
    )


def _address(address: dict[str, Any] | None) -> str:
    parts = [
        str((address or {}).get(k) or "")
        for k in ("street", "city", "state", "postalCode", "countryOrRegion")
    ]
    return ", ".join(p for p in parts if p)


def _contact(
    context: Context, folder_id: str, entry: dict[str, Any], photo: bytes | None
) -> ItemSeen:
    raw = json.dumps(entry, sort_keys=True).encode()
    address, size = context.store_content([raw])
    photo_meta = None
    if photo:
        photo_address, photo_size = context.store_content([photo])
        photo_meta = {"blob": photo_address, "size": photo_size}
        size += photo_size
    emails = [e for e in entry.get("emailAddresses") or [] if isinstance(e, dict)]
    phones = [*(entry.get("businessPhones") or []), *(entry.get("homePhones") or [])]
    if entry.get("mobilePhone"):
        phones.append(entry["mobilePhone"])
    places = [_address(entry.get(k)) for k in ("businessAddress", "homeAddress", "otherAddress")]
    name = str(
        entry.get("displayName")
        or " ".join(str(entry.get(k) or "") for k in ("givenName", "surname")).strip()
    )
    modified = parse_datetime(str(entry.get("lastModifiedDateTime") or "")) or timezone.now()
    search = [
        name, str(entry.get("companyName") or ""), str(entry.get("jobTitle") or ""),
        *(str(e.get("address") or "") for e in emails), *map(str, phones),
        *(p for p in places if p), str(entry.get("personalNotes") or ""),
    ]  # fmt: skip
    return ItemSeen(
        graph_id=entry["id"],
        folder_graph_id=folder_id,
        fields={
            "name": name[:1000],
            "sender": str(entry.get("companyName") or "")[:640],
            "recipients": "; ".join(str(e.get("address") or "") for e in emails),
            "sent_at": None,
            "dated_at": modified,
            "size": size,
            "has_attachments": bool(photo_meta),
            "content_sha256": address,
            "body_text": "\n".join(s for s in search if s)[:65536],
            "meta": {
                "companyName": entry.get("companyName") or "",
                "jobTitle": entry.get("jobTitle") or "",
                "emailAddresses": emails,
                "phones": phones,
                "addresses": [p for p in places if p],
                "photo": photo_meta,
                "changeKey": entry.get("changeKey", ""),
            },
        },
        version=str(entry.get("changeKey") or ""),
        match_key="",
    )
