"""JSON batching (`POST /$batch`, at most 20 requests) with inner throttling honoured.

Graph throttles each inner request on its own: an inner 429 carries its own Retry-After
while its neighbours succeed, so only the throttled ones are sent again, after waiting.
"""

from __future__ import annotations

import time
from typing import Any

from portal.graph import GraphClient, GraphThrottled

MAX_BATCH = 20
MAX_ROUNDS = 5


def get_many(graph: GraphClient, urls: dict[str, str]) -> dict[str, tuple[int, Any]]:
    """GET each relative url; {key: (status, body)}. Keys must be short strings."""
    results: dict[str, tuple[int, Any]] = {}
    pending = dict(urls)
    for _round in range(MAX_ROUNDS):
        if not pending:
            break
        wait = 0.0
        keys = list(pending)
        for start in range(0, len(keys), MAX_BATCH):
            chunk = keys[start : start + MAX_BATCH]
            answer = graph.post(
                "$batch",
                {"requests": [{"id": k, "method": "GET", "url": pending[k]} for k in chunk]},
            )
            for response in answer.get("responses", []):
                key, status = str(response.get("id")), int(response.get("status", 500))
                if status in (429, 503, 504):
                    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
                    try:
                        wait = max(wait, float(headers.get("retry-after", 1)))
                    except ValueError:
                        wait = max(wait, 1.0)
                    continue
                results[key] = (status, response.get("body"))
                pending.pop(key, None)
        if pending:
            time.sleep(min(wait or 1.0, 60.0))
    if pending:
        raise GraphThrottled(429, "ApplicationThrottled", "Still throttled after retries.", None)
    return results
