"""Deterministic seed of the sandbox tenant: directory, app registrations, keys, content.

Every id is derived from a name (uuid5), so a reset gives the same tenant each time and
the demo, the tests and the docs can name users and groups.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from sandbox import constants, keys
from sandbox.content import seed_content
from sandbox.generator import stable_id
from sandbox.models import (
    Application,
    DirectoryUser,
    Group,
    Policy,
    ServicePrincipal,
    SigningKey,
    Tenant,
    TenantDomain,
)
from sandbox.models.directory import hash_secret
from sandbox.sharepoint import seed_sites


@dataclass(frozen=True)
class Person:
    alias: str
    display_name: str
    job_title: str
    department: str
    tenant_domain: str = constants.TENANT_DOMAIN

    @property
    def upn(self) -> str:
        return f"{self.alias}@{self.tenant_domain}"

    @property
    def password(self) -> str:
        return f"{self.alias}-sandbox-pass"


PEOPLE = [
    Person("alice", "Alice Kim", "Financial Analyst", "Finance"),
    Person("bob", "Bob Lee", "Finance Manager", "Finance"),
    Person("carol", "Carol Diaz", "Engineering Lead", "Engineering"),
    Person("dave", "Dave Patel", "Developer", "Engineering"),
    Person("erin", "Erin Walsh", "Product Designer", "Engineering"),
    Person("frank", "Frank Moore", "Account Executive", "Sales"),
    Person("grace", "Grace Chen", "Legal Counsel", "Legal"),
    Person("heidi", "Heidi Novak", "IT Helpdesk", "IT"),
    Person("ivan", "Ivan Petrov", "IT Administrator", "IT"),
    Person("judy", "Judy Brown", "HR Partner", "People"),
    Person("mallory", "Mallory Quinn", "Consultant", "Advisory", constants.OTHER_TENANT_DOMAIN),
    Person("trent", "Trent Ross", "IT Administrator", "IT", constants.OTHER_TENANT_DOMAIN),
    Person("nina", "Nina Patel", "IT Administrator", "IT", constants.THIRD_TENANT_DOMAIN),
    Person("oscar", "Oscar Lund", "Buyer", "Purchasing", constants.THIRD_TENANT_DOMAIN),
]

# (name, description, owners, members, group types)
GROUPS = [
    ("Finance", "Finance team", ["bob"], ["alice", "bob", "frank"], ["Unified"]),
    (
        "Dev/Team/1",
        "Platform engineering",
        ["carol", "erin"],
        ["carol", "dave", "erin"],
        ["Unified"],
    ),
    ("IT Helpdesk", "Service desk staff", ["ivan"], ["heidi", "ivan"], []),
    (
        "All Staff",
        "Everyone at Contoso",
        ["ivan"],
        ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"],
        ["Unified"],
    ),
]

# Delegated Graph permissions an admin of each tenant consented for the portal.
PORTAL_DELEGATED_SCOPES = [
    "User.Read",
    "Mail.ReadWrite",
    "Files.ReadWrite",
    "Files.ReadWrite.All",
    "Calendars.ReadWrite",
    "Contacts.ReadWrite",
    "Tasks.ReadWrite",
    "GroupMember.Read.All",
    "User.ReadBasic.All",
    # Group calendars (delegated only in Graph): backups read, restores write.
    "Group.Read.All",
    "Group.ReadWrite.All",
    # To Do read as the person where the app holds no Tasks.Read.All (the rule's fallback).
    "Tasks.Read",
]
# Application permissions granted to the portal app (backups read with these).
PORTAL_APPLICATION_ROLES = [
    "User.Read.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Mail.ReadWrite",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Calendars.Read",
    "Contacts.Read",
    "Tasks.Read.All",
    # What "Verify" reads: granted app roles and delegated consent (portal/permissions.py).
    "Application.Read.All",
    "Directory.Read.All",
]
PORTAL_APP_ROLES = [
    {"value": "Lifeboat.Admin", "displayName": "Lifeboat admin", "allowedMemberTypes": ["User"]},
    {
        "value": "Lifeboat.Helpdesk",
        "displayName": "Lifeboat helpdesk",
        "allowedMemberTypes": ["User"],
    },
]


def person(alias: str) -> Person:
    return next(p for p in PEOPLE if p.alias == alias)


def demo_accounts() -> list[dict[str, str]]:
    return [{"upn": p.upn, "password": p.password, "display_name": p.display_name} for p in PEOPLE]


def portal_redirect_uris() -> list[str]:
    # The sign-in callback and the admin-consent return page ("Connect a tenant").
    return [f"{settings.PORTAL_URL}/auth/callback", f"{settings.PORTAL_URL}/admin/tenants/consent"]


def _seed_directory() -> None:
    tenants = {
        constants.TENANT_DOMAIN: Tenant.objects.create(
            id=uuid.UUID(constants.TENANT_ID), display_name=constants.TENANT_NAME
        ),
        constants.OTHER_TENANT_DOMAIN: Tenant.objects.create(
            id=uuid.UUID(constants.OTHER_TENANT_ID), display_name=constants.OTHER_TENANT_NAME
        ),
        constants.THIRD_TENANT_DOMAIN: Tenant.objects.create(
            id=uuid.UUID(constants.THIRD_TENANT_ID), display_name=constants.THIRD_TENANT_NAME
        ),
    }
    for domain, tenant in tenants.items():
        TenantDomain.objects.create(tenant=tenant, name=domain, is_default=True)

    users = {}
    for p in PEOPLE:
        first, _, last = p.display_name.partition(" ")
        user = DirectoryUser(
            id=stable_id("user", p.upn),
            tenant=tenants[p.tenant_domain],
            user_principal_name=p.upn,
            display_name=p.display_name,
            given_name=first,
            surname=last,
            mail=p.upn,
            job_title=p.job_title,
            department=p.department,
        )
        user.set_password(p.password)
        users[p.alias] = user
    DirectoryUser.objects.bulk_create(users.values())

    contoso = tenants[constants.TENANT_DOMAIN]
    for name, description, owners, members, group_types in GROUPS:
        nickname = name.lower().replace("/", "-").replace(" ", "-")
        group = Group.objects.create(
            id=stable_id("group", name),
            tenant=contoso,
            display_name=name,
            description=description,
            mail_nickname=nickname,
            mail=f"{nickname}@{constants.TENANT_DOMAIN}" if "Unified" in group_types else "",
            group_types=group_types,
            security_enabled="Unified" not in group_types,
            mail_enabled="Unified" in group_types,
        )
        group.owners.set([users[a] for a in owners])
        group.members.set([users[a] for a in members])

    public = Application.objects.create(
        client_id=uuid.UUID(constants.PUBLIC_CLIENT_ID),
        home_tenant=contoso,
        display_name="Lifeboat sign-in",
        is_fallback_public_client=True,
        app_roles=PORTAL_APP_ROLES,
        group_membership_claims=True,
    )
    confidential = Application.objects.create(
        client_id=uuid.UUID(constants.CONFIDENTIAL_CLIENT_ID),
        home_tenant=contoso,
        display_name="Lifeboat restore portal",
        client_secret_hashes=[hash_secret(constants.CONFIDENTIAL_CLIENT_SECRET)],
        redirect_uris=portal_redirect_uris(),
        identifier_uris=[f"api://{constants.CONFIDENTIAL_CLIENT_ID}"],
        api_scopes=["access_as_user"],
        pre_authorized_client_ids=[constants.PUBLIC_CLIENT_ID],
        app_roles=PORTAL_APP_ROLES,
        group_membership_claims=True,
    )
    # Northwind has never consented: the portal's app has no service principal there
    # until its admin grants consent (sandbox/identity/admin_consent.py).
    consented = [t for t in tenants.values() if str(t.id) != constants.THIRD_TENANT_ID]
    for tenant in consented:
        for app in (public, confidential):
            is_home = tenant == contoso
            ServicePrincipal.objects.create(
                id=stable_id("sp", f"{app.client_id}:{tenant.id}"),
                tenant=tenant,
                application=app,
                admin_consented_scopes=PORTAL_DELEGATED_SCOPES if is_home else ["User.Read"],
                graph_app_roles=PORTAL_APPLICATION_ROLES if is_home and app == confidential else [],
                app_role_assignments=(
                    {
                        "Lifeboat.Admin": [str(users["ivan"].id)],
                        "Lifeboat.Helpdesk": [str(users["heidi"].id)],
                    }
                    if is_home
                    else {}
                ),
            )


def _seed_content(scale: int) -> None:
    """Mailboxes and drives; SharePoint sites and Teams channels."""
    seed_content(scale=scale)
    seed_sites()


@transaction.atomic
def reset(*, scale: int = 1) -> None:
    """Wipe the sandbox and seed it again (the same tenant every time)."""
    Tenant.objects.all().delete()
    SigningKey.objects.all().delete()
    Policy.objects.all().delete()
    _seed_directory()
    Policy.current()
    keys.create_key(signing=True)
    _seed_content(scale)


def ensure_seeded() -> bool:
    """Seed the sandbox if it is empty. Returns True when it seeded.

    Also registers the portal's current redirect URI, so a demo moved to another address
    (PORTAL_URL) still signs in.
    """
    seeded = False
    if not Tenant.objects.filter(id=constants.TENANT_ID).exists():
        reset()
        seeded = True
    app = Application.objects.get(client_id=constants.CONFIDENTIAL_CLIENT_ID)
    missing = [uri for uri in portal_redirect_uris() if uri not in app.redirect_uris]
    if missing:
        app.redirect_uris = [*app.redirect_uris, *missing]
        app.save(update_fields=["redirect_uris"])
    return seeded
