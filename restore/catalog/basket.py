"""The selection basket: items and folders collected across folders, restore points and
search results, per object, kept in the person's session until restored.

Each pick remembers the restore point it was picked at: an item is a state that point held,
a folder stands for its subtree at that point. Restoring a basket makes one job per object
(restore/jobs/views.start_basket → lifecycle.validate_picks), each item from its own
point. Every id is checked against the person's `Scope` when it is added and again when
the basket is restored (scope can shrink meanwhile), so a forged id is a 404, never a pick.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.http import Http404

from restore.models import ProtectedObject
from restore.scope import Scope

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

KEY = "restore_basket"
MAX_PICKS = 10_000  # per object: as many items as one job may hold


@dataclass(frozen=True)
class Contents:
    """One object's picks: item ids → (point id, size), folder ids → point id."""

    object_id: int
    items: dict[int, tuple[int, int]]
    folders: dict[int, int]

    @property
    def size(self) -> int:
        return sum(size for _, size in self.items.values())

    def picks(self) -> list[tuple[int, list[int], list[int]]]:
        """(point id, item ids, folder ids) per restore point, oldest point first."""
        by_point: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        for item_id, (point_id, _) in self.items.items():
            by_point[point_id][0].append(item_id)
        for folder_id, point_id in self.folders.items():
            by_point[point_id][1].append(folder_id)
        return [(point, items, folders) for point, (items, folders) in sorted(by_point.items())]


def _stored(session: SessionBase) -> dict[str, Any]:
    value = session.get(KEY)
    return value if isinstance(value, dict) else {}


def contents(session: SessionBase) -> list[Contents]:
    """Every object's picks, as stored (not checked against scope: see `picks_in_scope`)."""
    found = []
    for object_id, picked in _stored(session).items():
        if not (str(object_id).isdigit() and isinstance(picked, dict)):
            continue
        items = {
            int(i): (int(v[0]), int(v[1]))
            for i, v in (picked.get("items") or {}).items()
            if str(i).isdigit() and isinstance(v, list) and len(v) == 2
        }
        folders = {
            int(f): int(p) for f, p in (picked.get("folders") or {}).items() if str(f).isdigit()
        }
        if items or folders:
            found.append(Contents(int(object_id), items, folders))
    return found


def of_object(session: SessionBase, object_id: int) -> Contents | None:
    return next((c for c in contents(session) if c.object_id == object_id), None)


def _ids(values: Iterable[object], what: str) -> list[int]:
    ids = []
    for value in values:
        text = str(value).strip()
        if not text:
            continue
        if not text.isdigit():
            raise ValidationError(f"'{text[:40]}' is not a valid {what} id.")
        ids.append(int(text))
    return sorted(set(ids))


def add(
    session: SessionBase,
    scope: Scope,
    point_id: object,
    item_ids: Iterable[object],
    folder_ids: Iterable[object],
) -> tuple[ProtectedObject, int]:
    """Add items and folders picked at a point; (their object, how many were new).
    Http404 for a point, item or folder outside the scope or not at that point."""
    point = scope.restore_point(point_id)
    items, folders = _ids(item_ids, "item"), _ids(folder_ids, "folder")
    if not items and not folders:
        raise ValidationError("Choose at least one item or folder to add to your selection.")
    found = dict(scope.items(point).filter(id__in=items).values_list("id", "size"))
    if missing := [i for i in items if i not in found]:
        raise Http404(f"Item {missing[0]} is not in this restore point.")
    valid_folders = set(scope.folders(point).filter(id__in=folders).values_list("id", flat=True))
    if missing := [f for f in folders if f not in valid_folders]:
        raise Http404(f"Folder {missing[0]} is not in this restore point.")
    stored = _stored(session)
    picked = stored.setdefault(str(point.object_id), {"items": {}, "folders": {}})
    before = len(picked["items"]) + len(picked["folders"])
    for item_id, size in found.items():
        picked["items"].setdefault(str(item_id), [point.pk, size])
    for folder_id in valid_folders:
        picked["folders"].setdefault(str(folder_id), point.pk)
    if len(picked["items"]) + len(picked["folders"]) > MAX_PICKS:
        raise ValidationError(
            f"A selection holds at most {MAX_PICKS:,} items and folders per mailbox or drive."
        )
    session[KEY] = stored
    return point.object, len(picked["items"]) + len(picked["folders"]) - before


def remove(
    session: SessionBase, object_id: int, item_ids: Iterable[object], folder_ids: Iterable[object]
) -> None:
    stored = _stored(session)
    picked = stored.get(str(object_id))
    if not isinstance(picked, dict):
        return
    for item_id in _ids(item_ids, "item"):
        picked.get("items", {}).pop(str(item_id), None)
    for folder_id in _ids(folder_ids, "folder"):
        picked.get("folders", {}).pop(str(folder_id), None)
    if not picked.get("items") and not picked.get("folders"):
        stored.pop(str(object_id), None)
    session[KEY] = stored


def clear(session: SessionBase, object_id: int) -> None:
    stored = _stored(session)
    stored.pop(str(object_id), None)
    session[KEY] = stored


def summary(request: Any) -> dict[str, object]:
    """Template context on every page: "N items, size" in the selection (session only)."""
    session = getattr(request, "session", None)
    user = getattr(request, "user", None)
    if session is None or user is None or not user.is_authenticated:
        return {}
    picked = contents(session)
    if not picked:
        return {}
    return {
        "basket_items": sum(len(c.items) for c in picked),
        "basket_folders": sum(len(c.folders) for c in picked),
        "basket_size": sum(c.size for c in picked),
    }
