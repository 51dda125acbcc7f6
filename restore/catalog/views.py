"""Pages for browsing and searching backups: My backups, timeline, folder, preview, search.

Every view starts from `Scope.for_user(request.user)` and reaches rows only through it,
so an id outside the person's scope is a 404 from every URL. Bad paging or filter input
is a 400 that says what is wrong.
"""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from portal.http import PortalRequest
from restore.catalog import basket, browse, calendar_view, downloads, events, preview, search
from restore.models import EntityKind, Folder, Item, ProtectedObject, RestoreJob
from restore.scope import Scope
from restore.workloads import info

# The restore form on the point page posts here; the restore jobs module serves it.
RESTORE_FORM_ACTION = "/backups/restore/"
POINTS_PER_PAGE = 50


def _bad_request(request: PortalRequest, message: str) -> HttpResponse:
    return render(request, "restore/bad_request.html", {"message": message}, status=400)


def next_url(request: PortalRequest, cursor: str | None) -> str | None:
    """This page's URL with its filters, continuing at `cursor`."""
    if cursor is None:
        return None
    params = request.GET.copy()
    params["cursor"] = cursor
    return f"{request.path}?{params.urlencode()}"


# --- My backups ----------------------------------------------------------------------------


@require_GET
@login_required
def my_backups(request: PortalRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    objects = browse.objects_overview(scope.objects())
    owners: dict[tuple[str, str], list] = {}
    for obj in objects.order_by("name", "owner_id", "workload"):
        owners.setdefault((obj.name, obj.address), []).append(obj)
    return render(
        request,
        "restore/my_backups.html",
        {
            "owners": [
                {"name": name, "address": address, "objects": objs}
                for (name, address), objs in owners.items()
            ],
            "session": scope.session,
        },
    )


@require_POST
@login_required
def refresh_scope(request: PortalRequest) -> HttpResponse:
    Scope.for_user(request.user, refresh=True)
    return redirect("restore:my-backups")


# --- Timeline --------------------------------------------------------------------------


@require_GET
@login_required
def object_detail(request: PortalRequest, object_id: int) -> HttpResponse:
    scope = Scope.for_user(request.user)
    obj = scope.object(object_id)
    points = scope.restore_points(obj).order_by("-seq")
    before = request.GET.get("before", "")
    if before:
        if not before.isdigit():
            return _bad_request(request, "“before” must be a restore point number.")
        points = points.filter(seq__lt=int(before))
    shown = list(points[: POINTS_PER_PAGE + 1])
    older = shown[POINTS_PER_PAGE - 1].seq if len(shown) > POINTS_PER_PAGE else None
    return render(
        request,
        "restore/object.html",
        {"object": obj, "points": shown[:POINTS_PER_PAGE], "older": older},
    )


DELETED_PER_PAGE = 50


@require_GET
@login_required
def deleted_view(request: PortalRequest, object_id: int) -> HttpResponse:
    """What some restore point holds and the latest backup no longer saw: newest deletion
    first, each restorable from the last point that held it."""
    scope = Scope.for_user(request.user)
    obj = scope.object(object_id)
    page = Paginator(
        browse.deleted_items(scope.items().filter(object=obj)), DELETED_PER_PAGE
    ).get_page(request.GET.get("page"))
    items = list(page)
    ranges = browse.point_ranges(items, scope.restore_points())
    marks = browse.since(items, scope.restore_points())
    return render(
        request,
        "restore/deleted.html",
        {
            "object": obj,
            "page": page,
            "rows": [(item, ranges[item.pk], marks.get(item.pk)) for item in items],
        },
    )


def restore_options(scope: Scope, obj: ProtectedObject) -> dict[str, Any]:
    """What a restore form of `obj` offers: targets (another person only when the scope
    holds one), the collision choices of the workload, the default folder names."""
    # Another person's mailbox or drive in the same scope (an operator's): restored into
    # with their consent (restore/jobs/consent.py).
    people = list(
        scope.objects()
        .filter(workload=obj.workload, entity=EntityKind.USER)
        .exclude(pk=obj.pk)
        .order_by("name")
    )
    today = timezone.localdate()
    return {
        "targets": [
            (value, label)
            for value, label in RestoreJob.Target.choices
            if value != RestoreJob.Target.ANOTHER or people
        ],
        "people": people,
        "collisions": [(c, RestoreJob.Collision(c).label) for c in info(obj.workload).collisions],
        "default_target_name": f"Restored items {today:%Y-%m-%d}",
        "another_default_name": f"Restored from {obj.address or obj.name} {today:%Y-%m-%d}",
    }


# --- A restore point: folder tree and items ---------------------------------------------


@require_GET
@login_required
@vary_on_headers("HX-Request")
def point_detail(request: PortalRequest, point_id: int) -> HttpResponse:
    scope = Scope.for_user(request.user)
    point = scope.restore_point(point_id)
    folders = scope.folders(point)
    items = scope.items(point)
    folder_id = request.GET.get("folder", "")
    folder = (
        scope.folder(point, folder_id)
        if folder_id
        else browse.default_folder(list(folders.order_by("path")))
    )
    sort = request.GET.get("sort", browse.DEFAULT_SORT)
    try:
        found = browse.page(
            items.filter(folder=folder) if folder else items.none(),
            request.GET.get("cursor") or None,
            sort,
            browse.parse_limit(request.GET.get("limit")),
        )
    except browse.InvalidPage as error:
        return _bad_request(request, str(error))
    draft = _restore_draft(request, point.pk)
    context: dict[str, Any] = {
        "point": point,
        "object": point.object,
        "folder": folder,
        "page": found,
        "sorts": {key: browse.SORTS[key] for key in info(point.object.workload).sorts},
        "restore_action": RESTORE_FORM_ACTION,
        "next_url": next_url(request, found.next_cursor),
        # A restore the form sent that was refused: its ticks and choices, shown again.
        "draft": draft,
        **restore_options(scope, point.object),
        "workload": info(point.object.workload),
        # Events are listed under a heading for each day when listed by date.
        "by_day": info(point.object.workload).item_kind == Item.Kind.EVENT
        and found.sort in ("date", "date-asc"),
    }
    # Items deleted or changed since this point, and when (the person sees what is gone).
    marks = browse.since(found.items, scope.restore_points())
    context["rows"] = [(item, marks.get(item.pk)) for item in found.items]
    # A calendar also as a month or a week of occurrences (restore/catalog/calendar_view.py).
    view = request.GET.get("view", "list")
    if info(point.object.workload).item_kind == Item.Kind.EVENT and folder is not None:
        if view not in calendar_view.VIEWS:
            return _bad_request(request, "“view” must be list, month or week.")
        context["views"] = calendar_view.VIEWS
        context["view"] = view
        if view != "list":
            try:
                anchor = calendar_view.parse_anchor(
                    request.GET.get("at"), timezone.localtime(point.started_at).date()
                )
            except ValueError:
                return _bad_request(request, "“at” must be a day such as 2026-09-07.")
            context["grid"] = calendar_view.grid(items.filter(folder=folder), view, anchor)
    if request.htmx and request.GET.get("cursor"):
        return render(request, "restore/point.html#item-rows", context)
    context["tree"] = browse.folder_tree(folders, items)
    return render(request, "restore/point.html", context)


RESTORE_DRAFT = "restore_draft"  # the session key restore/jobs/views.py writes


def _restore_draft(request: PortalRequest, point_id: int) -> dict[str, Any]:
    """The refused restore form of this point, once (ticks and choices as they were)."""
    draft = request.session.get(RESTORE_DRAFT)
    if not isinstance(draft, dict) or str(draft.get("point")) != str(point_id):
        return {}
    if not (request.htmx and request.GET.get("cursor")):
        del request.session[RESTORE_DRAFT]
    return {
        "items": {str(i) for i in draft.get("items", [])},
        "folders": {str(f) for f in draft.get("folders", [])},
        "target": str(draft.get("target", "")),
        "target_name": str(draft.get("target_name", "")),
        "collision": str(draft.get("collision", "")),
        "target_object": str(draft.get("target_object", "")),
    }


# --- The selection basket -----------------------------------------------------------------


def _back_or(request: PortalRequest, fallback: str) -> HttpResponse:
    """Back to the page the form was on, if it is one of ours; else `fallback`."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(referer)
    return redirect(fallback)


@require_GET
@login_required
def basket_view(request: PortalRequest) -> HttpResponse:
    """The selection, per object, each with its own restore form."""
    scope = Scope.for_user(request.user)
    picked_all = basket.contents(request.session)
    objects = scope.objects().in_bulk([c.object_id for c in picked_all])
    selections = []
    for picked in picked_all:
        obj = objects.get(picked.object_id)
        if obj is None:
            continue  # out of scope since: never shown, never restored
        items = list(
            scope.items()
            .filter(object=obj, id__in=list(picked.items))
            .select_related("folder")
            .order_by("folder__path", "-dated_at")
        )
        folders = list(Folder.objects.filter(object=obj, id__in=list(picked.folders)))
        selections.append(
            {
                "object": obj,
                "items": items,
                "folders": folders,
                "size": picked.size,
                "points": len({p for p, _ in picked.items.values()} | set(picked.folders.values())),
                **restore_options(scope, obj),
            }
        )
    return render(request, "restore/basket.html", {"selections": selections})


@require_POST
@login_required
def basket_add(request: PortalRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    try:
        obj, added = basket.add(
            request.session,
            scope,
            request.POST.get("point", ""),
            request.POST.getlist("items"),
            request.POST.getlist("folders"),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _back_or(request, "restore:basket")
    messages.success(
        request,
        f"Added {added} to your selection of {obj}."
        if added
        else f"Already in your selection of {obj}.",
    )
    return _back_or(request, "restore:basket")


@require_POST
@login_required
def basket_remove(request: PortalRequest) -> HttpResponse:
    object_id = request.POST.get("object", "")
    if not object_id.isdigit():
        return _bad_request(request, "“object” must be an object id.")
    try:
        if request.POST.get("all"):
            basket.clear(request.session, int(object_id))
        else:
            basket.remove(
                request.session,
                int(object_id),
                request.POST.getlist("items"),
                request.POST.getlist("folders"),
            )
    except ValidationError as error:
        return _bad_request(request, " ".join(error.messages))
    return redirect("restore:basket")


# --- One item ------------------------------------------------------------------------------


@require_GET
@login_required
def item_detail(request: PortalRequest, item_id: int) -> HttpResponse:
    scope = Scope.for_user(request.user)
    item = scope.item(item_id)
    states = list(
        scope.items().filter(object_id=item.object_id, graph_id=item.graph_id).order_by("first_seq")
    )
    ranges = browse.point_ranges(states, scope.restore_points())
    context: dict = {
        "item": item,
        "object": item.object,
        "snapshots": [(state, ranges[state.pk]) for state in states],
        "range": ranges[item.pk],
        "allow_remote": request.GET.get("remote") == "1",
        "item_template": info(item.object.workload).item_template,
        "second_export": info(item.object.workload).second_export,
    }
    # What the workload's partial shows besides the item's own fields.
    if item.kind == Item.Kind.MESSAGE:
        parsed = preview.parse(item)
        context |= {"headers": parsed.headers, "attachments": parsed.attachments}
    elif item.kind == Item.Kind.EVENT:
        context |= events.event_context(item)
    elif item.kind == Item.Kind.CONTACT:
        context |= events.contact_context(item)
    elif item.kind == Item.Kind.TASK:
        context |= events.task_context(item)
    else:
        context["versions"] = file_versions(item)
    return render(request, "restore/item.html", context)


def file_versions(item: Item) -> list[dict[str, object]]:
    """Earlier versions Graph listed for a file (driveItem versions), for display."""
    versions = []
    for version in item.meta.get("versions", []):
        if not isinstance(version, dict):
            continue
        by = version.get("lastModifiedBy")
        user = by.get("user", {}) if isinstance(by, dict) else {}
        versions.append(
            {
                "id": str(version.get("id", "")),
                "modified_at": str(version.get("lastModifiedDateTime", "")),
                "by": str(user.get("displayName", "")) if isinstance(user, dict) else "",
                "size": version.get("size") if isinstance(version.get("size"), int) else None,
            }
        )
    return versions


@require_GET
@login_required
@xframe_options_sameorigin
def item_body(request: PortalRequest, item_id: int) -> HttpResponse:
    """The sanitised body of a message, for the sandboxed iframe of the preview page."""
    item = Scope.for_user(request.user).item(item_id)
    if item.kind != Item.Kind.MESSAGE:
        raise Http404("Only messages have a body.")
    allow_remote = request.GET.get("remote") == "1"
    body = preview.body_document(item, allow_remote_images=allow_remote)
    response = HttpResponse(body.html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = preview.body_csp(allow_remote_images=allow_remote)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Blocked-Images"] = str(body.blocked_images)
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@login_required
def item_download(request: PortalRequest, item_id: int) -> HttpResponseBase:
    """One item as a file: a message as .eml, a file as itself; streamed from the blob."""
    try:
        item = Scope.for_user(request.user).item(item_id)
        return downloads.item_response(item, request, request.GET.get("as", ""))
    except downloads.ContentUnavailable as problem:
        return HttpResponse(str(problem), content_type="text/plain", status=problem.status)


@require_GET
@login_required
def attachment_download(request: PortalRequest, item_id: int, index: int) -> FileResponse:
    item = Scope.for_user(request.user).item(item_id)
    found = preview.attachment(item, index) if item.kind == Item.Kind.MESSAGE else None
    if found is None:
        raise Http404("No such attachment.")
    described, data = found
    # Never the sender's content type: whatever it claims, the browser saves it.
    response = FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=described.filename,
        content_type="application/octet-stream",
    )
    response["Cache-Control"] = "private, no-store"
    return response


# --- Search --------------------------------------------------------------------------------


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=search.MAX_QUERY_LENGTH, label="Words")
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    folder = forms.CharField(required=False, max_length=400)
    kind = forms.ChoiceField(
        required=False, choices=[("", "Mail and files"), *Item.Kind.choices], label="Type"
    )
    has_attachments = forms.BooleanField(required=False, label="Has attachments")
    object = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    sort = forms.ChoiceField(
        required=False,
        choices=[("date", "Newest first"), ("date-asc", "Oldest first")],
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The “from” date is after the “to” date.")
        return data


@require_GET
@login_required
@vary_on_headers("HX-Request")
def search_view(request: PortalRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    form = SearchForm(request.GET or None)
    context: dict = {"form": form, "objects": scope.objects(), "searched": False}
    if not request.GET:
        return render(request, "restore/search.html", context)
    if not form.is_valid():
        return render(request, "restore/search.html", context, status=400)
    data = form.cleaned_data
    try:
        found = search.across_points(
            scope,
            data["q"],
            object_id=data["object"],
            kind=data["kind"],
            has_attachments=data["has_attachments"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            folder_path=data["folder"],
            sort=data["sort"] or browse.DEFAULT_SORT,
            cursor=request.GET.get("cursor") or None,
            limit=browse.parse_limit(request.GET.get("limit")),
        )
    except browse.InvalidPage as error:
        return _bad_request(request, str(error))
    context |= {
        "searched": True,
        "page": found,
        "results": [(hit.item, hit.held, hit.since) for hit in found.hits],
        "next_url": next_url(request, found.next_cursor),
    }
    if request.htmx and request.GET.get("cursor"):
        return render(request, "restore/search.html#result-rows", context)
    return render(request, "restore/search.html", context)
