"""Is the backed-up content still there and intact? Verify, repair, report.

- `verify(...)`: every blob the catalog references (or one object's, or one day's slice)
  is read through: the store authenticates it (restore/blobs/sealing.py) and its MAC must
  equal its address. Items whose blob is missing or corrupt get `content_status` set;
  items whose blob is fine again get it cleared.
- `repair(findings)`: content Microsoft 365 still holds unchanged (same changeKey for a
  message, same quickXorHash for a file) is fetched again into the store; the rest is
  marked LOST, which browse, restore and the API show as "content lost".
- `summary()`: counts for /healthz, the admin console and the metric.

The daily beat task (`restore.tasks.verify_blob_slice`, restore/catalog/tasks.py) checks
1/BLOB_VERIFY_SLICES of the addresses each day, by address range (addresses are uniformly
distributed MACs), so every blob is read once per cycle without keeping per-blob state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from authflow import flows, tokens
from portal.graph import GraphClient, GraphError
from portal.health import Check
from restore.blobs import CHUNK, BlobStoreUnavailable, blob_store
from restore.models import ContentStatus, Item, ProtectedObject, Workload

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    tenant: str
    address: str
    status: str  # ContentStatus.MISSING or CORRUPT


@dataclass
class Report:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    repaired: int = 0
    lost: int = 0
    unrepaired: list[str] = field(default_factory=list)  # why repair could not finish

    @property
    def ok(self) -> bool:
        return not self.findings or (self.repaired + self.lost == len(self.findings))


def _referenced(objects: QuerySet[ProtectedObject] | None) -> QuerySet[Item]:
    items = Item.objects.exclude(content_sha256="").exclude(content_status=ContentStatus.LOST)
    if objects is not None:
        items = items.filter(object__in=objects)
    return items


def slice_bounds(day: date, slices: int) -> tuple[str, str | None]:
    """The address range [low, high) verified on `day` (high None: to the end)."""
    index = day.toordinal() % slices
    low = index * 0x10000 // slices
    high = (index + 1) * 0x10000 // slices
    return f"{low:04x}", None if high >= 0x10000 else f"{high:04x}"


def addresses(
    objects: QuerySet[ProtectedObject] | None = None, day: date | None = None
) -> Iterator[tuple[str, str]]:
    """(tenant, address) pairs the catalog references, each once, in address order."""
    items = _referenced(objects)
    if day is not None:
        low, high = slice_bounds(day, settings.BLOB_VERIFY_SLICES)
        items = items.filter(content_sha256__gte=low)
        if high is not None:
            items = items.filter(content_sha256__lt=high)
    pairs = (
        items.values_list("object__tenant_id", "content_sha256")
        .order_by("content_sha256", "object__tenant_id")
        .distinct()
    )
    for tenant, address in pairs.iterator(chunk_size=2000):
        yield str(tenant), address


def _items_of(tenant: str, address: str) -> QuerySet[Item]:
    return Item.objects.filter(object__tenant_id=tenant, content_sha256=address)


def verify(pairs: Iterable[tuple[str, str]]) -> Report:
    """Check each blob; record what is wrong in the catalog. Raises BlobStoreUnavailable
    (and then changes nothing more): an unreachable store is not missing content."""
    store = blob_store()
    report = Report()
    for tenant, address in pairs:
        status = store.verify(address, tenant=tenant)
        report.checked += 1
        items = _items_of(tenant, address).exclude(content_status=ContentStatus.LOST)
        if status == "ok":
            items.exclude(content_status="").update(content_status="")
            continue
        report.findings.append(Finding(tenant, address, status))
        items.update(content_status=status)
        logger.warning("Blob %s of tenant %s is %s", address, tenant, status)
    return report


# --- Repair ------------------------------------------------------------------------------


def _refetch(graph: GraphClient, item: Item) -> Iterator[bytes] | None:
    """The item's content from Microsoft 365 if it still holds this version, else None."""
    obj = item.object
    try:
        if obj.workload == Workload.MAIL:
            path = f"users/{obj.owner_id}/messages/{item.graph_id}"
            now = graph.get(path, **{"$select": "changeKey"})
            if not item.meta.get("changeKey") or now.get("changeKey") != item.meta["changeKey"]:
                return None
            response = graph.request("GET", f"{path}/$value", stream=True)
        elif obj.workload != Workload.ONEDRIVE:
            # Events and contacts are stored as the JSON a run assembled (with the
            # series' instances): a new backup run rebuilds it, a repair cannot.
            return None
        else:
            path = f"drives/{obj.graph_ref}/items/{item.graph_id}"
            now = graph.get(path)
            hashes = (now.get("file") or {}).get("hashes") or {}
            wanted = item.meta.get("quickXorHash")
            if not wanted or hashes.get("quickXorHash") != wanted:
                return None
            response = graph.request("GET", f"{path}/content", stream=True)
    except GraphError as error:
        if error.status == 404:
            return None
        raise

    def chunks() -> Iterator[bytes]:
        with response:
            yield from response.iter_content(CHUNK)

    return chunks()


def repair(report: Report) -> Report:
    """Fetch again what Microsoft 365 still holds unchanged; mark the rest LOST."""
    store = blob_store()
    graphs: dict[str, GraphClient] = {}
    for finding in report.findings:
        items = list(
            _items_of(finding.tenant, finding.address)
            .exclude(content_status=ContentStatus.LOST)
            .select_related("object")
            .order_by("-first_seq")
        )
        repaired_to = ""
        try:
            graph = graphs.setdefault(finding.tenant, tokens.graph_as_app(finding.tenant))
            for item in items:
                chunks = _refetch(graph, item)
                if chunks is not None:
                    repaired_to, _, _ = store.put(
                        chunks, tenant=finding.tenant, replace=finding.status == "corrupt"
                    )
                    break
        except (GraphError, flows.FlowError, tokens.TokensUnavailable) as error:
            report.unrepaired.append(f"{finding.address}: Microsoft 365 not asked ({error})")
            continue
        ids = [item.pk for item in items]
        if repaired_to:
            # Same content, same address; a re-fetch that differs (a message's MIME is
            # regenerated by Exchange) is stored under its own address.
            Item.objects.filter(pk__in=ids).update(content_status="", content_sha256=repaired_to)
            report.repaired += 1
        else:
            Item.objects.filter(pk__in=ids).update(content_status=ContentStatus.LOST)
            report.lost += 1
    return report


# --- What the console, /healthz and the metric show ---------------------------------------


@dataclass(frozen=True)
class Summary:
    missing: int
    corrupt: int
    lost: int
    store_problem: str  # "" when the store answers and takes writes

    @property
    def healthy(self) -> bool:
        return not (self.missing or self.corrupt or self.store_problem)


def problem_counts() -> dict[str, int]:
    rows = (
        Item.objects.filter(~Q(content_status=""))
        .values("content_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = dict.fromkeys(ContentStatus.values, 0)
    counts.update({row["content_status"]: row["n"] for row in rows})
    return counts


def store_problem() -> str:
    """Why the store cannot be used now ("" if it can): unreachable, read-only, or empty
    while the catalog references content (the wrong directory or bucket mounted)."""
    store = blob_store()
    try:
        store.probe()
        if store.manifest() is None and Item.objects.exclude(content_sha256="").exists():
            return (
                f"the blob store {store} holds no keys.json although the catalog references "
                "content: the wrong store is mounted, or its plaintext blobs await "
                "manage.py encrypt_blobs"
            )
    except BlobStoreUnavailable as error:
        return str(error)
    return ""


def store_label() -> str:
    """Where the store is, for admins: the URL without anything secret (none is in it)."""
    return str(blob_store())


def summary() -> Summary:
    counts = problem_counts()
    return Summary(
        missing=counts[ContentStatus.MISSING],
        corrupt=counts[ContentStatus.CORRUPT],
        lost=counts[ContentStatus.LOST],
        store_problem=store_problem(),
    )


def verify_todays_slice() -> Report:
    return verify(addresses(day=timezone.localdate()))


def healthz() -> Check:
    """The /healthz entry: ok, or degraded (content problems never make the site down).
    The detail names the store's trouble, never a tenant, an address or a secret."""
    found = summary()
    fields = {
        "store": found.store_problem or "ok",
        "items_missing": found.missing,
        "items_corrupt": found.corrupt,
        "items_lost": found.lost,
    }
    if found.healthy:
        return Check("ok", fields=fields)
    detail = found.store_problem or (
        f"{found.missing} items missing, {found.corrupt} corrupt: run verify_blobs --repair"
    )
    return Check("degraded", detail, fields)
