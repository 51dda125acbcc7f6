"""Outlook mail through Graph: folders, messages, delta, MIME, extended properties, attachments.

Restores depend on three Exchange behaviours emulated here:
- a message created from JSON is a draft unless PR_MESSAGE_FLAGS (Integer 0x0E07) is
  given without MSGFLAG_UNSENT (0x8) in the same request; 0x1 (MSGFLAG_READ) makes it read;
  SystemTime 0x0039 and 0x0E06 set sentDateTime and receivedDateTime;
- a message created from MIME is always a draft;
- custom extended properties are stored, filterable with `singleValueExtendedProperties/any`
  and returned with `$expand=singleValueExtendedProperties($filter=id eq '...')`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.http import HttpResponse
from django.utils import timezone

from sandbox.graph import errors, ids, mime, odata
from sandbox.graph.call import Call, json_response
from sandbox.graph.odata import Field
from sandbox.graph.text import preview
from sandbox.models import (
    Attachment,
    DirectoryUser,
    ExtendedProperty,
    MailChange,
    MailFolder,
    Message,
)

# Well-known folder names, their display names, and whether they show in the folder tree.
WELL_KNOWN = {
    "msgfolderroot": ("Top of Information Store", False),
    "inbox": ("Inbox", True),
    "drafts": ("Drafts", True),
    "sentitems": ("Sent Items", True),
    "deleteditems": ("Deleted Items", True),
    "archive": ("Archive", True),
    "junkemail": ("Junk Email", True),
    "outbox": ("Outbox", True),
    "recoverableitemsdeletions": ("Deletions", False),
}

MSGFLAG_READ, MSGFLAG_UNSENT, MSGFLAG_HASATTACH = 0x1, 0x8, 0x10
PR_MESSAGE_FLAGS = "integer 0x0e07"
PR_CLIENT_SUBMIT_TIME = "systemtime 0x0039"
PR_MESSAGE_DELIVERY_TIME = "systemtime 0x0e06"
PR_SENSITIVITY = "integer 0x0036"
BUILT_IN_PROPERTIES = {
    PR_MESSAGE_FLAGS,
    PR_CLIENT_SUBMIT_TIME,
    PR_MESSAGE_DELIVERY_TIME,
    PR_SENSITIVITY,
}
# Simple attachments go in one POST below this size; larger ones need an upload session.
MAX_SIMPLE_ATTACHMENT = 3 * 1024 * 1024

MESSAGE_FIELDS = {
    "id": Field("id"),
    "subject": Field("subject"),
    "receiveddatetime": Field("received_at", "datetime"),
    "sentdatetime": Field("sent_at", "datetime"),
    "createddatetime": Field("created_at", "datetime"),
    "lastmodifieddatetime": Field("modified_at", "datetime"),
    "isread": Field("is_read", "bool"),
    "isdraft": Field("is_draft", "bool"),
    "hasattachments": Field("has_attachments", "bool"),
    "importance": Field("importance"),
    "internetmessageid": Field("internet_message_id"),
    "conversationid": Field("conversation_id"),
    "parentfolderid": Field("folder_id"),
    "from/emailaddress/address": Field("from_address__emailAddress__address"),
    "sender/emailaddress/address": Field("sender__emailAddress__address"),
}


# --- Property ids ------------------------------------------------------------------------


def property_key(property_id: str) -> str:
    """Extended property ids compare case-insensitively, and 0xE07 is 0x0E07."""
    parts = property_id.split()
    if len(parts) == 2 and parts[1].lower().startswith("0x"):
        try:
            return f"{parts[0].lower()} 0x{int(parts[1], 16):04x}"
        except ValueError:
            pass
    return " ".join(parts).lower()


def _int_value(value: Any, property_id: str) -> int:
    try:
        return int(str(value), 0) if str(value).lower().startswith("0x") else int(str(value))
    except ValueError:
        raise errors.bad_request(
            f"The value '{value}' of extended property '{property_id}' is not an Integer.",
            "ErrorInvalidExtendedPropertyValue",
        ) from None


def _time_value(value: Any, property_id: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise errors.bad_request(
            f"The value '{value}' of extended property '{property_id}' is not a SystemTime.",
            "ErrorInvalidExtendedPropertyValue",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Folders -----------------------------------------------------------------------------


def ensure_well_known(mailbox: DirectoryUser, name: str) -> MailFolder:
    """A well-known folder, created on first use (every mailbox has them)."""
    folder = MailFolder.objects.filter(mailbox=mailbox, well_known_name=name).first()
    if folder:
        return folder
    display_name, visible = WELL_KNOWN[name]
    root = (
        None
        if name in ("msgfolderroot", "recoverableitemsdeletions")
        else ensure_well_known(mailbox, "msgfolderroot")
    )
    return MailFolder.objects.create(
        id=ids.folder_id(),
        mailbox=mailbox,
        parent=root,
        display_name=display_name,
        well_known_name=name,
        is_hidden=not visible,
    )


def folder_for(call: Call, reference: str) -> MailFolder:
    name = reference.lower()
    if name in WELL_KNOWN:
        return ensure_well_known(call.owner, name)
    folder = MailFolder.objects.filter(mailbox=call.owner, id=reference).first()
    if folder is None:
        raise errors.not_found(errors.MAIL)
    return folder


def folder_json(folder: MailFolder, counts: dict[str, Any]) -> dict[str, Any]:
    total, unread, children = counts.get(folder.id, (0, 0, 0))
    return {
        "id": folder.id,
        "displayName": folder.display_name,
        "parentFolderId": folder.parent_id,
        "childFolderCount": children,
        "unreadItemCount": unread,
        "totalItemCount": total,
        "isHidden": folder.is_hidden,
    }


def _counts(folders: list[MailFolder]) -> dict[str, tuple[int, int, int]]:
    folder_ids = [f.id for f in folders]
    messages = {
        row["folder_id"]: (row["total"], row["unread"])
        for row in Message.objects.filter(folder_id__in=folder_ids)
        .values("folder_id")
        .annotate(total=Count("id"), unread=Count("id", filter=Q(is_read=False)))
    }
    children = {
        row["parent_id"]: row["n"]
        for row in MailFolder.objects.filter(parent_id__in=folder_ids, is_hidden=False)
        .values("parent_id")
        .annotate(n=Count("id"))
    }
    return {fid: (*messages.get(fid, (0, 0)), children.get(fid, 0)) for fid in folder_ids}


def list_folders(call: Call) -> HttpResponse:
    parent = folder_for(call, call.params.get("folder", "msgfolderroot"))
    folders = list(
        MailFolder.objects.filter(parent=parent, is_hidden=False).order_by("display_name", "id")
    )
    counts = _counts(folders)
    select = odata.selected(call.request)
    return json_response(
        {"value": [odata.apply_select(folder_json(f, counts), select) for f in folders]}
    )


def get_folder(call: Call) -> HttpResponse:
    folder = folder_for(call, call.params["folder"])
    return json_response(
        odata.apply_select(folder_json(folder, _counts([folder])), odata.selected(call.request))
    )


def create_folder(call: Call) -> HttpResponse:
    parent = folder_for(call, call.params.get("folder", "msgfolderroot"))
    name = str(call.json().get("displayName") or "").strip()
    if not name:
        raise errors.bad_request("The folder name can't be empty.", "ErrorInvalidFolderName")
    if MailFolder.objects.filter(parent=parent, display_name__iexact=name).exists():
        raise errors.GraphError(
            409, "ErrorFolderExists", "A folder with the specified name already exists."
        )
    folder = MailFolder.objects.create(
        id=ids.folder_id(),
        mailbox=call.owner,
        parent=parent,
        display_name=name,
        is_hidden=bool(call.json().get("isHidden", False)),
    )
    return json_response(folder_json(folder, {}), status=201)


# --- Building messages -------------------------------------------------------------------


def _email_address(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not isinstance(value.get("emailAddress"), dict):
        return None
    address = value["emailAddress"]
    return {
        "emailAddress": {
            "name": address.get("name") or address.get("address") or "",
            "address": address.get("address") or "",
        }
    }


def _recipients(values: Any) -> list[dict[str, Any]]:
    return [r for r in (_email_address(v) for v in values or []) if r]


def conversation_id(subject: str) -> str:
    topic = re.sub(r"^((re|fw|fwd|aw|wg)\s*:\s*)+", "", subject.strip(), flags=re.IGNORECASE)
    digest = hashlib.sha256(topic.lower().encode()).digest()[:30]
    return "AAQkAD" + base64.urlsafe_b64encode(digest).decode("ascii")


def new_message_id_header(mailbox: DirectoryUser) -> str:
    domain = mailbox.user_principal_name.partition("@")[2] or "sandbox.example"
    return f"<{ids.change_key()[10:26].replace('-', 'a').replace('_', 'b')}@{domain}>"


def build_message(
    mailbox: DirectoryUser,
    folder: MailFolder,
    data: dict[str, Any],
    *,
    message_id: str | None = None,
    now: datetime | None = None,
) -> tuple[Message, list[ExtendedProperty], list[Attachment]]:
    """Model rows for a message from its Graph JSON (as POSTed, or as the seed generates).

    Unsaved, so the seed can bulk-insert them. Raises GraphError for what Graph refuses.
    """
    now = now or timezone.now()
    message_id = message_id or ids.message_id()
    properties: list[ExtendedProperty] = []
    flags: int | None = None
    sent_at = received_at = None
    sensitivity = 0
    for prop in data.get("singleValueExtendedProperties") or []:
        if not isinstance(prop, dict) or "id" not in prop:
            raise errors.bad_request("An extended property needs an id and a value.")
        property_id, value = str(prop["id"]), prop.get("value")
        key = property_key(property_id)
        if key == PR_MESSAGE_FLAGS:
            flags = _int_value(value, property_id)
        elif key == PR_CLIENT_SUBMIT_TIME:
            sent_at = _time_value(value, property_id)
        elif key == PR_MESSAGE_DELIVERY_TIME:
            received_at = _time_value(value, property_id)
        elif key == PR_SENSITIVITY:
            sensitivity = _int_value(value, property_id)
        else:
            text = "" if value is None else str(value)
            if len(text) > 1000:
                raise errors.bad_request(
                    "The sandbox keeps extended property values up to 1,000 characters.",
                    "ErrorInvalidExtendedPropertyValue",
                )
            properties.append(
                ExtendedProperty(
                    message_id=message_id, property_id=property_id, key=key, value=text
                )
            )
    headers = data.get("internetMessageHeaders") or []
    for header in headers:
        name = str((header or {}).get("name", ""))
        if not name.lower().startswith("x-") and not data.get("_trusted_headers"):
            raise errors.bad_request(
                f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
                "InvalidInternetMessageHeader",
            )
    is_draft = flags is None or bool(flags & MSGFLAG_UNSENT)
    # A draft is read unless said otherwise; PR_MESSAGE_FLAGS decides when it is given.
    is_read = bool(flags & MSGFLAG_READ) if flags is not None else bool(data.get("isRead", True))
    body = data.get("body") or {}
    content_type = "html" if str(body.get("contentType", "text")).lower() == "html" else "text"
    content = str(body.get("content") or "")
    subject = str(data.get("subject") or "")
    owner = {
        "emailAddress": {
            "name": mailbox.display_name,
            "address": mailbox.mail or mailbox.user_principal_name,
        }
    }
    sender = _email_address(data.get("from")) or _email_address(data.get("sender"))
    attachments = []
    for index, item in enumerate(data.get("attachments") or []):
        attachments.append(
            attachment_from_json(message_id, item, seed=data.get("_seed"), index=index)
        )
    message = Message(
        id=message_id,
        mailbox=mailbox,
        folder=folder,
        subject=subject,
        body_content_type=content_type,
        body=content,
        body_preview=preview(content, content_type),
        from_address=sender or (None if is_draft else owner),
        sender=_email_address(data.get("sender")) or sender or (None if is_draft else owner),
        to_recipients=_recipients(data.get("toRecipients")),
        cc_recipients=_recipients(data.get("ccRecipients")),
        bcc_recipients=_recipients(data.get("bccRecipients")),
        reply_to=_recipients(data.get("replyTo")),
        sent_at=sent_at or (None if is_draft else now),
        received_at=received_at or now,
        created_at=now,
        modified_at=now,
        is_read=is_read,
        is_draft=is_draft,
        importance=str(data.get("importance") or "normal").lower(),
        sensitivity=sensitivity,
        internet_message_id=str(data.get("internetMessageId") or "")
        or new_message_id_header(mailbox),
        conversation_id=conversation_id(subject),
        internet_message_headers=headers,
        categories=list(data.get("categories") or []),
        has_attachments=any(not a.is_inline for a in attachments),
        change_key=ids.change_key(),
    )
    return message, properties, attachments


def attachment_from_json(
    message_id: str, data: Any, *, seed: str | None = None, index: int = 0
) -> Attachment:
    if not isinstance(data, dict):
        raise errors.bad_request("An attachment must be a JSON object.")
    kind = str(data.get("@odata.type", "#microsoft.graph.fileAttachment"))
    if kind.lower() != "#microsoft.graph.fileattachment":
        raise errors.bad_request(f"The sandbox stores file attachments only, not {kind}.")
    raw = data.get("_data")
    if raw is None:
        try:
            raw = base64.b64decode(str(data.get("contentBytes") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise errors.bad_request(
                "The contentBytes are not valid base64.", "ErrorInvalidRequest"
            ) from None
    name = str(data.get("name") or "").strip()
    if not name:
        raise errors.bad_request("The attachment needs a name.", "ErrorInvalidRequest")
    return Attachment(
        id=ids.attachment_id(f"{seed}:{index}" if seed else None),
        message_id=message_id,
        name=name,
        content_type=str(data.get("contentType") or "application/octet-stream"),
        size=len(raw),
        is_inline=bool(data.get("isInline", False)),
        content_id=str(data.get("contentId") or ""),
        data=raw,
    )


def record_change(folder_id: str, message_id: str) -> None:
    MailChange.objects.create(folder_id=folder_id, message_id=message_id)


# --- Serialising -------------------------------------------------------------------------

# Returned only when asked for with $select, as in Graph.
ON_REQUEST_ONLY = {"internetMessageHeaders", "uniqueBody"}


def _virtual_properties(message: Message) -> dict[str, tuple[str, str | None]]:
    flags = (MSGFLAG_READ if message.is_read else 0) | (MSGFLAG_UNSENT if message.is_draft else 0)
    flags |= MSGFLAG_HASATTACH if message.has_attachments else 0
    values: dict[str, tuple[str, str | None]] = {
        PR_MESSAGE_FLAGS: ("Integer 0xe07", str(flags)),
        PR_SENSITIVITY: ("Integer 0x36", str(message.sensitivity)),
    }
    if message.sent_at:
        values[PR_CLIENT_SUBMIT_TIME] = ("SystemTime 0x39", format_time(message.sent_at))
    if message.received_at:
        values[PR_MESSAGE_DELIVERY_TIME] = ("SystemTime 0xe06", format_time(message.received_at))
    return values


def message_json(
    message: Message, *, select: list[str] | None = None, expand: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "@odata.etag": f'W/"{message.change_key}"',
        "id": message.id,
        "createdDateTime": format_time(message.created_at),
        "lastModifiedDateTime": format_time(message.modified_at),
        "changeKey": message.change_key,
        "categories": message.categories,
        "receivedDateTime": format_time(message.received_at),
        "sentDateTime": format_time(message.sent_at),
        "hasAttachments": message.has_attachments,
        "internetMessageId": message.internet_message_id,
        "subject": message.subject,
        "bodyPreview": message.body_preview,
        "importance": message.importance,
        "parentFolderId": message.folder_id,
        "conversationId": message.conversation_id,
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": message.is_read,
        "isDraft": message.is_draft,
        "webLink": f"https://outlook.office365.com/owa/?ItemID={message.id}&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused",
        "body": {"contentType": message.body_content_type, "content": message.body},
        "sender": message.sender,
        "from": message.from_address,
        "toRecipients": message.to_recipients,
        "ccRecipients": message.cc_recipients,
        "bccRecipients": message.bcc_recipients,
        "replyTo": message.reply_to,
        "flag": {"flagStatus": message.flag_status},
        "internetMessageHeaders": message.internet_message_headers,
    }
    wanted = {s.lower() for s in select} if select else None
    if wanted is None:
        for name in ON_REQUEST_ONLY:
            body.pop(name, None)
    else:
        body = {
            k: v for k, v in body.items() if k.startswith("@") or k == "id" or k.lower() in wanted
        }
    expand = expand or {}
    if "singlevalueextendedproperties" in expand:
        wanted_ids = expand["singlevalueextendedproperties"]
        found: list[dict[str, str | None]] = [
            {"id": p.property_id, "value": p.value}
            for p in message.extended_properties.all()
            if wanted_ids is None or p.key in wanted_ids
        ]
        for key, (property_id, value) in _virtual_properties(message).items():
            if wanted_ids is not None and key in wanted_ids:
                found.append({"id": property_id, "value": value})
        if found:
            body["singleValueExtendedProperties"] = found
    if "attachments" in expand:
        fields = expand["attachments"]
        attachments = [
            attachment_json(a, with_content=fields is None or "contentbytes" in fields)
            for a in message.attachments.all()
        ]
        if fields is not None:
            keep = fields | {"id"}
            attachments = [
                {k: v for k, v in a.items() if k.startswith("@") or k.lower() in keep}
                for a in attachments
            ]
        body["attachments"] = attachments
    return body


def attachment_json(attachment: Attachment, *, with_content: bool = True) -> dict[str, Any]:
    body = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "@odata.mediaContentType": attachment.content_type,
        "id": attachment.id,
        "lastModifiedDateTime": format_time(attachment.modified_at),
        "name": attachment.name,
        "contentType": attachment.content_type,
        "size": attachment.size,
        "isInline": attachment.is_inline,
        "contentId": attachment.content_id or None,
        "contentLocation": None,
    }
    if with_content:
        body["contentBytes"] = base64.b64encode(bytes(attachment.data)).decode("ascii")
    return body


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def expansions(call: Call) -> dict[str, Any]:
    """$expand=attachments,singleValueExtendedProperties($filter=id eq '...')."""
    result: dict[str, Any] = {}
    for part in _split_top_level(call.query.get("$expand", "")):
        name, _, options = part.partition("(")
        name = name.strip().lower()
        if name == "attachments":
            # attachments($select=name,size): only those (and no content unless selected).
            options = options.rstrip(")").strip()
            if options and not options.lower().startswith("$select="):
                raise errors.bad_request(f"Unsupported option in $expand: '{options}'.")
            selected = options[len("$select=") :] if options else ""
            result[name] = {f.strip().lower() for f in selected.split(",") if f.strip()} or None
        elif name == "singlevalueextendedproperties":
            options = options.rstrip(")").strip()
            if not options:
                result[name] = None
                continue
            if not options.lower().startswith("$filter="):
                raise errors.bad_request(f"Unsupported option in $expand: '{options}'.")
            tree = odata.FilterParser(options[len("$filter=") :]).parse()
            result[name] = _ids_in(tree)
        else:
            raise errors.bad_request(
                f"Parsing OData Select and Expand failed: Could not find a property named '{name}'."
            )
    return result


def _ids_in(tree: Any) -> set[str]:
    if isinstance(tree, tuple) and tree[0] == "or":
        return _ids_in(tree[1]) | _ids_in(tree[2])
    if isinstance(tree, tuple) and tree[0] == "cmp" and tree[1] == "eq":
        name, literal = tree[2], tree[3]
        if (
            isinstance(name, odata.Name)
            and name.path.lower() == "id"
            and isinstance(literal, odata.Literal)
        ):
            return {property_key(str(literal.value))}
    raise errors.bad_request("The $filter of an expanded extended property must be id eq '...'.")


def _extended_any(collection: str, variable: str, body: Any) -> Q:
    """singleValueExtendedProperties/any(ep: ep/id eq '...' and ep/value eq '...')."""
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
                attribute = name.path.lower().removeprefix(variable.lower() + "/")
                if attribute in ("id", "value"):
                    conditions[attribute] = str(literal.value)
                    return
        raise errors.bad_request(
            "Invalid filter clause: use ep/id eq '...' and ep/value eq '...' in the lambda."
        )

    collect(body)
    if "id" not in conditions:
        raise errors.bad_request("Invalid filter clause: the lambda must compare ep/id.")
    matching = ExtendedProperty.objects.filter(
        message=OuterRef("pk"), key=property_key(conditions["id"])
    )
    if "value" in conditions:
        matching = matching.filter(value=conditions["value"])
    return Q(Exists(matching))


def _message_for(call: Call) -> Message:
    message = (
        Message.objects.filter(mailbox=call.owner, id=call.params["message"])
        .select_related("folder")
        .first()
    )
    if message is None:
        raise errors.not_found(errors.MAIL)
    if (folder_ref := call.params.get("folder")) and folder_for(
        call, folder_ref
    ).id != message.folder_id:
        raise errors.not_found(errors.MAIL)
    return message


def _prefetch(rows: Any, expand: dict[str, Any]) -> Any:
    if "singlevalueextendedproperties" in expand:
        rows = rows.prefetch_related("extended_properties")
    if "attachments" in expand:
        rows = rows.prefetch_related("attachments")
    return rows


# --- Message operations ------------------------------------------------------------------


def list_messages(call: Call) -> HttpResponse:
    rows = Message.objects.filter(mailbox=call.owner)
    if folder_ref := call.params.get("folder"):
        rows = rows.filter(folder=folder_for(call, folder_ref))
    else:
        # /messages spans the visible mailbox, not Recoverable Items.
        rows = rows.exclude(folder__well_known_name="recoverableitemsdeletions")
    rows = rows.filter(odata.filter_q(call.request, MESSAGE_FIELDS, _extended_any))
    rows = rows.order_by(*odata.order_by(call.request, MESSAGE_FIELDS, ["-received_at", "id"]))
    expand = expansions(call)
    rows = _prefetch(rows, expand)
    top = odata.integer_option(call.request, "$top", 10, 1000)
    skip = odata.skip_of(call.request)
    page, next_link = odata.page(
        call.request, list(rows[skip : skip + top + 1]), top=top, skip=skip
    )
    select = odata.selected(call.request)
    body: dict[str, Any] = {"value": [message_json(m, select=select, expand=expand) for m in page]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return json_response(body)


def get_message(call: Call) -> HttpResponse:
    message = _message_for(call)
    return json_response(
        message_json(message, select=odata.selected(call.request), expand=expansions(call))
    )


def message_mime(call: Call) -> HttpResponse:
    message = _message_for(call)
    return HttpResponse(mime.build(message), content_type="text/plain")


def _decode_mime(call: Call) -> bytes:
    raw = call.request.read()
    try:
        return base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise errors.bad_request(
            "Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String"
        ) from None


@transaction.atomic
def create_message(call: Call) -> HttpResponse:
    content_type = call.request.content_type or ""
    if content_type == "text/plain":
        if "folder" in call.params:
            raise errors.bad_request(
                "MIME content is accepted only by POST /messages, not in a mail folder.",
                "ErrorMimeContentNotSupported",
            )
        parsed = mime.parse(_decode_mime(call))
        data = {
            "subject": parsed["subject"],
            "body": parsed["body"],
            "from": parsed["from"],
            "toRecipients": parsed["toRecipients"],
            "ccRecipients": parsed["ccRecipients"],
            "bccRecipients": parsed["bccRecipients"],
            "internetMessageId": parsed["internetMessageId"],
            "internetMessageHeaders": parsed["headers"],
            "_trusted_headers": True,
            "attachments": [
                {
                    "name": a["name"],
                    "contentType": a["contentType"],
                    "_data": a["data"],
                    "isInline": a["isInline"],
                    "contentId": a["contentId"],
                }
                for a in parsed["attachments"]
            ],
        }
        folder = ensure_well_known(call.owner, "drafts")
        message, properties, attachments = build_message(call.owner, folder, data)
        # MIME-created items are always drafts: PR_MESSAGE_FLAGS can't be set this way.
        # Exchange regenerates MIME from the stored item; the posted bytes are not kept.
        message.is_draft, message.sent_at = True, parsed["sentDateTime"]
    elif content_type in ("application/json", ""):
        folder = folder_for(call, call.params.get("folder", "drafts"))
        message, properties, attachments = build_message(call.owner, folder, call.json())
    else:
        raise errors.bad_request(
            f"Content-Type '{content_type}' is not supported here.", "UnsupportedMediaType"
        )
    save_new_message(message, properties, attachments)
    return json_response(message_json(message), status=201)


@transaction.atomic
def save_new_message(
    message: Message, properties: list[ExtendedProperty], attachments: list[Attachment]
) -> Message:
    """Store a message built by build_message, as its arrival in the folder."""
    message.save()
    ExtendedProperty.objects.bulk_create(properties)
    Attachment.objects.bulk_create(attachments)
    record_change(message.folder_id, message.id)
    return message


def update_message(call: Call) -> HttpResponse:
    message = _message_for(call)
    data = call.json()
    draft_only = {
        "subject",
        "body",
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
        "from",
        "sender",
        "replyTo",
        "internetMessageId",
    }
    for name in data:
        if name in draft_only and not message.is_draft:
            raise errors.bad_request(
                f"The property '{name}' can be changed only on a draft.",
                "ErrorInvalidPropertyUpdateSentMessage",
            )
    if "isRead" in data:
        message.is_read = bool(data["isRead"])
    if "categories" in data:
        message.categories = list(data["categories"] or [])
    if "importance" in data:
        message.importance = str(data["importance"]).lower()
    if isinstance(data.get("flag"), dict) and "flagStatus" in data["flag"]:
        message.flag_status = str(data["flag"]["flagStatus"])
    if "subject" in data:
        message.subject = str(data["subject"] or "")
        message.conversation_id = conversation_id(message.subject)
    if isinstance(data.get("body"), dict):
        message.body_content_type = (
            "html" if str(data["body"].get("contentType", "")).lower() == "html" else "text"
        )
        message.body = str(data["body"].get("content") or "")
        message.body_preview = preview(message.body, message.body_content_type)
    for name, field in (
        ("toRecipients", "to_recipients"),
        ("ccRecipients", "cc_recipients"),
        ("bccRecipients", "bcc_recipients"),
        ("replyTo", "reply_to"),
    ):
        if name in data:
            setattr(message, field, _recipients(data[name]))
    with transaction.atomic():
        for prop in data.get("singleValueExtendedProperties") or []:
            key = property_key(str(prop.get("id", "")))
            # PR_MESSAGE_FLAGS and the other built-in ones are read-only once saved
            # (MS-OXCMSG 2.2.1.6); Exchange leaves them as they are.
            if key in BUILT_IN_PROPERTIES:
                continue
            ExtendedProperty.objects.update_or_create(
                message=message,
                key=key,
                defaults={"property_id": str(prop["id"]), "value": str(prop.get("value") or "")},
            )
        message.modified_at = timezone.now()
        message.change_key = ids.change_key()
        message.save()
        record_change(message.folder_id, message.id)
    return json_response(message_json(message))


def _immutable_ids(call: Call) -> bool:
    return 'idtype="immutableid"' in call.request.headers.get("Prefer", "").lower()


def _move(call: Call, message: Message, destination: MailFolder) -> Message:
    return move_message(message, destination, keep_id=_immutable_ids(call))


@transaction.atomic
def move_message(message: Message, destination: MailFolder, *, keep_id: bool = False) -> Message:
    """Move a message; Exchange gives it a new id unless the client asked for immutable ids."""
    old_folder, old_id = message.folder_id, message.id
    new_id = old_id if keep_id else ids.message_id()
    if new_id != old_id:
        properties = list(message.extended_properties.all())
        attachments = list(message.attachments.all())
        message.pk = new_id
    message.folder = destination
    message.modified_at = timezone.now()
    message.change_key = ids.change_key()
    message.save()
    if new_id != old_id:
        ExtendedProperty.objects.filter(pk__in=[p.pk for p in properties]).update(message_id=new_id)
        Attachment.objects.filter(pk__in=[a.pk for a in attachments]).update(message_id=new_id)
        Message.objects.filter(pk=old_id).delete()
    record_change(old_folder, old_id)
    record_change(destination.id, new_id)
    return message


@transaction.atomic
def _copy(message: Message, destination: MailFolder) -> Message:
    properties = list(message.extended_properties.all())
    attachments = list(message.attachments.all())
    message.pk = ids.message_id()
    message.folder = destination
    message.created_at = message.modified_at = timezone.now()
    message.change_key = ids.change_key()
    message.save(force_insert=True)
    for prop in properties:
        prop.pk, prop.message_id = None, message.pk
    for attachment in attachments:
        attachment.pk, attachment.message_id = ids.attachment_id(), message.pk
    ExtendedProperty.objects.bulk_create(properties)
    Attachment.objects.bulk_create(attachments)
    record_change(destination.id, message.pk)
    return message


def move_or_copy(call: Call) -> HttpResponse:
    message = _message_for(call)
    destination_ref = str(call.json().get("destinationId") or "")
    if not destination_ref:
        raise errors.bad_request("Empty destinationId.", "ErrorInvalidIdMalformed")
    destination = folder_for(call, destination_ref)
    if call.params["action"].lower() == "move":
        result = _move(call, message, destination)
    else:
        result = _copy(message, destination)
    return json_response(message_json(result), status=201)


def delete_message(call: Call) -> HttpResponse:
    """DELETE is a soft delete: the item goes to Recoverable Items (Deletions), not to
    Deleted Items; deleting it there removes it."""
    message = _message_for(call)
    deletions = ensure_well_known(call.owner, "recoverableitemsdeletions")
    if message.folder_id == deletions.id:
        return permanent_delete(call)
    soft_delete(message, keep_id=_immutable_ids(call))
    return HttpResponse(status=204)


def soft_delete(message: Message, *, keep_id: bool = False) -> Message:
    """What DELETE does to a visible message: off to Recoverable Items (Deletions)."""
    deletions = ensure_well_known(message.mailbox, "recoverableitemsdeletions")
    return move_message(message, deletions, keep_id=keep_id)


def permanent_delete(call: Call) -> HttpResponse:
    message = _message_for(call)
    with transaction.atomic():
        record_change(message.folder_id, message.id)
        message.delete()
    return HttpResponse(status=204)


# --- Delta -------------------------------------------------------------------------------


def delta(call: Call) -> HttpResponse:
    """Per-folder messages/delta: a first round lists the folder, later rounds the changes."""
    folder = folder_for(call, call.params["folder"])
    size = odata.max_page_size(call.request, default=10, maximum=1000)
    token = call.query.get("$deltatoken") or call.query.get("$skiptoken")
    state = odata.unpack(token) if token else None
    if state is not None and state.get("folder") != folder.id:
        raise errors.bad_request("The delta token belongs to another folder.", "SyncStateInvalid")
    select = odata.selected(call.request)
    latest = MailChange.objects.aggregate(m=Max("id"))["m"] or 0
    items: list[dict[str, Any]] = []
    if state is None or state.get("phase") == "initial":
        watermark = state["watermark"] if state else latest
        after = state.get("after", "") if state else ""
        rows = list(Message.objects.filter(folder=folder, id__gt=after).order_by("id")[: size + 1])
        more = len(rows) > size
        items = [
            {"@odata.type": "#microsoft.graph.message", **message_json(m, select=select)}
            for m in rows[:size]
        ]
        if more:
            next_state = {
                "folder": folder.id,
                "phase": "initial",
                "watermark": watermark,
                "after": rows[size - 1].id,
            }
            return _delta_page(call, items, next_state, final=False)
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
        MailChange.objects.filter(folder_id=folder.id, id__gt=watermark, id__lte=upper)
        .values("message_id")
        .annotate(last=Max("id"))
        .filter(last__gt=after)
        .order_by("last")[: size + 1]
    )
    page = changes[:size]
    present = {
        m.id: m
        for m in Message.objects.filter(folder=folder, id__in=[c["message_id"] for c in page])
    }
    for change in page:
        message = present.get(change["message_id"])
        if message is None:
            items.append(
                {
                    "@odata.type": "#microsoft.graph.message",
                    "id": change["message_id"],
                    "@removed": {"reason": "deleted"},
                }
            )
        else:
            items.append(
                {"@odata.type": "#microsoft.graph.message", **message_json(message, select=select)}
            )
    if len(changes) > size:
        next_state = {
            "folder": folder.id,
            "phase": "changes",
            "watermark": watermark,
            "upper": upper,
            "after": page[-1]["last"],
        }
        return _delta_page(call, items, next_state, final=False)
    return _delta_page(
        call, items, {"folder": folder.id, "phase": "changes", "watermark": upper}, final=True
    )


def _delta_page(
    call: Call, items: list[dict[str, Any]], state: dict[str, Any], *, final: bool
) -> HttpResponse:
    params = {k: v for k, v in call.query.items() if k not in ("$deltatoken", "$skiptoken")}
    path = odata.request_graph_path(call.request)
    if final:
        link = {
            "@odata.deltaLink": odata.graph_url(path, {**params, "$deltatoken": odata.pack(state)})
        }
    else:
        link = {
            "@odata.nextLink": odata.graph_url(path, {**params, "$skiptoken": odata.pack(state)})
        }
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
            "value": items,
            **link,
        }
    )


# --- Attachments -------------------------------------------------------------------------


def _attachment_for(call: Call) -> Attachment:
    message = _message_for(call)
    attachment = Attachment.objects.filter(message=message, id=call.params["attachment"]).first()
    if attachment is None:
        raise errors.not_found(errors.MAIL)
    return attachment


def list_attachments(call: Call) -> HttpResponse:
    message = _message_for(call)
    select = odata.selected(call.request)
    items = [
        odata.apply_select(attachment_json(a), select) for a in message.attachments.order_by("id")
    ]
    return json_response({"value": items})


def get_attachment(call: Call) -> HttpResponse:
    return json_response(
        odata.apply_select(attachment_json(_attachment_for(call)), odata.selected(call.request))
    )


def attachment_content(call: Call) -> HttpResponse:
    attachment = _attachment_for(call)
    return HttpResponse(bytes(attachment.data), content_type=attachment.content_type)


def add_attachment(call: Call) -> HttpResponse:
    message = _message_for(call)
    attachment = attachment_from_json(message.id, call.json())
    if attachment.size >= MAX_SIMPLE_ATTACHMENT:
        raise errors.GraphError(
            413,
            "ErrorRequestEntityTooLarge",
            "Attachments of 3 MB or more must be uploaded with an upload session.",
        )
    attach(message, attachment)
    return json_response(attachment_json(attachment), status=201)


def attach(message: Message, attachment: Attachment) -> None:
    """Store a new attachment of `message`: the message changes (a new change key)."""
    with transaction.atomic():
        attachment.save(force_insert=True)
        if not attachment.is_inline and not message.has_attachments:
            message.has_attachments = True
        message.modified_at = timezone.now()
        message.change_key = ids.change_key()
        message.save(update_fields=["has_attachments", "modified_at", "change_key"])
        record_change(message.folder_id, message.id)


def delete_attachment(call: Call) -> HttpResponse:
    attachment = _attachment_for(call)
    message = attachment.message
    with transaction.atomic():
        attachment.delete()
        message.has_attachments = message.attachments.filter(is_inline=False).exists()
        message.modified_at = timezone.now()
        message.save(update_fields=["has_attachments", "modified_at"])
        record_change(message.folder_id, message.id)
    return HttpResponse(status=204)
