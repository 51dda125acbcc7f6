"""The Graph v1.0 surface the sandbox serves: method, path pattern, handler, permission.

Graph paths don't fit Django's URL converters (`/root:/a/b.txt:/content`,
`/messages/{id}/$value`), so graph/urls.py sends everything under v1.0/ to
views.dispatch, which matches these patterns in order. A pattern's named groups become
the handler's parameters; `mailbox` and `drive` groups are resolved (and access-checked)
before the handler runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.graph import (
    applications,
    attachment_upload,
    batch,
    calendar,
    contacts,
    directory,
    drive,
    mail,
    sites,
    todo,
)
from sandbox.graph import permissions as p
from sandbox.graph.permissions import Permission

MAILBOX = r"(?P<mailbox>me|users/[^/]+)"
FOLDER = r"mailFolders/(?:[^/]+/childFolders/)*(?P<folder>[^/]+)"
MESSAGE = rf"(?:{FOLDER}/)?messages/(?P<message>[^/]+)"
DRIVE = r"(?P<drive>me/drive|users/[^/]+/drive|groups/[^/]+/drive|sites/[^/]+/drive|drives/[^/]+)"
# root, items/{id}, and either followed by :/relative/path: (the colon syntax).
ITEM = rf"{DRIVE}/(?P<item>root|items/[^/:]+)(?::(?P<path>[^:]*):?)?"
USER = r"(?P<user>me|users/[^/]+)"
CALENDAR = r"(?:calendar|calendars/(?P<calendar>[^/]+))"
EVENT = rf"{MAILBOX}/(?:{CALENDAR}/)?events/(?P<event>[^/]+)"
# A Microsoft 365 group's one calendar (`groupcal` is resolved to it before the handler).
GROUP_CALENDAR = r"groups/(?P<groupcal>[^/]+)"
GROUP_EVENT = rf"{GROUP_CALENDAR}/(?:calendar/)?events/(?P<event>[^/]+)"
CONTACT_FOLDER = r"contactFolders/(?:[^/]+/childFolders/)*(?P<folder>[^/]+)"
CONTACT = rf"{MAILBOX}/(?:{CONTACT_FOLDER}/)?contacts/(?P<contact>[^/]+)"
TODO_LIST = rf"{MAILBOX}/todo/lists/(?P<list>[^/]+)"
TASK = rf"{TODO_LIST}/tasks/(?P<task>(?!delta$)[^/]+)"


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    pattern: str
    handler: Callable[..., Any]
    permission: Permission
    # Enough when a delegated caller addresses themselves (User.Read for /users/{own id}).
    own_permission: Permission | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern, re.IGNORECASE))


def route(
    methods: str, pattern: str, handler: Callable[..., Any], permission: Permission, **kw: Any
) -> Route:
    return Route(tuple(methods.split()), pattern, handler, permission, **kw)


ROUTES = [
    route("POST", r"\$batch", batch.run, p.NONE),
    # Directory
    route("GET", r"me", directory.get_user, p.SIGNED_IN_USER, own_permission=p.SIGNED_IN_USER),
    route("GET", r"organization", directory.organization, p.ORGANIZATION),
    route("GET", r"organization/(?P<org>[^/]+)", directory.organization, p.ORGANIZATION),
    route("GET", r"users", directory.list_users, p.USERS),
    route("GET", r"users/(?P<user>[^/]+)", directory.get_user, p.USERS,
          own_permission=p.SIGNED_IN_USER),
    route("GET", rf"{USER}/(?P<relation>transitiveMemberOf|memberOf)", directory.member_of,
          p.MEMBER_OF),
    route("GET", rf"{USER}/ownedObjects", directory.owned_objects, p.OWNED_OBJECTS),
    route("GET", r"groups", directory.list_groups, p.GROUPS),
    route("GET", r"groups/(?P<group>[^/]+)", directory.get_group, p.GROUPS),
    route("GET", r"groups/(?P<group>[^/]+)/(?P<relation>members|owners|transitiveMembers)",
          directory.group_relation, p.GROUPS),
    # Service principals and their grants (what "Verify" reads)
    route("GET", r"servicePrincipals", applications.list_service_principals,
          p.SERVICE_PRINCIPALS),
    route("GET", r"servicePrincipals/(?P<sp>[^/]+)/appRoleAssignments",
          applications.app_role_assignments, p.SERVICE_PRINCIPALS),
    route("GET", r"oauth2PermissionGrants", applications.oauth2_permission_grants,
          p.PERMISSION_GRANTS),
    # SharePoint sites and Teams channels' files
    route("GET", r"sites/getAllSites", sites.all_sites, p.ALL_SITES),
    route("GET", r"sites", sites.search_sites, p.SITES_SEARCH),
    route("GET", r"sites/(?P<host>[^/:]+):/(?P<path>[^:]+):?", sites.get_site_by_path,
          p.SITES_READ),
    route("GET", r"sites/(?P<site>[^/]+)", sites.get_site, p.SITES_READ),
    route("GET", r"groups/(?P<group>[^/]+)/sites/root", sites.group_site, p.SITES_READ),
    route("GET", r"sites/(?P<site>[^/]+)/drive", sites.site_drive, p.FILES_READ),
    route("GET", r"sites/(?P<site>[^/]+)/drives", sites.site_drives, p.FILES_READ),
    route("GET", r"sites/(?P<site>[^/]+)/permissions", sites.list_permissions,
          p.SITE_PERMISSIONS),
    route("POST", r"sites/(?P<site>[^/]+)/permissions", sites.grant_permission,
          p.SITE_PERMISSIONS),
    route("GET", r"teams/(?P<group>[^/]+)/channels", sites.list_channels, p.CHANNELS),
    route("GET", r"teams/(?P<group>[^/]+)/channels/(?P<channel>[^/]+)/filesFolder",
          sites.files_folder, p.CHANNEL_FILES),
    # Mail folders
    route("GET", rf"{MAILBOX}/mailFolders", mail.list_folders, p.MAIL_READ_BASIC),
    route("POST", rf"{MAILBOX}/mailFolders", mail.create_folder, p.MAIL_WRITE),
    route("GET", rf"{MAILBOX}/{FOLDER}", mail.get_folder, p.MAIL_READ_BASIC),
    route("GET", rf"{MAILBOX}/{FOLDER}/childFolders", mail.list_folders, p.MAIL_READ_BASIC),
    route("POST", rf"{MAILBOX}/{FOLDER}/childFolders", mail.create_folder, p.MAIL_WRITE),
    # Messages
    route("GET", rf"{MAILBOX}/{FOLDER}/messages/delta", mail.delta, p.MAIL_READ_BASIC),
    route("GET", rf"{MAILBOX}/(?:{FOLDER}/)?messages", mail.list_messages, p.MAIL_READ_BASIC),
    route("POST", rf"{MAILBOX}/(?:{FOLDER}/)?messages", mail.create_message, p.MAIL_WRITE),
    route("GET", rf"{MAILBOX}/{MESSAGE}", mail.get_message, p.MAIL_READ),
    route("PATCH", rf"{MAILBOX}/{MESSAGE}", mail.update_message, p.MAIL_WRITE),
    route("DELETE", rf"{MAILBOX}/{MESSAGE}", mail.delete_message, p.MAIL_WRITE),
    route("GET", rf"{MAILBOX}/{MESSAGE}/\$value", mail.message_mime, p.MAIL_READ),
    route("POST", rf"{MAILBOX}/{MESSAGE}/(?P<action>move|copy)", mail.move_or_copy, p.MAIL_WRITE),
    route("POST", rf"{MAILBOX}/{MESSAGE}/permanentDelete", mail.permanent_delete, p.MAIL_WRITE),
    route("GET", rf"{MAILBOX}/{MESSAGE}/attachments", mail.list_attachments, p.MAIL_READ),
    route("POST", rf"{MAILBOX}/{MESSAGE}/attachments", mail.add_attachment, p.MAIL_WRITE),
    route("POST", rf"{MAILBOX}/{MESSAGE}/attachments/createUploadSession",
          attachment_upload.create_session, p.MAIL_WRITE),
    route("GET", rf"{MAILBOX}/{MESSAGE}/attachments/(?P<attachment>[^/]+)", mail.get_attachment,
          p.MAIL_READ),
    route("DELETE", rf"{MAILBOX}/{MESSAGE}/attachments/(?P<attachment>[^/]+)",
          mail.delete_attachment, p.MAIL_WRITE),
    route("GET", rf"{MAILBOX}/{MESSAGE}/attachments/(?P<attachment>[^/]+)/\$value",
          mail.attachment_content, p.MAIL_READ),
    # Calendars and events
    route("GET", rf"{MAILBOX}/calendars", calendar.list_calendars, p.CALENDARS_READ),
    route("POST", rf"{MAILBOX}/calendars", calendar.create_calendar, p.CALENDARS_WRITE),
    route("GET", rf"{MAILBOX}/{CALENDAR}", calendar.get_calendar, p.CALENDARS_READ),
    route("GET", rf"{MAILBOX}/(?:{CALENDAR}/)?calendarView", calendar.calendar_view,
          p.CALENDARS_READ),
    route("GET", rf"{MAILBOX}/(?:{CALENDAR}/)?events", calendar.list_events, p.CALENDARS_READ),
    route("POST", rf"{MAILBOX}/(?:{CALENDAR}/)?events", calendar.create_event,
          p.CALENDARS_WRITE),
    route("GET", rf"{EVENT}", calendar.get_event, p.CALENDARS_READ),
    route("PATCH", rf"{EVENT}", calendar.update_event, p.CALENDARS_WRITE),
    route("DELETE", rf"{EVENT}", calendar.delete_event, p.CALENDARS_WRITE),
    route("GET", rf"{EVENT}/instances", calendar.instances, p.CALENDARS_READ),
    route("GET", rf"{EVENT}/attachments", calendar.list_attachments, p.CALENDARS_READ),
    route("POST", rf"{EVENT}/attachments", calendar.add_attachment, p.CALENDARS_WRITE),
    route("GET", rf"{EVENT}/attachments/(?P<attachment>[^/]+)/\$value",
          calendar.attachment_content, p.CALENDARS_READ),
    route("POST", rf"{EVENT}/attachments/createUploadSession", todo.create_event_upload_session,
          p.CALENDARS_WRITE),
    # Microsoft To Do
    route("GET", rf"{MAILBOX}/todo/lists", todo.list_lists, p.TASKS_READ),
    route("POST", rf"{MAILBOX}/todo/lists", todo.create_list, p.TASKS_WRITE),
    route("GET", rf"{TODO_LIST}", todo.get_list, p.TASKS_READ),
    route("GET", rf"{TODO_LIST}/tasks/delta", todo.delta, p.TASKS_READ),
    route("GET", rf"{TODO_LIST}/tasks", todo.list_tasks, p.TASKS_READ),
    route("POST", rf"{TODO_LIST}/tasks", todo.create_task, p.TASKS_WRITE),
    route("GET", rf"{TASK}", todo.get_task, p.TASKS_READ),
    route("PATCH", rf"{TASK}", todo.update_task, p.TASKS_WRITE),
    route("DELETE", rf"{TASK}", todo.delete_task, p.TASKS_WRITE),
    route("PATCH", rf"{TASK}/extensions/(?P<extension>[^/]+)", todo.update_extension,
          p.TASKS_WRITE),
    route("GET", rf"{TASK}/checklistItems", todo.list_checklist, p.TASKS_READ),
    route("POST", rf"{TASK}/checklistItems", todo.create_checklist_item, p.TASKS_WRITE),
    route("GET", rf"{TASK}/linkedResources", todo.list_linked, p.TASKS_READ),
    route("POST", rf"{TASK}/linkedResources", todo.create_linked, p.TASKS_WRITE),
    route("GET", rf"{TASK}/attachments", todo.list_attachments, p.TASKS_READ),
    route("POST", rf"{TASK}/attachments", todo.add_attachment, p.TASKS_WRITE),
    route("POST", rf"{TASK}/attachments/createUploadSession", todo.create_task_upload_session,
          p.TASKS_UPLOAD),
    route("GET", rf"{TASK}/attachments/(?P<attachment>[^/]+)", todo.get_attachment,
          p.TASKS_READ),
    route("GET", rf"{TASK}/attachments/(?P<attachment>[^/]+)/\$value", todo.attachment_content,
          p.TASKS_READ),
    # A group's calendar: delegated only, members and owners (sandbox/graph/access.py)
    route("GET", rf"{GROUP_CALENDAR}/calendar", calendar.get_calendar, p.GROUP_CALENDAR_READ),
    route("GET", rf"{GROUP_CALENDAR}/(?:calendar/)?calendarView", calendar.calendar_view,
          p.GROUP_CALENDAR_READ),
    route("GET", rf"{GROUP_CALENDAR}/(?:calendar/)?events", calendar.list_events,
          p.GROUP_CALENDAR_READ),
    route("POST", rf"{GROUP_CALENDAR}/(?:calendar/)?events", calendar.create_event,
          p.GROUP_CALENDAR_WRITE),
    route("GET", rf"{GROUP_EVENT}", calendar.get_event, p.GROUP_CALENDAR_READ),
    route("PATCH", rf"{GROUP_EVENT}", calendar.update_event, p.GROUP_CALENDAR_WRITE),
    route("DELETE", rf"{GROUP_EVENT}", calendar.delete_event, p.GROUP_CALENDAR_WRITE),
    route("GET", rf"{GROUP_EVENT}/instances", calendar.instances, p.GROUP_CALENDAR_READ),
    route("GET", rf"{GROUP_EVENT}/attachments", calendar.list_attachments,
          p.GROUP_CALENDAR_READ),
    route("POST", rf"{GROUP_EVENT}/attachments", calendar.add_attachment,
          p.GROUP_CALENDAR_WRITE),
    route("GET", rf"{GROUP_EVENT}/attachments/(?P<attachment>[^/]+)/\$value",
          calendar.attachment_content, p.GROUP_CALENDAR_READ),
    # Contact folders and contacts
    route("GET", rf"{MAILBOX}/contactFolders", contacts.list_folders, p.CONTACTS_READ),
    route("POST", rf"{MAILBOX}/contactFolders", contacts.create_folder, p.CONTACTS_WRITE),
    route("GET", rf"{MAILBOX}/{CONTACT_FOLDER}", contacts.get_folder, p.CONTACTS_READ),
    route("GET", rf"{MAILBOX}/{CONTACT_FOLDER}/childFolders", contacts.list_folders,
          p.CONTACTS_READ),
    route("POST", rf"{MAILBOX}/{CONTACT_FOLDER}/childFolders", contacts.create_folder,
          p.CONTACTS_WRITE),
    route("GET", rf"{MAILBOX}/(?:{CONTACT_FOLDER}/)?contacts/delta", contacts.delta,
          p.CONTACTS_READ),
    route("GET", rf"{MAILBOX}/(?:{CONTACT_FOLDER}/)?contacts", contacts.list_contacts,
          p.CONTACTS_READ),
    route("POST", rf"{MAILBOX}/(?:{CONTACT_FOLDER}/)?contacts", contacts.create_contact,
          p.CONTACTS_WRITE),
    route("GET", rf"{CONTACT}", contacts.get_contact, p.CONTACTS_READ),
    route("PATCH", rf"{CONTACT}", contacts.update_contact, p.CONTACTS_WRITE),
    route("DELETE", rf"{CONTACT}", contacts.delete_contact, p.CONTACTS_WRITE),
    route("GET", rf"{CONTACT}/photo/\$value", contacts.get_photo, p.CONTACTS_READ),
    route("PUT", rf"{CONTACT}/photo/\$value", contacts.put_photo, p.CONTACTS_WRITE),
    # OneDrive
    route("GET", rf"{DRIVE}", drive.get_drive, p.FILES_READ),
    route("GET", rf"{DRIVE}/root/delta", drive.delta, p.FILES_READ),
    route("GET", rf"{DRIVE}/root/delta\(\)", drive.delta, p.FILES_READ),
    route("GET", rf"{ITEM}", drive.get_item, p.FILES_READ),
    route("PATCH", rf"{ITEM}", drive.update_item, p.FILES_WRITE),
    route("DELETE", rf"{ITEM}", drive.delete_item, p.FILES_WRITE),
    route("GET", rf"{ITEM}/children", drive.list_children, p.FILES_READ),
    route("POST", rf"{ITEM}/children", drive.create_child, p.FILES_WRITE),
    route("GET", rf"{ITEM}/content", drive.download, p.FILES_READ),
    route("PUT", rf"{ITEM}/content", drive.upload, p.FILES_WRITE),
    route("POST", rf"{ITEM}/createUploadSession", drive.create_upload_session, p.FILES_WRITE),
    route("GET", rf"{ITEM}/versions", drive.list_versions, p.FILES_READ),
    route("GET", rf"{ITEM}/versions/(?P<version>[^/]+)", drive.get_version, p.FILES_READ),
    route("GET", rf"{ITEM}/versions/(?P<version>[^/]+)/content", drive.download_version,
          p.FILES_READ),
    route("POST", rf"{ITEM}/versions/(?P<version>[^/]+)/restoreVersion", drive.restore_version,
          p.FILES_WRITE),
]  # fmt: skip


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, its parameters, whether the path exists for some other method)."""
    path_exists = False
    for candidate in ROUTES:
        found = candidate.regex.fullmatch(path)
        if found is None:
            continue
        if method in candidate.methods:
            return candidate, {k: v for k, v in found.groupdict().items() if v is not None}, True
        path_exists = True
    return None, {}, path_exists
