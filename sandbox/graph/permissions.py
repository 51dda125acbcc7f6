"""Which Graph permissions allow which operation — the sandbox's permission table.

Each entry lists the delegated scopes and the application roles that allow an
operation: the least privileged first, then the higher ones, as the "Permissions"
section of each Graph API reference page does. Routes (sandbox/graph/routes.py) name an
entry; nothing else in the sandbox decides whether a token's scopes or roles suffice.

A permission is necessary, not sufficient: a delegated token also only reaches what
its user may reach (sandbox/graph/access.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.graph.errors import DIRECTORY, DRIVE, MAIL


@dataclass(frozen=True)
class Permission:
    workload: str  # which family of error codes a refusal uses
    delegated: tuple[str, ...]
    application: tuple[str, ...]
    # Delegated scopes that reach beyond the signed-in user's own data (group drives).
    delegated_all: tuple[str, ...] = ()

    def allows(self, *, scopes: frozenset[str], roles: frozenset[str], app_only: bool) -> bool:
        granted = roles if app_only else scopes
        return any(p in granted for p in (self.application if app_only else self.delegated))


# /me and /users/{own id}; /organization.
SIGNED_IN_USER = Permission(
    DIRECTORY,
    delegated=("User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All",
               "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
               "Directory.AccessAsUser.All"),
    application=(),
)  # fmt: skip
ORGANIZATION = Permission(
    DIRECTORY,
    delegated=("User.Read", "Organization.Read.All", "Directory.Read.All",
               "Organization.ReadWrite.All", "Directory.ReadWrite.All"),
    application=("Organization.Read.All", "Directory.Read.All", "Organization.ReadWrite.All",
                 "Directory.ReadWrite.All"),
)  # fmt: skip
# /users, /users/{someone else}.
USERS = Permission(
    DIRECTORY,
    delegated=("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
               "Directory.ReadWrite.All", "Directory.AccessAsUser.All"),
    application=("User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                 "Directory.ReadWrite.All"),
)  # fmt: skip
# /users/{id}/transitiveMemberOf (User.Read suffices for /me).
MEMBER_OF = Permission(
    DIRECTORY,
    delegated=("User.Read", "Directory.Read.All", "Directory.ReadWrite.All", "Group.Read.All",
               "GroupMember.Read.All", "User.Read.All"),
    application=("User.Read.All", "Directory.Read.All", "Directory.ReadWrite.All",
                 "Group.Read.All", "GroupMember.Read.All"),
)  # fmt: skip
# /me/ownedObjects: delegated only ("Application: Not supported").
OWNED_OBJECTS = Permission(
    DIRECTORY,
    delegated=("User.Read", "Directory.Read.All", "Directory.ReadWrite.All", "User.Read.All",
               "User.ReadWrite.All"),
    application=(),
)  # fmt: skip
# /groups, /groups/{id}, /groups/{id}/members and /owners.
GROUPS = Permission(
    DIRECTORY,
    delegated=("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All",
               "GroupMember.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    application=("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All",
                 "GroupMember.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
)  # fmt: skip

# Mail: folders, messages, delta, $value, attachments.
MAIL_READ = Permission(
    MAIL,
    delegated=("Mail.Read", "Mail.ReadWrite"),
    application=("Mail.Read", "Mail.ReadWrite"),
)
# List folders and messages, delta (Mail.ReadBasic is enough: no body or attachments).
MAIL_READ_BASIC = Permission(
    MAIL,
    delegated=("Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"),
    application=("Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"),
)
# Create, update, move, copy, delete messages and folders; add attachments.
MAIL_WRITE = Permission(MAIL, delegated=("Mail.ReadWrite",), application=("Mail.ReadWrite",))

# OneDrive. Delegated Files.Read/Files.ReadWrite reach the user's own drive only; a group's
# drive needs one of the ".All" scopes (and membership), as on SharePoint.
FILES_READ = Permission(
    DRIVE,
    delegated=("Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All",
               "Sites.Read.All", "Sites.ReadWrite.All"),
    application=("Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All",
                 "Sites.ReadWrite.All", "Sites.Selected"),
    delegated_all=("Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All",
                   "Sites.ReadWrite.All"),
)  # fmt: skip
FILES_WRITE = Permission(
    DRIVE,
    delegated=("Files.ReadWrite", "Files.ReadWrite.All", "Sites.ReadWrite.All"),
    application=("Files.ReadWrite.All", "Sites.ReadWrite.All", "Sites.Selected"),
    delegated_all=("Files.ReadWrite.All", "Sites.ReadWrite.All"),
)

# SharePoint sites. Sites.Selected (application) reaches only sites an admin granted the
# app (sandbox/graph/access.py checks the grant); /sites?search and getAllSites don't
# support it. getAllSites is application-only.
SITES_READ = Permission(
    DRIVE,
    delegated=("Sites.Read.All", "Sites.ReadWrite.All"),
    application=("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Selected"),
)
SITES_SEARCH = Permission(
    DRIVE,
    delegated=("Sites.Read.All", "Sites.ReadWrite.All"),
    application=("Sites.Read.All", "Sites.ReadWrite.All"),
)
ALL_SITES = Permission(DRIVE, delegated=(), application=("Sites.Read.All", "Sites.ReadWrite.All"))
# /sites/{id}/permissions (the apps granted the site): Sites.FullControl.All both ways.
SITE_PERMISSIONS = Permission(
    DRIVE, delegated=("Sites.FullControl.All",), application=("Sites.FullControl.All",)
)
# /teams/{id}/channels and a channel's filesFolder.
CHANNELS = Permission(
    DIRECTORY,
    delegated=("Channel.ReadBasic.All", "ChannelSettings.Read.All",
               "ChannelSettings.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
               "Directory.Read.All", "Directory.ReadWrite.All"),
    application=("Channel.ReadBasic.All", "ChannelSettings.Read.All",
                 "ChannelSettings.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
                 "Directory.Read.All", "Directory.ReadWrite.All"),
)  # fmt: skip
CHANNEL_FILES = Permission(
    DRIVE,
    delegated=("Files.Read.All", "Files.Read", "Files.ReadWrite", "Files.ReadWrite.All",
               "Group.Read.All", "Group.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"),
    application=("Files.Read.All", "File.Read.Group", "Files.ReadWrite.All", "Group.Read.All",
                 "Group.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"),
)  # fmt: skip

# $batch itself needs nothing: each inner request is authorized on its own.
NONE = Permission(DIRECTORY, delegated=(), application=())

# Calendars: calendars, events, instances, calendarView, event attachments.
CALENDARS_READ = Permission(
    MAIL,
    delegated=("Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"),
    application=("Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"),
)
CALENDARS_WRITE = Permission(
    MAIL, delegated=("Calendars.ReadWrite",), application=("Calendars.ReadWrite",)
)
# A Microsoft 365 group's calendar (/groups/{id}/events, calendarView, calendar): delegated
# only — "Application: Not supported" on group-list-events, group-post-events and
# calendar-get; a token with the Group.Read.All app role is refused all the same.
GROUP_CALENDAR_READ = Permission(
    MAIL, delegated=("Group.Read.All", "Group.ReadWrite.All"), application=()
)
GROUP_CALENDAR_WRITE = Permission(MAIL, delegated=("Group.ReadWrite.All",), application=())
# Contacts: contact folders, contacts, delta, photos.
CONTACTS_READ = Permission(
    MAIL,
    delegated=("Contacts.Read", "Contacts.ReadWrite"),
    application=("Contacts.Read", "Contacts.ReadWrite"),
)
CONTACTS_WRITE = Permission(
    MAIL, delegated=("Contacts.ReadWrite",), application=("Contacts.ReadWrite",)
)
# Microsoft To Do: lists, tasks, delta, checklist items, linked resources, attachments.
# Application Tasks.Read.All / Tasks.ReadWrite.All since 2023; the attachment upload
# session is delegated only ("Application: Not supported").
TASKS_READ = Permission(
    MAIL,
    delegated=("Tasks.Read", "Tasks.ReadWrite"),
    application=("Tasks.Read.All", "Tasks.ReadWrite.All"),
)
TASKS_WRITE = Permission(MAIL, delegated=("Tasks.ReadWrite",), application=("Tasks.ReadWrite.All",))
TASKS_UPLOAD = Permission(MAIL, delegated=("Tasks.ReadWrite",), application=())
# /servicePrincipals?$filter=appId eq '…' and /servicePrincipals/{id}/appRoleAssignments.
SERVICE_PRINCIPALS = Permission(
    DIRECTORY,
    delegated=("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
               "Directory.ReadWrite.All"),
    application=("Application.Read.All", "Application.ReadWrite.All",
                 "Application.ReadWrite.OwnedBy", "Directory.Read.All", "Directory.ReadWrite.All"),
)  # fmt: skip
# /oauth2PermissionGrants (Directory.Read.All is the least privileged application permission).
PERMISSION_GRANTS = Permission(
    DIRECTORY,
    delegated=("Directory.Read.All", "DelegatedPermissionGrant.ReadWrite.All",
               "Directory.ReadWrite.All"),
    application=("Directory.Read.All", "DelegatedPermissionGrant.ReadWrite.All",
                 "Directory.ReadWrite.All"),
)  # fmt: skip


def application_permission_names() -> list[str]:
    """Every application permission this table names (Graph's appRoles, as the sandbox
    knows them), sorted."""
    names: set[str] = set()
    for value in globals().values():
        if isinstance(value, Permission):
            names.update(value.application)
    # Backup workloads other sandbox routes may not name yet.
    names.update(("Calendars.Read", "Contacts.Read", "Sites.Read.All", "Chat.Read.All"))
    return sorted(names)


# /sites?search=, /sites/{host}:/{path}, /sites/{id}/drive.
SITES_READ = Permission(
    DRIVE,
    delegated=("Sites.Read.All", "Sites.ReadWrite.All"),
    application=("Sites.Read.All", "Sites.ReadWrite.All"),
    delegated_all=("Sites.Read.All", "Sites.ReadWrite.All"),
)
