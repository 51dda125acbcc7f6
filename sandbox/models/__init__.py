"""The sandbox tenant's state, in the project database so every process sees the same tenant.

- directory: tenants, users, groups, app registrations and their service principals;
- identity: signing keys, device codes, authorization codes, refresh tokens, consents;
- mail: mailboxes (folders, messages, attachments, extended properties, change journal);
- drive: OneDrive drives, items, versions, upload sessions, change journal;
- calendar: calendars, events, contact folders, contacts, invitations "sent";
- sites: SharePoint sites, Teams channels, Sites.Selected grants;
- todo: To Do lists, tasks, checklist items, linked resources, attachments, upload sessions.
"""

from __future__ import annotations

from sandbox.models.calendar import (
    Calendar,
    Contact,
    ContactChange,
    ContactFolder,
    Event,
    EventAttachment,
    Invitation,
    ItemProperty,
)
from sandbox.models.directory import (
    Application,
    DirectoryUser,
    Group,
    ServicePrincipal,
    Tenant,
    TenantDomain,
)
from sandbox.models.drive import (
    Drive,
    DriveChange,
    DriveItem,
    DriveItemVersion,
    UploadFragment,
    UploadSession,
)
from sandbox.models.identity import (
    AuthorizationCode,
    Consent,
    DeviceCode,
    Fault,
    Policy,
    RefreshToken,
    SigningKey,
)
from sandbox.models.mail import (
    Attachment,
    ExtendedProperty,
    MailChange,
    MailFolder,
    Message,
)
from sandbox.models.sites import Channel, Site, SiteGrant
from sandbox.models.todo import (
    AttachmentUpload,
    TodoAttachment,
    TodoChange,
    TodoChecklistItem,
    TodoLinkedResource,
    TodoList,
    TodoTask,
)

__all__ = [
    "Application",
    "Attachment",
    "AttachmentUpload",
    "AuthorizationCode",
    "Calendar",
    "Channel",
    "Consent",
    "Contact",
    "ContactChange",
    "ContactFolder",
    "DeviceCode",
    "DirectoryUser",
    "Drive",
    "DriveChange",
    "DriveItem",
    "DriveItemVersion",
    "Event",
    "EventAttachment",
    "ExtendedProperty",
    "Fault",
    "Group",
    "Invitation",
    "ItemProperty",
    "MailChange",
    "MailFolder",
    "Message",
    "Policy",
    "RefreshToken",
    "ServicePrincipal",
    "SigningKey",
    "Site",
    "SiteGrant",
    "Tenant",
    "TenantDomain",
    "TodoAttachment",
    "TodoChange",
    "TodoChecklistItem",
    "TodoLinkedResource",
    "TodoList",
    "TodoTask",
    "UploadFragment",
    "UploadSession",
]
