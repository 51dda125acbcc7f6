"""Restore job pages: start a restore, my jobs, one job (live progress, log, items)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRedirect

from portal.http import PortalRequest
from restore.blobs import BlobStoreUnavailable
from restore.catalog import basket
from restore.catalog.views import RESTORE_DRAFT
from restore.jobs import consent, downloads, lifecycle
from restore.jobs import plan as dry_run
from restore.models import RestoreJob, RestoreJobItem
from restore.scope import Scope

ITEMS_PER_PAGE = 50
JOBS_PER_PAGE = 25


def _back(request: PortalRequest) -> str | None:
    """Where the restore form was, if it is one of ours."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return None


def _problem(request: PortalRequest, status: int, heading: str, message: str) -> HttpResponse:
    context = {"status": status, "heading": heading, "message": message}
    return render(request, "restore/jobs/problem.html", context, status=status)


def _selection(request: PortalRequest) -> tuple[str, list[str], list[str], str, str, str, str]:
    """The restore form's point, items, folders, target, target name, collision and the
    other person's mailbox or drive, in the order lifecycle.create_job and dry_run.plan
    take them."""
    post = request.POST
    target = post.get("target", "")
    # The form has one name field per target that takes a name (the other is hidden).
    name_field = "another_name" if target == RestoreJob.Target.ANOTHER else "target_name"
    return (
        post.get("point", ""),
        post.getlist("items"),
        post.getlist("folders"),
        target,
        post.get(name_field, post.get("target_name", "")),
        post.get("collision", RestoreJob.Collision.SKIP),
        post.get("target_object", ""),
    )


MAX_DRAFT_ITEMS = 10_000  # as many as a job may hold


def _keep_draft(request: PortalRequest) -> None:
    """The refused form's ticks and choices, for the point page to show them again."""
    point, items, folders, target, target_name, collision, target_object = _selection(request)
    request.session[RESTORE_DRAFT] = {
        "point": point[:20],
        "items": [i[:20] for i in items[:MAX_DRAFT_ITEMS]],
        "folders": [f[:20] for f in folders[:MAX_DRAFT_ITEMS]],
        "target": target[:20],
        "target_name": target_name[:255],
        "collision": collision[:20],
        "target_object": target_object[:20],
    }


@require_POST
@login_required
def start(request: PortalRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    try:
        job = lifecycle.create_job(scope, *_selection(request), request=request)
    except ValidationError as error:
        text = " ".join(error.messages)
        back = _back(request)
        if back and not request.htmx:
            messages.error(request, text)
            _keep_draft(request)
            return HttpResponseRedirect(back)
        return _problem(request, 400, "The restore was not started", text)
    url = reverse("restore:job", args=[job.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_POST
@login_required
def start_basket(request: PortalRequest) -> HttpResponse:
    """Restore one object's selection basket as one job, each item from its own point."""
    object_id = request.POST.get("object", "")
    picked = basket.of_object(request.session, int(object_id)) if object_id.isdigit() else None
    if picked is None:
        return _problem(request, 400, "The restore was not started", "The selection is empty.")
    scope = Scope.for_user(request.user)
    _, _, _, target, target_name, collision, target_object = _selection(request)
    try:
        asked = lifecycle.validate_picks(
            scope, picked.picks(), target, target_name, collision, target_object
        )
        job = lifecycle.queue(scope, asked, request=request)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("restore:basket")
    basket.clear(request.session, picked.object_id)
    return redirect("restore:job", job_id=job.pk)


@require_POST
@login_required
def plan(request: PortalRequest) -> HttpResponse:
    """The dry run: what "Restore" would do with each selected item; nothing written. With
    htmx, the plan panel under the form; without, a page with the plan and "Restore"."""
    scope = Scope.for_user(request.user)
    post = request.POST
    try:
        result = dry_run.plan(scope, *_selection(request))
    except (ValidationError, dry_run.PlanUnavailable) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        if request.htmx:
            # The panel under the form says it (htmx swaps 2xx answers only); nothing
            # was written either way.
            return render(request, "restore/jobs/plan.html#plan", {"problem": text})
        status = 400
        if isinstance(error, dry_run.PlanUnavailable):
            status = 503 if error.reason == "unavailable" else 409
        return _problem(request, status, "What will happen could not be checked", text)
    totals = result.totals
    context = {
        "plan": result,
        "totals": totals,
        "keep_both": totals["keep-both"],
        "point": post.get("point", ""),
        "target_object": post.get("target_object", ""),
        "selected_items": post.getlist("items"),
        "selected_folders": post.getlist("folders"),
    }
    template = "restore/jobs/plan.html#plan" if request.htmx else "restore/jobs/plan.html"
    return render(request, template, context)


@require_GET
@login_required
def job_list(request: PortalRequest) -> HttpResponse:
    scope = Scope.for_user(request.user)
    page = Paginator(
        scope.jobs().select_related("object", "restore_point", "target_object"), JOBS_PER_PAGE
    ).get_page(request.GET.get("page"))
    return render(request, "restore/jobs/list.html", {"page": page})


@require_GET
@login_required
@vary_on_headers("HX-Request")
def job_detail(request: PortalRequest, job_id: object) -> HttpResponse:
    job = Scope.for_user(request.user).job(job_id)
    items = Paginator(
        RestoreJobItem.objects.filter(job=job).select_related("item").order_by("id"),
        ITEMS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    context = {"job": job, "log": job.log.all(), "items": items}
    if request.htmx and request.htmx.target == "job-status":
        # The counters and log, and out of band each row of the table's page: results
        # show as they come, and the last poll (after a cancel too) leaves none "Pending".
        status = render_to_string("restore/jobs/detail.html#job-status", context, request)
        rows = render_to_string(
            "restore/jobs/detail.html#item-rows-oob", {**context, "oob": True}, request
        )
        response = HttpResponse(status + rows)
        if job.is_finished:
            response.status_code = HTMX_STOP_POLLING
        return response
    return render(request, "restore/jobs/detail.html", context)


@require_POST
@login_required
def cancel(request: PortalRequest, job_id: object) -> HttpResponse:
    job = Scope.for_user(request.user).job(job_id)
    if lifecycle.cancel(job, by=request.user, request=request):
        messages.info(request, "Cancelling the restore.")
    else:
        messages.info(request, "The restore had already finished.")
    url = reverse("restore:job", args=[job.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@login_required
def download(request: PortalRequest, job_id: object) -> HttpResponse | StreamingHttpResponse:
    job = Scope.for_user(request.user).job(job_id)
    if job.target != RestoreJob.Target.DOWNLOAD:
        return _problem(request, 404, "Not a download", "This restore is not a download.")
    if job.status == RestoreJob.Status.CANCELLED:
        return _problem(request, 410, "Download cancelled", "This download was cancelled.")
    if job.download_expired or not job.items_done:
        return _problem(request, 410, "Download no longer available", downloads.gone(job))
    try:
        return downloads.response(job, request)
    except BlobStoreUnavailable as error:
        return _problem(
            request,
            503,
            "Backup store unavailable",
            f"Nothing was downloaded: {error}. Open the download link again once it answers.",
        )


# --- Restores into my mailbox or drive that someone asked for ----------------------------


@require_GET
@login_required
def requests_list(request: PortalRequest) -> HttpResponse:
    """What others asked to restore into my mailbox or drive, waiting for my answer."""
    pending = consent.pending_for(request.user)
    return render(request, "restore/jobs/requests.html", {"pending": pending})


@require_GET
@login_required
def request_detail(request: PortalRequest, job_id: UUID) -> HttpResponse:
    """One request, as the person asked sees it; anyone else gets 404."""
    asked = consent.request_for(request.user, job_id)
    return render(request, "restore/jobs/request.html", {"consent": asked, "job": asked.job})


@require_POST
@login_required
def request_answer(request: PortalRequest, job_id: UUID) -> HttpResponse:
    asked = consent.request_for(request.user, job_id)
    answer = request.POST.get("answer", "")
    if answer not in ("agree", "refuse"):
        return _problem(request, 400, "No answer", "Choose “Restore into my mailbox” or “No”.")
    try:
        if answer == "agree":
            consent.agree(asked, request=request)
            messages.success(request, "Thank you: the restore is on its way.")
        else:
            consent.refuse(asked, request=request)
            messages.info(request, "Refused: nothing was restored.")
    except consent.Undecidable as error:
        return _problem(request, 409, "This request can't be answered", str(error))
    return redirect("restore:restore-request", job_id=asked.job_id)
