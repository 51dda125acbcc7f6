"""JSON batching: POST /$batch with up to 20 requests.

Each inner request goes through the same pipeline as a top-level one (views.handle, which
the call carries as `call.serve`), so it is authenticated, authorized and throttled on its
own; a throttled one answers 429 with its own Retry-After while its neighbours succeed.
The outer answer is 200 whatever the inner ones say. Requests run in dependency order;
one whose dependency failed is not run and answers 424. Independent requests run side by
side (as Outlook runs up to 4 batch items at once), so responses come back in the order
they finish, not the order they were sent — clients must match them by id.
"""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit

from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections, connections
from django.http import HttpResponse

from sandbox.graph import errors
from sandbox.graph.call import Call, json_response

MAX_REQUESTS = 20
PARALLEL = 4


def _inner_request(outer: Any, item: dict[str, Any]) -> tuple[WSGIRequest, str, str]:
    method = str(item.get("method", "GET")).upper()
    url = str(item.get("url", ""))
    parts = urlsplit(url)
    path = parts.path.lstrip("/")
    path = path.removeprefix("v1.0/")
    headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    body = item.get("body")
    if body is None:
        raw = b""
    elif isinstance(body, (dict, list)):
        raw = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    else:
        text = str(body)
        # Non-JSON bodies travel base64-encoded in a batch (e.g. MIME with text/plain).
        try:
            raw = (
                base64.b64decode(text, validate=True)
                if headers.get("content-type", "").startswith("text/plain")
                else text.encode()
            )
        except ValueError:
            raw = text.encode()
    environ = {
        key: value
        for key, value in outer.META.items()
        if key
        in (
            "SERVER_NAME",
            "SERVER_PORT",
            "HTTP_HOST",
            "wsgi.url_scheme",
            "REMOTE_ADDR",
            "SERVER_PROTOCOL",
        )
    }
    prefix = outer.path.rsplit("$batch", 1)[0]  # .../graph/v1.0/
    environ.update(
        {
            "REQUEST_METHOD": method,
            "PATH_INFO": prefix + path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": parts.query,
            "CONTENT_LENGTH": str(len(raw)),
            "CONTENT_TYPE": headers.pop("content-type", ""),
            "wsgi.input": io.BytesIO(raw),
            "wsgi.errors": io.StringIO(),
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
    )
    environ.setdefault("wsgi.url_scheme", outer.scheme)
    environ["HTTP_AUTHORIZATION"] = outer.headers.get("Authorization", "")
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return WSGIRequest(environ), method, path


def _response_json(item_id: str, response: HttpResponse) -> dict[str, Any]:
    headers = {
        k: v
        for k, v in response.items()
        if k.lower() in ("content-type", "location", "retry-after")
    }
    entry: dict[str, Any] = {"id": item_id, "status": response.status_code, "headers": headers}
    content = response.content
    if content:
        if "json" in response.get("Content-Type", ""):
            entry["body"] = json.loads(content)
        else:
            entry["body"] = base64.b64encode(content).decode("ascii")
    return entry


def _run_one(call: Call, item: dict[str, Any]) -> dict[str, Any]:
    try:
        request, method, path = _inner_request(call.request, item)
        return _response_json(str(item["id"]), call.serve(request, method, path))
    finally:
        connections.close_all()


def _failed_dependency(item_id: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "status": 424,
        "headers": {"Content-Type": "application/json"},
        "body": {"error": {"code": "FailedDependency", "message": "Dependent request failed."}},
    }


def run(call: Call) -> HttpResponse:
    items = call.json().get("requests")
    if not isinstance(items, list) or not items:
        raise errors.bad_request("Invalid batch payload format.", "BadRequest")
    if len(items) > MAX_REQUESTS:
        raise errors.bad_request(
            f"The number of batch requests exceeds the limit of {MAX_REQUESTS}.", "BadRequest"
        )
    by_id: dict[str, dict[str, Any]] = {}
    for item in items:
        if (
            not isinstance(item, dict)
            or not item.get("id")
            or not item.get("url")
            or not item.get("method")
        ):
            raise errors.bad_request("Every batch request needs an id, a method and a url.")
        if str(item["id"]) in by_id:
            raise errors.bad_request(f"Batch request id '{item['id']}' is used more than once.")
        by_id[str(item["id"])] = item
    depends = {i: [str(d) for d in (item.get("dependsOn") or [])] for i, item in by_id.items()}
    for item_id, needed in depends.items():
        if any(d not in by_id for d in needed):
            raise errors.bad_request(
                f"Request '{item_id}' depends on a request that is not in the batch."
            )
    results: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    pending = dict(depends)
    close_old_connections()
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        running: dict[Future[dict[str, Any]], str] = {}
        while pending or running:
            for item_id in list(pending):
                needed = pending[item_id]
                if all(d in results for d in needed):
                    del pending[item_id]
                    if any(results[d]["status"] >= 400 for d in needed):
                        results[item_id] = _failed_dependency(item_id)
                        order.append(item_id)
                    else:
                        running[pool.submit(_run_one, call, by_id[item_id])] = item_id
            if not running:
                if pending:  # a dependency cycle
                    raise errors.bad_request("The dependsOn of the batch requests form a cycle.")
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                item_id = running.pop(future)
                results[item_id] = future.result()
                order.append(item_id)
    return json_response({"responses": [results[i] for i in order]})
