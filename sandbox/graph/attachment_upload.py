"""Large attachments of Outlook messages: `POST …/attachments/createUploadSession`, then
PUTs of byte ranges (up to 4 MB each) to the session's uploadUrl, as Graph documents
(https://learn.microsoft.com/en-us/graph/api/attachment-createuploadsession,
https://learn.microsoft.com/graph/outlook-large-attachments).

For 3 MB to 150 MB. The uploadUrl carries its own authorization (no bearer token); the
ranges go in order, `nextExpectedRanges` naming the single next offset as Outlook does.
Each range answers 200 until the last, which attaches the file and answers 201 with a
Location naming the attachment. Every PUT is a request against the mailbox's limits and
its bytes count towards the mailbox's upload budget (throttling.charge_upload).

The session and its ranges live in the Django cache (shared by every server process):
the sandbox's stand-in for Outlook's own staging store.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox.graph import errors, throttling
from sandbox.graph.call import Call, json_response
from sandbox.graph.errors import GraphError
from sandbox.graph.mail import _message_for, attach, attachment_from_json, format_time
from sandbox.models import Message

MAX_ATTACHMENT = 150 * 1024 * 1024
MAX_RANGE = 4 * 1024 * 1024
LIFETIME = timedelta(hours=2)
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _key(session_id: str, part: str = "session") -> str:
    return f"sandbox:attachment-upload:{session_id}:{part}"


def create_session(call: Call) -> HttpResponse:
    message = _message_for(call)
    item = (call.json() or {}).get("AttachmentItem")
    if not isinstance(item, dict) or not str(item.get("name") or "").strip():
        raise errors.bad_request("AttachmentItem with a name is required.", "ErrorInvalidRequest")
    try:
        size = int(item.get("size") or 0)
    except (TypeError, ValueError):
        raise errors.bad_request("AttachmentItem needs its size.", "ErrorInvalidRequest") from None
    if not 0 < size <= MAX_ATTACHMENT:
        raise GraphError(
            413, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
            if size <= 0 else "ErrorRequestEntityTooLarge",
            "An upload session takes attachments of up to 150 MB.",
        )  # fmt: skip
    session_id = secrets.token_urlsafe(24)
    expires = timezone.now() + LIFETIME
    state = {
        "app": call.caller.app_id,
        "mailbox": str(message.mailbox_id),
        "message": message.id,
        "name": str(item["name"]).strip(),
        "contentType": str(item.get("contentType") or "application/octet-stream"),
        "isInline": bool(item.get("isInline", False)),
        "contentId": str(item.get("contentId") or ""),
        "size": size,
        "received": 0,
        "starts": [],
        "expires": format_time(expires),
    }
    cache.set(_key(session_id), state, int(LIFETIME.total_seconds()))
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": call.request.build_absolute_uri(
                reverse("sandbox:graph-message-attachment-upload", args=[session_id])
            ),
            "expirationDateTime": state["expires"],
            "nextExpectedRanges": ["0"],
        },
        status=201,
    )


def _status(state: dict[str, Any]) -> HttpResponse:
    return json_response(
        {"expirationDateTime": state["expires"], "nextExpectedRanges": [str(state["received"])]}
    )


def _put(request: HttpRequest, session_id: str, state: dict[str, Any]) -> HttpResponse:
    match = _RANGE.fullmatch(request.headers.get("Content-Range", "").strip())
    if match is None:
        raise errors.bad_request("The Content-Range header is missing or malformed.")
    start, end, total = (int(g) for g in match.groups())
    if total != state["size"] or end < start or end >= total:
        raise errors.bad_request("The Content-Range does not fit the attachment's size.")
    if end - start + 1 > MAX_RANGE:
        raise GraphError(413, "ErrorRequestEntityTooLarge", "A range may hold up to 4 MB.")
    if start != state["received"]:
        raise GraphError(416, "ErrorInvalidRange", f"The next range starts at {state['received']}.")
    data = request.read()
    if len(data) != end - start + 1:
        raise errors.bad_request("The Content-Range length does not match the bytes sent.")
    throttling.charge_upload(state["app"], state["mailbox"], len(data))
    ttl = int(LIFETIME.total_seconds())
    cache.set(_key(session_id, str(start)), data, ttl)
    state["received"] = end + 1
    state["starts"].append(start)
    if state["received"] < total:
        cache.set(_key(session_id), state, ttl)
        return _status(state)
    keys = [_key(session_id, str(s)) for s in state["starts"]]
    parts = cache.get_many(keys)
    content = b"".join(parts.get(key, b"") for key in keys)
    cache.delete_many([_key(session_id), *keys])
    if len(content) != total:
        raise GraphError(500, "ErrorInternalServerError", "The upload's ranges were lost.")
    message = Message.objects.filter(id=state["message"]).first()
    if message is None:
        raise errors.not_found(errors.MAIL)
    attachment = attachment_from_json(
        message.id,
        {
            "name": state["name"],
            "contentType": state["contentType"],
            "isInline": state["isInline"],
            "contentId": state["contentId"],
            "_data": content,
        },
    )
    attach(message, attachment)
    response = HttpResponse(status=201)
    response["Location"] = (
        f"https://outlook.office.com/api/v2.0/Users('{state['mailbox']}')/Messages('"
        f"{message.id}')/Attachments('{attachment.id}')"
    )
    return response


@csrf_exempt
def upload(request: HttpRequest, session_id: str) -> HttpResponse:
    """The uploadUrl: PUT a range, GET the status, DELETE to cancel. No token needed."""
    try:
        state = cache.get(_key(session_id))
        if state is None:
            raise GraphError(404, "ErrorItemNotFound", "The upload session was not found.")
        if request.method == "GET":
            return _status(state)
        if request.method == "DELETE":
            cache.delete(_key(session_id))
            return HttpResponse(status=204)
        if request.method == "PUT":
            return _put(request, session_id, state)
        raise errors.method_not_allowed()
    except GraphError as error:
        return error.response(request)
