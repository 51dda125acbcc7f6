from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.http import PortalRequest


@require_GET
def sign_in(request: PortalRequest) -> HttpResponse:
    return render(request, "authflow/sign_in.html")
