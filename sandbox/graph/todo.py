"""Microsoft To Do through Graph: task lists, tasks with per-list delta, checklist items,
linked resources, file attachments (small ones inline, 3 to 25 MB by upload session), open
extensions — and the attachment upload sessions of To Do tasks and Outlook events.

As documented (docs/sandbox.md, "To Do"): lists and tasks read with delegated Tasks.Read
or application Tasks.Read.All (routes.py / permissions.py); a task's id changes when it
moves to another list; `tasks/delta` is per list, like `contacts/delta` (journalled in
TodoChange); `attachments/createUploadSession` is delegated only, each PUT to its URL at
most 4 MB, the next start the single value of `nextExpectedRanges`, and the last PUT
answers 201 with the attachment's URL in `Location`.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox.graph import errors, ids, odata
from sandbox.graph.call import Call, json_response
from sandbox.graph.errors import GraphError
from sandbox.models import (
    AttachmentUpload,
    DirectoryUser,
    Event,
    EventAttachment,
    TodoAttachment,
    TodoChange,
    TodoChecklistItem,
    TodoLinkedResource,
    TodoList,
    TodoTask,
)

MAX_SIMPLE_ATTACHMENT = 3 * 1024 * 1024  # POST …/attachments
MAX_TASK_ATTACHMENT = 25 * 1024 * 1024  # a To Do attachment, by any route
MAX_EVENT_ATTACHMENT = 150 * 1024 * 1024  # an Outlook attachment by upload session
MAX_CHUNK = 4 * 1024 * 1024  # one PUT to an attachment upload session
UPLOAD_LIFETIME = timedelta(hours=1)
WRITABLE = {
    "title",
    "body",
    "importance",
    "status",
    "categories",
    "dueDateTime",
    "reminderDateTime",
    "startDateTime",
    "completedDateTime",
    "isReminderOn",
    "recurrence",
}
READ_ONLY = {
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "bodyLastModifiedDateTime",
    "hasAttachments",
    "@odata.etag",
    "@odata.type",
    "@odata.context",
}
NESTED = {"linkedResources", "extensions", "checklistItems", "attachments"}
IMPORTANCE = {"low", "normal", "high"}
STATUS = {"notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"}


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- Lists -------------------------------------------------------------------------------


def default_list(owner: DirectoryUser) -> TodoList:
    found = TodoList.objects.filter(owner=owner, wellknown="defaultList").first()
    if found is None:
        found = TodoList.objects.create(
            id=ids.folder_id(f"todo:{owner.user_principal_name}:default"),
            owner=owner,
            display_name="Tasks",
            wellknown="defaultList",
        )
    return found


def list_json(task_list: TodoList) -> dict[str, Any]:
    return {
        "@odata.etag": f'W/"{ids.change_key(task_list.id)}"',
        "id": task_list.id,
        "displayName": task_list.display_name,
        "isOwner": True,
        "isShared": False,
        "wellknownListName": task_list.wellknown,
    }


def _list_for(call: Call) -> TodoList:
    default_list(call.owner)  # To Do always has its "Tasks" list
    found = TodoList.objects.filter(owner=call.owner, id=call.params["list"]).first()
    if found is None:
        raise errors.not_found(errors.MAIL)
    return found


def list_lists(call: Call) -> HttpResponse:
    default_list(call.owner)
    rows = list(TodoList.objects.filter(owner=call.owner).order_by("created_at", "id"))
    top = odata.integer_option(call.request, "$top", 100, 1000)
    skip = odata.skip_of(call.request)
    page, link = odata.page(call.request, rows[skip : skip + top + 1], top=top, skip=skip)
    select = odata.selected(call.request)
    body: dict[str, Any] = {"value": [odata.apply_select(list_json(t), select) for t in page]}
    if link:
        body["@odata.nextLink"] = link
    return json_response(body)


def get_list(call: Call) -> HttpResponse:
    return json_response(list_json(_list_for(call)))


def create_list(call: Call) -> HttpResponse:
    name = str(call.json().get("displayName") or "").strip()
    if not name:
        raise errors.bad_request("The list needs a displayName.", "invalidRequest")
    made = TodoList.objects.create(id=ids.folder_id(), owner=call.owner, display_name=name)
    return json_response(list_json(made), status=201)


# --- Tasks -------------------------------------------------------------------------------


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in data if k not in WRITABLE | READ_ONLY | NESTED]
    if unknown:
        raise errors.bad_request(
            f"Invalid property '{unknown[0]}' in the request.", "invalidRequest"
        )
    clean = {k: v for k, v in data.items() if k in WRITABLE}
    if "importance" in clean and clean["importance"] not in IMPORTANCE:
        raise errors.bad_request(f"Invalid importance '{clean['importance']}'.", "invalidRequest")
    if "status" in clean and clean["status"] not in STATUS:
        raise errors.bad_request(f"Invalid status '{clean['status']}'.", "invalidRequest")
    for key in ("dueDateTime", "reminderDateTime", "startDateTime", "completedDateTime"):
        value = clean.get(key)
        if value is not None and not (isinstance(value, dict) and value.get("dateTime")):
            raise errors.bad_request(f"'{key}' must be a dateTimeTimeZone.", "invalidRequest")
    return clean


def record_change(list_id: str, task_id: str) -> None:
    TodoChange.objects.create(list_id=list_id, task_id=task_id)


def _touch(task: TodoTask) -> None:
    task.etag = ids.change_key()
    task.modified_at = timezone.now()
    task.save(update_fields=["etag", "modified_at"])
    record_change(task.task_list_id, task.id)


def new_task(
    owner: DirectoryUser,
    task_list: TodoList,
    data: dict[str, Any],
    *,
    task_id: str | None = None,
    now: datetime | None = None,
) -> TodoTask:
    clean = _clean(data)
    if not str(clean.get("title") or "").strip():
        raise errors.bad_request("The task needs a title.", "invalidRequest")
    extensions = []
    for extension in data.get("extensions") or []:
        name = str(extension.get("extensionName") or "")
        if not name:
            raise errors.bad_request("An open extension needs an extensionName.", "invalidRequest")
        extensions.append({k: v for k, v in extension.items() if k != "@odata.type"})
    moment = now or timezone.now()
    task = TodoTask.objects.create(
        id=task_id or ids.message_id(),
        owner=owner,
        task_list=task_list,
        data={"importance": "normal", "status": "notStarted", "isReminderOn": False, **clean},
        extensions=extensions,
        etag=ids.change_key(task_id),
        created_at=moment,
        modified_at=moment,
    )
    for resource in data.get("linkedResources") or []:
        _add_linked(task, resource)
    record_change(task_list.id, task.id)
    return task


def _task_for(call: Call) -> TodoTask:
    task_list = _list_for(call)
    found = TodoTask.objects.filter(task_list=task_list, id=call.params["task"]).first()
    if found is None:
        raise errors.not_found(errors.MAIL)
    return found


def _expanded(call: Call) -> dict[str, str]:
    """$expand=extensions($filter=id eq '…'),checklistItems,linkedResources,attachments."""
    found: dict[str, str] = {}
    for part in (p.strip() for p in call.query.get("$expand", "").split(",") if p.strip()):
        name, _, options = part.partition("(")
        key = name.strip()
        if key not in NESTED:
            raise errors.bad_request(
                f"Parsing OData Select and Expand failed: Could not find a property named '{key}'."
            )
        found[key] = options.rstrip(")")
    return found


def _extension_json(extension: dict[str, Any]) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.openTypeExtension",
        "id": extension["extensionName"],
        **extension,
    }


def task_json(task: TodoTask, call: Call | None = None) -> dict[str, Any]:
    data = task.data
    item: dict[str, Any] = {
        "@odata.etag": f'W/"{task.etag}"',
        "id": task.id,
        "title": data.get("title", ""),
        "body": data.get("body") or {"content": "", "contentType": "text"},
        "importance": data.get("importance", "normal"),
        "status": data.get("status", "notStarted"),
        "categories": data.get("categories") or [],
        "isReminderOn": bool(data.get("isReminderOn")),
        "hasAttachments": task.attachments.exists(),
        "createdDateTime": _stamp(task.created_at),
        "lastModifiedDateTime": _stamp(task.modified_at),
        "bodyLastModifiedDateTime": _stamp(task.modified_at),
    }
    for key in (
        "dueDateTime",
        "reminderDateTime",
        "startDateTime",
        "completedDateTime",
        "recurrence",
    ):
        if data.get(key):
            item[key] = data[key]
    expand = _expanded(call) if call is not None else {}
    if "extensions" in expand:
        wanted = expand["extensions"]
        item["extensions"] = [
            _extension_json(e)
            for e in task.extensions
            if not wanted or f"'{e['extensionName']}'".lower() in wanted.lower()
        ]
    if "checklistItems" in expand:
        item["checklistItems"] = [checklist_json(c) for c in task.checklist.order_by("created_at")]
    if "linkedResources" in expand:
        item["linkedResources"] = [linked_json(r) for r in task.linked.order_by("id")]
    if "attachments" in expand:
        item["attachments"] = [attachment_json(a, content=False) for a in task.attachments.all()]
    return item


def list_tasks(call: Call) -> HttpResponse:
    task_list = _list_for(call)
    rows = list(TodoTask.objects.filter(task_list=task_list).order_by("created_at", "id"))
    top = odata.integer_option(call.request, "$top", 100, 1000)
    skip = odata.skip_of(call.request)
    page, link = odata.page(call.request, rows[skip : skip + top + 1], top=top, skip=skip)
    select = odata.selected(call.request)
    always = ("id", *_expanded(call))  # $select keeps what $expand asked for, as in Graph
    body: dict[str, Any] = {
        "value": [odata.apply_select(task_json(t, call), select, always) for t in page]
    }
    if link:
        body["@odata.nextLink"] = link
    return json_response(body)


def get_task(call: Call) -> HttpResponse:
    return json_response(
        odata.apply_select(
            task_json(_task_for(call), call), odata.selected(call.request), ("id", *_expanded(call))
        )
    )


@transaction.atomic
def create_task(call: Call) -> HttpResponse:
    task = new_task(call.owner, _list_for(call), call.json())
    return json_response(task_json(task), status=201)


@transaction.atomic
def update_task(call: Call) -> HttpResponse:
    task = _task_for(call)
    task.data = {**task.data, **_clean(call.json())}
    task.save(update_fields=["data"])
    _touch(task)
    return json_response(task_json(task))


@transaction.atomic
def delete_task(call: Call) -> HttpResponse:
    task = _task_for(call)
    delete(task)
    return HttpResponse(status=204)


def delete(task: TodoTask) -> None:
    list_id, task_id = task.task_list_id, task.id
    task.delete()
    record_change(list_id, task_id)


@transaction.atomic
def update_extension(call: Call) -> HttpResponse:
    """PATCH …/tasks/{id}/extensions/{name}: its custom properties replaced by those sent."""
    task = _task_for(call)
    name = call.params["extension"]
    for index, extension in enumerate(task.extensions):
        if extension["extensionName"].lower() == name.lower():
            sent = {k: v for k, v in call.json().items() if k not in ("@odata.type", "id")}
            task.extensions[index] = {**sent, "extensionName": extension["extensionName"]}
            task.save(update_fields=["extensions"])
            _touch(task)
            return HttpResponse(status=204)
    raise errors.not_found(errors.MAIL)


def delta(call: Call) -> HttpResponse:
    task_list = _list_for(call)
    size = odata.max_page_size(call.request, default=100, maximum=1000)
    token = call.query.get("$deltatoken") or call.query.get("$skiptoken")
    state = odata.unpack(token) if token else None
    if state is not None and state.get("list") != task_list.id:
        raise errors.bad_request("The delta token belongs to another list.", "SyncStateInvalid")
    latest = TodoChange.objects.aggregate(m=Max("id"))["m"] or 0
    if state is None or state.get("phase") == "initial":
        watermark = state["watermark"] if state else latest
        after = state.get("after", "") if state else ""
        rows = list(
            TodoTask.objects.filter(task_list=task_list, id__gt=after).order_by("id")[: size + 1]
        )
        items = [task_json(t) for t in rows[:size]]
        if len(rows) > size:
            more = {
                "list": task_list.id,
                "phase": "initial",
                "watermark": watermark,
                "after": rows[size - 1].id,
            }
            return _delta_page(call, items, more, final=False)
        done = {"list": task_list.id, "phase": "changes", "watermark": watermark}
        return _delta_page(call, items, done, final=True)
    watermark = state["watermark"]
    upper = state.get("upper", latest)
    after = state.get("after", watermark)
    changes = list(
        TodoChange.objects.filter(list_id=task_list.id, id__gt=watermark, id__lte=upper)
        .values("task_id")
        .annotate(last=Max("id"))
        .filter(last__gt=after)
        .order_by("last")[: size + 1]
    )
    page = changes[:size]
    present = {
        t.id: t
        for t in TodoTask.objects.filter(task_list=task_list, id__in=[c["task_id"] for c in page])
    }
    items = [
        task_json(present[c["task_id"]])
        if c["task_id"] in present
        else {"id": c["task_id"], "@removed": {"reason": "deleted"}}
        for c in page
    ]
    if len(changes) > size:
        more = {
            "list": task_list.id,
            "phase": "changes",
            "watermark": watermark,
            "upper": upper,
            "after": page[-1]["last"],
        }
        return _delta_page(call, items, more, final=False)
    return _delta_page(
        call, items, {"list": task_list.id, "phase": "changes", "watermark": upper}, final=True
    )


def _delta_page(
    call: Call, items: list[dict[str, Any]], state: dict[str, Any], *, final: bool
) -> HttpResponse:
    select = odata.selected(call.request)
    params = {k: v for k, v in call.query.items() if k not in ("$deltatoken", "$skiptoken")}
    key, token = ("@odata.deltaLink", "$deltatoken") if final else ("@odata.nextLink", "$skiptoken")
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(todoTask)",
            "value": [i if "@removed" in i else odata.apply_select(i, select) for i in items],
            key: odata.graph_url(
                odata.request_graph_path(call.request), {**params, token: odata.pack(state)}
            ),
        }
    )


# --- Checklist items and linked resources ------------------------------------------------


def checklist_json(entry: TodoChecklistItem) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "displayName": entry.display_name,
        "isChecked": entry.is_checked,
        "createdDateTime": _stamp(entry.created_at),
    }
    if entry.checked_at is not None:
        item["checkedDateTime"] = _stamp(entry.checked_at)
    return item


def add_checklist_item(task: TodoTask, data: dict[str, Any]) -> TodoChecklistItem:
    name = str(data.get("displayName") or "").strip()
    if not name:
        raise errors.bad_request("A checklist item needs a displayName.", "invalidRequest")
    checked = bool(data.get("isChecked"))
    return TodoChecklistItem.objects.create(
        id=ids.attachment_id(),
        task=task,
        display_name=name[:255],
        is_checked=checked,
        checked_at=odata.parse_datetime(str(data["checkedDateTime"]))
        if checked and data.get("checkedDateTime")
        else (timezone.now() if checked else None),
    )


def list_checklist(call: Call) -> HttpResponse:
    task = _task_for(call)
    return json_response(
        {"value": [checklist_json(c) for c in task.checklist.order_by("created_at", "id")]}
    )


@transaction.atomic
def create_checklist_item(call: Call) -> HttpResponse:
    task = _task_for(call)
    entry = add_checklist_item(task, call.json())
    _touch(task)
    return json_response(checklist_json(entry), status=201)


def linked_json(resource: TodoLinkedResource) -> dict[str, Any]:
    return {"id": resource.id, **resource.data}


def _add_linked(task: TodoTask, data: dict[str, Any]) -> TodoLinkedResource:
    kept = {k: data.get(k) for k in ("webUrl", "applicationName", "displayName", "externalId")}
    if not kept["applicationName"] or not kept["displayName"]:
        raise errors.bad_request(
            "A linked resource needs an applicationName and a displayName.", "invalidRequest"
        )
    return TodoLinkedResource.objects.create(id=ids.attachment_id(), task=task, data=kept)


def list_linked(call: Call) -> HttpResponse:
    task = _task_for(call)
    return json_response({"value": [linked_json(r) for r in task.linked.order_by("id")]})


@transaction.atomic
def create_linked(call: Call) -> HttpResponse:
    task = _task_for(call)
    resource = _add_linked(task, call.json())
    _touch(task)
    return json_response(linked_json(resource), status=201)


# --- Attachments -------------------------------------------------------------------------


def attachment_json(attachment: TodoAttachment, *, content: bool = True) -> dict[str, Any]:
    item: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.taskFileAttachment",
        "id": attachment.id,
        "name": attachment.name,
        "contentType": attachment.content_type,
        "size": attachment.size,
        "lastModifiedDateTime": _stamp(attachment.modified_at),
    }
    if content:
        item["contentBytes"] = base64.b64encode(bytes(attachment.data)).decode("ascii")
    return item


def attach(task: TodoTask, name: str, content_type: str, content: bytes) -> TodoAttachment:
    return TodoAttachment.objects.create(
        id=ids.attachment_id(),
        task=task,
        name=name[:255] or "attachment",
        content_type=content_type or "application/octet-stream",
        size=len(content),
        data=content,
    )


def list_attachments(call: Call) -> HttpResponse:
    task = _task_for(call)
    return json_response(
        {
            "value": [
                attachment_json(a, content=False) for a in task.attachments.order_by("name", "id")
            ]
        }
    )


def _attachment_for(call: Call) -> TodoAttachment:
    found = _task_for(call).attachments.filter(id=call.params["attachment"]).first()
    if found is None:
        raise errors.not_found(errors.MAIL)
    return found


def get_attachment(call: Call) -> HttpResponse:
    return json_response(attachment_json(_attachment_for(call)))


def attachment_content(call: Call) -> HttpResponse:
    found = _attachment_for(call)
    return HttpResponse(bytes(found.data), content_type=found.content_type)


@transaction.atomic
def add_attachment(call: Call) -> HttpResponse:
    task = _task_for(call)
    data = call.json()
    if data.get("@odata.type", "#microsoft.graph.taskFileAttachment") not in (
        "#microsoft.graph.taskFileAttachment",
        "microsoft.graph.taskFileAttachment",
    ):
        raise errors.bad_request("Only taskFileAttachment is supported.", "invalidRequest")
    try:
        content = base64.b64decode(str(data.get("contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise errors.bad_request("contentBytes is not base64.", "invalidRequest") from None
    if len(content) > MAX_SIMPLE_ATTACHMENT:
        raise GraphError(
            413,
            "ErrorRequestEntityTooLarge",
            "The attachment is larger than 3 MB; use an upload session.",
        )
    attachment = attach(
        task, str(data.get("name") or ""), str(data.get("contentType") or ""), content
    )
    _touch(task)
    return json_response(attachment_json(attachment), status=201)


# --- Attachment upload sessions (To Do tasks and Outlook events) -------------------------


def _session(
    call: Call, kind: str, parent_id: str, info: dict[str, Any], limit: int
) -> HttpResponse:
    if str(info.get("attachmentType") or "file") != "file":
        raise errors.bad_request("Only file attachments can be uploaded.", "invalidRequest")
    try:
        size = int(info.get("size"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise errors.bad_request("The attachment's size is required.", "invalidRequest") from None
    if size < 0 or size > limit:
        raise GraphError(
            413,
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
            if size < 0
            else "ErrorRequestEntityTooLarge",
            f"The attachment exceeds the maximum size of {limit // (1024 * 1024)} MB.",
        )
    upload = AttachmentUpload.objects.create(
        id=secrets.token_urlsafe(32),
        kind=kind,
        parent_id=parent_id,
        name=str(info.get("name") or "attachment")[:255],
        content_type=str(info.get("contentType") or "application/octet-stream"),
        is_inline=bool(info.get("isInline")),
        size=size,
        expires_at=timezone.now() + UPLOAD_LIFETIME,
    )
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": call.request.build_absolute_uri(
                reverse("sandbox:graph-attachment-upload", args=[upload.id])
            ),
            "expirationDateTime": _stamp(upload.expires_at),
            "nextExpectedRanges": ["0"],
        },
        status=201,
    )


def create_task_upload_session(call: Call) -> HttpResponse:
    """Delegated only (routes.py: the permission has no application role)."""
    task = _task_for(call)
    return _session(
        call,
        AttachmentUpload.Kind.TASK,
        task.id,
        call.json().get("attachmentInfo") or {},
        MAX_TASK_ATTACHMENT,
    )


def create_event_upload_session(call: Call) -> HttpResponse:
    event = Event.objects.filter(owner=call.owner, id=call.params["event"]).first()
    if event is None:
        raise errors.not_found(errors.MAIL)
    return _session(
        call,
        AttachmentUpload.Kind.EVENT,
        event.id,
        call.json().get("AttachmentItem") or call.json().get("attachmentItem") or {},
        MAX_EVENT_ATTACHMENT,
    )


def _finish(request: HttpRequest, upload: AttachmentUpload) -> HttpResponse:
    content = bytes(upload.data)
    if upload.kind == AttachmentUpload.Kind.TASK:
        task = TodoTask.objects.get(id=upload.parent_id)
        made = attach(task, upload.name, upload.content_type, content)
        _touch(task)
        where = (
            f"users/{task.owner_id}/todo/lists/{task.task_list_id}/tasks/{task.id}"
            f"/attachments/{made.id}"
        )
    else:
        event = Event.objects.get(id=upload.parent_id)
        made_event = EventAttachment.objects.create(
            id=ids.attachment_id(),
            event=event,
            name=upload.name,
            content_type=upload.content_type,
            size=len(content),
            is_inline=upload.is_inline,
            data=content,
        )
        event.change_key, event.modified_at = ids.change_key(), timezone.now()
        event.save(update_fields=["change_key", "modified_at"])
        where = f"users/{event.owner_id}/events/{event.id}/attachments/{made_event.id}"
    upload.delete()
    response = HttpResponse(status=201)
    response["Location"] = request.build_absolute_uri(reverse("sandbox:graph", args=[where]))
    return response


@csrf_exempt
def upload(request: HttpRequest, session_id: str) -> HttpResponse:
    """The uploadUrl: PUT the next ≤4 MB range, DELETE to cancel. No token needed."""
    try:
        with transaction.atomic():
            upload = (
                AttachmentUpload.objects.select_for_update()
                .filter(id=session_id, expires_at__gt=timezone.now())
                .first()
            )
            if upload is None:
                raise GraphError(404, "ErrorItemNotFound", "The upload session was not found.")
            if request.method == "DELETE":
                upload.delete()
                return HttpResponse(status=204)
            if request.method != "PUT":
                raise errors.method_not_allowed()
            match = re.fullmatch(
                r"bytes (\d+)-(\d+)/(\d+)", request.headers.get("Content-Range", "").strip()
            )
            if match is None:
                raise errors.bad_request(
                    "The Content-Range header is missing or malformed.", "InvalidContentRange"
                )
            start, end, total = (int(g) for g in match.groups())
            data = request.read()
            if total != upload.size or end < start or end >= total or len(data) != end - start + 1:
                raise errors.bad_request(
                    "The Content-Range header does not match the upload.", "InvalidContentRange"
                )
            if len(data) > MAX_CHUNK:
                raise GraphError(413, "ErrorRequestEntityTooLarge", "A range may be at most 4 MB.")
            if start != upload.received:
                raise GraphError(
                    416,
                    "InvalidContentRange",
                    f"The next expected range starts at {upload.received}.",
                )
            upload.data = bytes(upload.data) + data
            upload.received = end + 1
            if upload.received < upload.size:
                upload.save(update_fields=["data", "received"])
                return json_response(
                    {
                        "expirationDateTime": _stamp(upload.expires_at),
                        "nextExpectedRanges": [str(upload.received)],
                    }
                )
            return _finish(request, upload)
    except GraphError as error:
        return error.response(request)
