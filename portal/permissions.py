"""Which kind of Microsoft permission each piece of work needs: the one table.

From the seed documents (Bacula's delegated-permissions page, Veeam's notes) and
Microsoft Graph's permission reference. Backup, restore and sign-in all ask this module;
nothing else decides "application or delegated" or lists Graph scopes.

Keys: (workload, entity kind, operation). `entity kind` is what is protected: a user's
own data ("user") or a group's ("group"). Operations: "backup", "restore".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PermissionType(StrEnum):
    APPLICATION = "application"  # the app's own permission, admin-consented; no user
    DELEGATED = "delegated"  # acts as a signed-in person, within what they may do


@dataclass(frozen=True)
class Requirement:
    type: PermissionType
    # Least-privileged Graph permissions that allow the operation.
    scopes: tuple[str, ...]
    note: str = ""
    # An application rule that a person's delegated token can also meet: these delegated
    # scopes, used when the tenant did not grant `scopes` (To Do: Tasks.Read.All is
    # optional, Tasks.Read as the person does the same for their own lists). Empty: none.
    fallback: tuple[str, ...] = ()

    @property
    def is_delegated(self) -> bool:
        return self.type is PermissionType.DELEGATED


A, D = PermissionType.APPLICATION, PermissionType.DELEGATED

TABLE: dict[tuple[str, str, str], Requirement] = {
    # mail, OneDrive, SharePoint, contacts: application both ways (Veeam, Bacula). Lifeboat
    # restores into Microsoft 365 under the person's own delegated token on purpose, so
    # Microsoft enforces what they may touch (DESIGN: "beyond the peers").
    ("mail", "user", "backup"): Requirement(A, ("Mail.Read",)),
    ("mail", "user", "restore"): Requirement(D, ("Mail.ReadWrite",), "restores run as the person"),
    ("onedrive", "user", "backup"): Requirement(A, ("Files.Read.All",)),
    ("onedrive", "user", "restore"): Requirement(
        D, ("Files.ReadWrite",), "restores run as the person"
    ),
    ("onedrive", "group", "backup"): Requirement(A, ("Files.Read.All",)),
    # A group's drive is a SharePoint library: delegated Files.ReadWrite reaches only the
    # person's own drive, so restoring into a group's needs the .All scope (still bounded
    # by what the person may write there).
    ("onedrive", "group", "restore"): Requirement(D, ("Files.ReadWrite.All",), "a member restores"),
    ("sharepoint", "group", "backup"): Requirement(A, ("Sites.Read.All",)),
    ("sharepoint", "group", "restore"): Requirement(A, ("Sites.ReadWrite.All",)),
    # A site's document library (restore/backup/discovery.py, workload "sharepoint", entity
    # "site"). Reading it needs a drive permission; Sites.Selected is the least privileged
    # (an admin grants the app each site), Files.Read.All / Sites.Read.All reach every site.
    ("sharepoint", "site", "backup"): Requirement(
        A, ("Sites.Selected",), "or Sites.Read.All / Files.Read.All for every site"
    ),
    # Restores run as the person: Microsoft 365 then checks they may write in the library.
    ("sharepoint", "site", "restore"): Requirement(
        D, ("Files.ReadWrite.All",), "a member of the site restores"
    ),
    # Finding every site: getAllSites is application-only and doesn't support
    # Sites.Selected (with it alone, discovery finds the groups' team sites it was granted).
    ("sharepoint", "tenant", "discover"): Requirement(A, ("Sites.Read.All",)),
    # Contacts and calendars: backup application (contacts/delta, events, instances and
    # calendarView all allow Contacts.Read / Calendars.Read as application permissions);
    # restore as the person, like mail, so Microsoft enforces what they may write.
    ("contacts", "user", "backup"): Requirement(A, ("Contacts.Read",)),
    ("contacts", "user", "restore"): Requirement(
        D, ("Contacts.ReadWrite",), "restores run as the person"
    ),
    # Group calendars only delegated: group-list-events, group-list-calendarview and
    # group-post-events say "Application: Not supported" (an app token, even with the
    # Group.Read.All app role, gets 403 ErrorAccessDenied). The seed agrees. Graph has no
    # event delta for groups (event-delta is /users/{id}/calendarView/delta only), so the
    # reader lists events and compares changeKey / lastModifiedDateTime. Backups run as an
    # owner, the tenant's backup account or a member (restore/backup/tokens.py); restores
    # as the person restoring, and Graph refuses them when they are not a member.
    ("calendar", "user", "backup"): Requirement(A, ("Calendars.Read",)),
    ("calendar", "user", "restore"): Requirement(
        D, ("Calendars.ReadWrite",), "restores run as the person"
    ),
    ("calendar", "group", "backup"): Requirement(
        D, ("Group.Read.All",), "as an owner, the backup account or a member"
    ),
    ("calendar", "group", "restore"): Requirement(
        D, ("Group.ReadWrite.All",), "a member restores; admin consent"
    ),
    # Chats: backup application; restoring into Microsoft 365 chats only as a person.
    ("chats", "user", "backup"): Requirement(A, ("Chat.Read.All",)),
    ("chats", "user", "restore"): Requirement(D, ("ChatMessage.Send",)),
    # To Do: the seed says "delegated only", out of date since 2023: Graph's todoTaskList,
    # todoTask, checklistItem and linkedResource reads allow the application permission
    # Tasks.Read.All. A tenant that did not grant it is backed up as the person
    # (fallback), and attachment upload sessions stay delegated-only, so restore is the
    # person's own lists.
    ("tasks", "user", "backup"): Requirement(
        A, ("Tasks.Read.All",), "or as the person (Tasks.Read)", fallback=("Tasks.Read",)
    ),
    ("tasks", "user", "restore"): Requirement(D, ("Tasks.ReadWrite",)),
    # Planner: backup application, restore delegated.
    ("planner", "group", "backup"): Requirement(A, ("Tasks.Read.All",)),
    ("planner", "group", "restore"): Requirement(D, ("Tasks.ReadWrite",)),
    # OneNote: delegated both ways (app-only access to OneNote APIs ended on 31 March 2025).
    ("onenote", "user", "backup"): Requirement(D, ("Notes.Read",)),
    ("onenote", "user", "restore"): Requirement(D, ("Notes.Create",)),
    ("onenote", "group", "backup"): Requirement(D, ("Notes.Read.All",)),
    ("onenote", "group", "restore"): Requirement(D, ("Notes.ReadWrite.All",)),
    # Teams: application, except private-channel messages in delegated mode and guest
    # members, which need a person.
    ("teams", "group", "backup"): Requirement(A, ("ChannelMessage.Read.All", "Team.ReadBasic.All")),
    ("teams", "group", "restore"): Requirement(A, ("Teamwork.Migrate.All",)),
    ("teams-private-channel", "group", "restore"): Requirement(D, ("ChannelMessage.Send",)),
    ("teams-guest-members", "group", "restore"): Requirement(D, ("TeamMember.ReadWrite.All",)),
    # Finding what to protect: every user and Microsoft 365 group, and their drives.
    ("directory", "tenant", "discover"): Requirement(A, ("User.Read.All", "GroupMember.Read.All")),
    # Helpdesk and `manage.py login` for a SharePoint site: find it and the group that owns
    # it (its owners sign in); users and groups are found with discovery's permissions.
    ("directory", "site", "find"): Requirement(A, ("Sites.Read.All",), "sign-ins for a site"),
    # "Verify" after a tenant's admin consent: the app's granted app roles
    # (servicePrincipals/{id}/appRoleAssignments: Application.Read.All) and the delegated
    # consent (oauth2PermissionGrants: Directory.Read.All is the least privileged).
    ("directory", "tenant", "verify"): Requirement(
        A, ("Application.Read.All", "Directory.Read.All"), "reads what the tenant granted"
    ),
}

# What every delegated sign-in asks for besides workload scopes: the profile, and the
# person's group memberships (restore scope includes their groups' data).
SIGN_IN_SCOPES: tuple[str, ...] = ("User.Read", "GroupMember.Read.All")


def requirement(workload: str, entity: str, operation: str) -> Requirement:
    try:
        return TABLE[(workload, entity, operation)]
    except KeyError:
        raise LookupError(f"No permission rule for {operation} of {workload} ({entity})") from None


def delegated_scopes(workloads: tuple[str, ...] | None = None) -> list[str]:
    """The delegated Graph scopes a sign-in requests so those workloads can be restored;
    by default, what the rules in use (IN_USE) need."""
    scopes = set(SIGN_IN_SCOPES)
    for key, rule in TABLE.items():
        wanted = key in IN_USE if workloads is None else key[0] in workloads
        if wanted and rule.is_delegated:
            scopes.update(rule.scopes)
        if wanted:  # an application rule a person's sign-in can also meet
            scopes.update(rule.fallback)
    return sorted(scopes)


# Permissions that reach every site, and so include a Sites.Selected grant on any one.
BROADER: dict[str, frozenset[str]] = {
    "Sites.Selected": frozenset(
        {"Sites.Read.All", "Sites.ReadWrite.All", "Sites.FullControl.All", "Files.Read.All",
         "Files.ReadWrite.All"}
    ),
}  # fmt: skip


def satisfied_by(scope: str) -> set[str]:
    """Permissions that include `scope`: itself and its ReadWrite form (Graph's rule that
    X.ReadWrite[.All] grants everything X.Read[.All] does), and for Sites.Selected the
    permissions that reach every site."""
    broader = {scope, *BROADER.get(scope, ())}
    if ".Read" in scope and ".ReadWrite" not in scope:
        broader.add(scope.replace(".Read", ".ReadWrite", 1))
    return broader


def missing_permissions(rule: Requirement, granted: set[str] | frozenset[str]) -> list[str]:
    """The permissions of `rule` none of `granted` covers (empty: the rule is met)."""
    granted_lower = {g.lower() for g in granted}
    return [
        scope
        for scope in rule.scopes
        if not any(s.lower() in granted_lower for s in satisfied_by(scope))
    ]


# The rules the code asks today (backups, restores, discovery of what to protect). The
# README's Entra guide is generated from them: `manage.py entra_permissions`.
IN_USE: tuple[tuple[str, str, str], ...] = (
    ("directory", "tenant", "discover"),
    ("directory", "tenant", "verify"),
    ("directory", "site", "find"),
    ("mail", "user", "backup"),
    ("mail", "user", "restore"),
    ("onedrive", "user", "backup"),
    ("onedrive", "user", "restore"),
    ("onedrive", "group", "backup"),
    ("onedrive", "group", "restore"),
    ("sharepoint", "tenant", "discover"),
    # ("sharepoint", "site", "backup") is met by Files.Read.All above; its Sites.Selected is
    # the least-privileged alternative for tenants that grant sites one by one (docs).
    ("sharepoint", "site", "restore"),
    ("calendar", "user", "backup"),
    ("calendar", "user", "restore"),
    ("calendar", "group", "backup"),
    ("calendar", "group", "restore"),
    ("contacts", "user", "backup"),
    ("contacts", "user", "restore"),
    ("tasks", "user", "backup"),
    ("tasks", "user", "restore"),
)
# OpenID Connect scopes every sign-in asks for besides Graph's.
OIDC_SCOPES: tuple[str, ...] = ("openid", "profile", "offline_access")


# Microsoft Graph's application id, the same in every tenant: the resource of every grant.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def admin_consent_scope(graph_resource: str) -> str:
    """The admin-consent request's scope: Graph's `/.default` (Entra's v2 admin consent
    endpoint grants application permissions only through `/.default`, which asks for
    exactly the app registration's configured permissions: `app_registration_permissions`)."""
    return f"{graph_resource}/.default"


def app_registration_permissions() -> dict[PermissionType, list[str]]:
    """Every Graph permission the app registration needs, by kind."""
    needed: dict[PermissionType, set[str]] = {A: set(), D: set(SIGN_IN_SCOPES)}
    for key in IN_USE:
        rule = TABLE[key]
        needed[rule.type].update(rule.scopes)
        needed[D].update(rule.fallback)  # what a person's token stands in with
    return {kind: sorted(scopes, key=str.lower) for kind, scopes in needed.items()}


def entra_markdown() -> str:
    """The README's list of API permissions (step 5 of its Entra guide)."""
    needed = app_registration_permissions()

    def names(scopes: list[str] | tuple[str, ...]) -> str:
        return ", ".join(f"`{scope}`" for scope in scopes)

    return (
        f"   - Delegated (sign-in, restores, and backups only a person can read, such as "
        f"group calendars): {names(needed[D])}, plus "
        f"{names(OIDC_SCOPES)}.\n"
        f"   - Application (discovery and backups): {names(needed[A])}.\n"
    )
