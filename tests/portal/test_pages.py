from __future__ import annotations

import re

import pytest
from django.test import RequestFactory

from authflow.models import User
from portal.views import server_error


@pytest.mark.django_db
def test_home_page_renders_in_the_base_layout(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Get back what was lost from Microsoft 365" in html
    # htmx 2 comes from our own static files, never a CDN, and carries the CSP nonce.
    assert re.search(r'<script src="/static/django_htmx/htmx-2\.min\.js"[^>]* nonce="[^"]+"', html)
    assert 'hx-headers=\'{"x-csrftoken": "' in html
    assert "Sign in" in html


@pytest.mark.django_db
def test_navigation_shows_who_is_signed_in_and_their_role(client):
    user = User.objects.create(
        username="oid.tid", upn="alice@contoso.example", display_name="Alice Kim", role="helpdesk"
    )
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "Alice Kim" in html
    assert '<span class="badge role-helpdesk">Helpdesk</span>' in html


@pytest.mark.django_db
def test_every_page_has_a_strict_content_security_policy(client):
    policy = client.get("/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.django_db
def test_unknown_url_gets_the_friendly_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We couldn't find that" in html
    assert 'class="site-header"' in html


@pytest.mark.django_db
def test_server_error_page_uses_the_base_layout(rf: RequestFactory):
    request = rf.get("/")
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    response = server_error(request)
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    assert 'class="site-header"' in response.content.decode()


@pytest.mark.django_db
def test_a_post_without_csrf_token_gets_the_friendly_403(client):
    client = type(client)(enforce_csrf_checks=True)
    response = client.post("/auth/sign-in", {})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
