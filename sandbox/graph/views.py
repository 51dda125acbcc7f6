"""The entry point of the sandbox's Microsoft Graph: authenticate, route, authorize, throttle.

Every request under /graph/v1.0/ comes through `dispatch` (and each inner request of a
$batch through `handle`), so the checks Graph makes happen in one place and in Graph's
order: token (401), address (400/404), permission (403), object access (403/404),
Outlook throttling (429), then the operation itself.
"""

from __future__ import annotations

import json
import socket
import struct
from contextlib import nullcontext

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox.graph import access, errors, throttling
from sandbox.graph.auth import Caller, authenticate
from sandbox.graph.call import Call
from sandbox.graph.errors import GraphError
from sandbox.graph.permissions import NONE, Permission
from sandbox.graph.routes import match
from sandbox.models import DriveItem, DriveItemVersion, Fault, Message
from sandbox.quickxor import quick_xor_hash


def _take_fault(request: HttpRequest, method: str, action: str) -> Fault | None:
    """The first planned fault of `action` matching this request, counted down."""
    for fault in Fault.objects.filter(remaining__gt=0, action=action).order_by("created_at"):
        if fault.path_contains not in request.path:
            continue
        if fault.method and fault.method.upper() != method.upper():
            continue
        if Fault.objects.filter(pk=fault.pk, remaining__gt=0).update(remaining=F("remaining") - 1):
            return fault
    return None


def _drop_connection(request: HttpRequest) -> None:
    """Close the client's TCP connection with a reset before any answer is written (the
    WSGI server then fails to write the response, which it shrugs off as a broken pipe)."""
    stream: object = request.META.get("wsgi.input")  # WSGIRequest.META is the environ
    for attribute in ("stream", "raw", "_sock"):
        stream = getattr(stream, attribute, None)
    if not isinstance(stream, socket.socket):
        raise RuntimeError("This server does not expose its socket: no reset fault here.")
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.shutdown(socket.SHUT_RDWR)


def _injected_fault(request: HttpRequest, method: str) -> GraphError | None:
    """A failure a test planned with sandbox.models.Fault (e.g. 503 on '/messages')."""
    fault = _take_fault(request, method, Fault.Action.ANSWER)
    if fault is None:
        return None
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    code = {429: "TooManyRequests", 503: "serviceNotAvailable", 504: "UnknownError"}
    return GraphError(
        fault.status,
        code.get(fault.status, "generalException"),
        "Injected by the sandbox.",
        headers=headers,
    )


def _corrupt(response: HttpResponse) -> None:
    """Spoil what a successful request created (a test's `corrupt` fault): the answer
    already went out as if all were well."""
    if not 200 <= response.status_code < 300:
        return
    try:
        created_id = str(json.loads(response.content).get("id") or "")
    except (ValueError, AttributeError):
        return
    if message := Message.objects.filter(id=created_id).first():
        message.attachments.all().delete()
        Message.objects.filter(id=created_id).update(
            subject=f"{message.subject} (damaged)", has_attachments=False
        )
        return
    version = (
        DriveItemVersion.objects.filter(item_id=created_id).order_by("-number").first()
        if DriveItem.objects.filter(id=created_id, is_folder=False).exists()
        else None
    )
    if version is not None:
        content = bytearray(bytes(version.content))
        if content:
            content[0] ^= 0xFF
        digest = quick_xor_hash(bytes(content))
        DriveItemVersion.objects.filter(pk=version.pk).update(
            content=bytes(content), quick_xor_hash=digest
        )
        DriveItem.objects.filter(id=created_id).update(quick_xor_hash=digest)


def _resolve(call: Call, route_permission: Permission) -> None:
    """Turn the mailbox or drive a path names into the object, if the caller may reach it."""
    if mailbox_ref := call.params.get("mailbox"):
        call.mailbox = access.mailbox(call.caller, mailbox_ref.removeprefix("users/"))
    if group_ref := call.params.get("groupcal"):
        call.group_calendar = access.group_calendar(call.caller, group_ref)
    if drive_ref := call.params.get("drive"):
        kind, _, rest = drive_ref.partition("/")
        reference = rest.removesuffix("/drive") if kind in ("users", "groups", "sites") else rest
        call.drive = access.drive(call.caller, kind.lower(), reference, route_permission)


def _addresses_self(caller: Caller, params: dict[str, str]) -> bool:
    if caller.user is None:
        return False
    target = params.get("user", "me").removeprefix("users/")
    return target.lower() in ("me", str(caller.user.id), caller.user.user_principal_name)


def _content_length(request: HttpRequest) -> int:
    """The body's size as announced: read before the body itself, which may still be on
    its way (the request holds its concurrency slot while it arrives, as in Outlook)."""
    try:
        return max(0, int(request.headers.get("content-length") or 0))
    except ValueError:
        return 0


def handle(request: HttpRequest, method: str, path: str) -> HttpResponse:
    """Serve one Graph operation (a top-level request or one inside a $batch)."""
    try:
        if fault := _injected_fault(request, method):
            raise fault
        caller = authenticate(request)
        route, params, path_exists = match(method, path.strip("/"))
        if route is None:
            if path_exists:
                raise errors.method_not_allowed()
            raise errors.no_route(request)
        first = path.strip("/").split("/", 1)[0].lower()
        if first == "me" and caller.app_only:
            raise errors.bad_request(
                "/me request is only valid with delegated authentication flow."
            )
        permission = route.permission
        if route.own_permission is not None and _addresses_self(caller, params):
            permission = route.own_permission
        if route.permission is not NONE and not (
            caller.may(permission) or caller.may(route.permission)
        ):
            raise errors.access_denied(permission.workload)
        call = Call(request=request, caller=caller, params=params, serve=handle)
        _resolve(call, route.permission)
        if call.drive is not None or first == "sites":
            query = {key: str(value) for key, value in request.GET.items()}
            units = throttling.resource_units(method, path, query)
            throttling.charge_resource_units(caller.app_id, str(caller.tenant_id), units)
        slot = (
            throttling.mailbox_slot(
                caller.app_id, str(call.mailbox.id), method, _content_length(request)
            )
            if call.mailbox is not None
            else nullcontext()
        )
        with slot:
            response = route.handler(call)
        if corrupt := _take_fault(request, method, Fault.Action.CORRUPT):
            if 200 <= response.status_code < 300:
                _corrupt(response)
            else:  # nothing created: the fault waits for a request that creates something
                Fault.objects.filter(pk=corrupt.pk).update(remaining=F("remaining") + 1)
    except GraphError as error:
        response = error.response(request)
    response["request-id"] = errors.request_id(request)
    response["client-request-id"] = errors.client_request_id(request)
    return response


@csrf_exempt
def dispatch(request: HttpRequest, path: str = "") -> HttpResponse:
    method = request.method or "GET"
    reset = _take_fault(request, method, Fault.Action.RESET)
    response = handle(request, method, path)
    if reset is not None:
        _drop_connection(request)
    return response
