"""Extra /healthz entries that apps above portal register (portal imports none of them).

An app's AppConfig.ready calls `register(name, check)`; `check()` returns a dict with at
least "ok" (bool). A False "ok" makes /healthz "degraded" (200), never "unavailable".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[], dict[str, Any]]

_checks: dict[str, Check] = {}


def register(name: str, check: Check) -> None:
    _checks[name] = check


def checks() -> dict[str, Check]:
    return dict(_checks)
