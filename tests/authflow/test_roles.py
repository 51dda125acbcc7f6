"""Every helpdesk and admin page checks the role on the server."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from authflow.models import Role, User

SAMPLE_ARGS = {
    "code": uuid.uuid4(),
    "identity": "00000000-0000-0000-0000-000000000001.tid",
    "grant_id": 1,
    "tenant_id": uuid.uuid4(),
    "object_id": 1,
}
POST_ONLY = {
    "helpdesk:start",
    "helpdesk:cancel",
    "helpdesk:link-instead",
    "console:revoke",
    "console:re-login",
    "console:change-role",
    "console:restore-scope-add",
    "console:restore-scope-delete",
    "console:tenant-add",
    "console:tenant-verify",
    "console:tenant-remove",
    "console:tenant-backup-account",
    "console:delegated-backups-start",
    "console:delegated-backup-start",
}
# Admin pages that helpdesk may open too: who must sign in before the backup window.
HELPDESK_IN_CONSOLE = {
    "console:delegated-backups",
    "console:delegated-backups-start",
    "console:delegated-backup-start",
}


def _patterns(patterns: list) -> list[URLPattern]:
    """URL patterns, with those of included modules (which share the namespace)."""
    flat = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            flat.extend(_patterns(pattern.url_patterns))
        else:
            assert isinstance(pattern, URLPattern)
            flat.append(pattern)
    return flat


def protected_urls() -> list[tuple[str, str, Role]]:
    """(name, url, role needed) for every URL under /helpdesk/ and /admin/."""
    found = []
    for namespace, role in (("helpdesk", Role.HELPDESK), ("console", Role.ADMIN)):
        resolver = get_resolver().namespace_dict[namespace][1]
        for pattern in _patterns(resolver.url_patterns):
            name = f"{namespace}:{pattern.name}"
            kwargs = {k: SAMPLE_ARGS[k] for k in pattern.pattern.converters}
            needed = Role.HELPDESK if name in HELPDESK_IN_CONSOLE else role
            found.append((name, reverse(name, kwargs=kwargs), needed))
    return found


def request(client, name, url):
    return client.post(url) if name in POST_ONLY else client.get(url)


def person(role: Role, username: str) -> User:
    return User.objects.create(username=username, upn=f"{username}@contoso.example", role=role)


URLS = protected_urls()


@pytest.mark.parametrize(("name", "url", "needed"), URLS, ids=[u[0] for u in URLS])
@pytest.mark.django_db
def test_signed_out_people_are_sent_to_sign_in(client, name, url, needed):
    response = request(client, name, url)
    assert response.status_code == 302
    assert response["Location"].startswith("/auth/sign-in?next=")


@pytest.mark.parametrize(("name", "url", "needed"), URLS, ids=[u[0] for u in URLS])
@pytest.mark.django_db
def test_end_users_get_403(client, name, url, needed):
    client.force_login(person(Role.END_USER, "eve"))
    response = request(client, name, url)
    assert response.status_code == 403
    assert "You don't have access to this page" in response.content.decode()


@pytest.mark.parametrize(("name", "url", "needed"), URLS, ids=[u[0] for u in URLS])
@pytest.mark.django_db
def test_helpdesk_reaches_helpdesk_pages_only(client, name, url, needed):
    client.force_login(person(Role.HELPDESK, "heidi"))
    status = request(client, name, url).status_code
    if needed == Role.ADMIN:
        assert status == 403
    else:
        assert status != 403


@pytest.mark.parametrize(("name", "url", "needed"), URLS, ids=[u[0] for u in URLS])
@pytest.mark.django_db
def test_admins_reach_every_page(client, name, url, needed):
    client.force_login(person(Role.ADMIN, "ivan"))
    assert request(client, name, url).status_code != 403


@pytest.mark.django_db
def test_a_role_from_entra_counts_as_much_as_a_granted_one(client):
    user = User.objects.create(username="x.y", upn="x@contoso.example", directory_role=Role.ADMIN)
    client.force_login(user)
    assert client.get(reverse("console:people")).status_code == 200
    assert user.effective_role == Role.ADMIN
