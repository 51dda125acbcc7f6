"""What the demo does to the sandbox tenant between its two backups, and a way to serve
the sandbox while no web server runs.

The changes go through the sandbox's own functions (the ones its Graph handlers use), so
delta queries report them exactly as they report changes made over Graph.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from sandbox import calendar_content, constants, generator, seed, todo_content
from sandbox.content import owner_of
from sandbox.graph import calendar as calendar_api
from sandbox.graph import contacts as contacts_api
from sandbox.graph import drive as drive_api
from sandbox.graph import ids
from sandbox.graph import mail as mail_api
from sandbox.graph import todo as todo_api
from sandbox.identity.admin_consent import grant
from sandbox.models import (
    Application,
    Contact,
    DirectoryUser,
    DriveItem,
    Event,
    MailFolder,
    Message,
    Tenant,
    TodoTask,
)
from sandbox.sharepoint import AUDIT_FINDINGS

BUDGET_SUBJECT = "Q3 budget — final"
NEW_MESSAGE_SUBJECT = "Q4 planning kickoff"


def consent_for_portal(tenant_id: str) -> None:
    """The tenant's admin accepts the portal's admin consent (as on the consent page)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    grant(tenant, Application.objects.get(client_id=constants.CONFIDENTIAL_CLIENT_ID))


def user(alias: str) -> DirectoryUser:
    return DirectoryUser.objects.get(user_principal_name=seed.person(alias).upn)


def folder(mailbox: DirectoryUser, well_known: str) -> MailFolder:
    return MailFolder.objects.get(mailbox=mailbox, well_known_name=well_known)


def new_message(
    mailbox: DirectoryUser, sender: DirectoryUser, subject: str, html: str, where: str = "inbox"
) -> Message:
    data = generator.message(
        key=f"demo:{subject}",
        folder="Inbox",
        subject=subject,
        sender=owner_of(sender),
        to=[owner_of(mailbox)],
        html=html,
        received=timezone.now() - timedelta(minutes=1),
        is_read=False,
    )
    message, properties, attachments = mail_api.build_message(
        mailbox, folder(mailbox, where), {**data, "_trusted_headers": True}
    )
    return mail_api.save_new_message(message, properties, attachments)


def mark_read(message: Message, is_read: bool = True) -> Message:
    message.is_read = is_read
    message.change_key = ids.change_key()
    message.modified_at = timezone.now()
    message.save(update_fields=["is_read", "change_key", "modified_at"])
    mail_api.record_change(message.folder_id, message.id)
    return message


def files_of(owner: DirectoryUser) -> list[DriveItem]:
    return list(
        DriveItem.objects.filter(
            drive__owner_user=owner, is_folder=False, deleted_at__isnull=True
        ).order_by("name", "id")
    )


@transaction.atomic
def apply_demo_changes() -> dict[str, str]:
    """Between the demo's two backups: Alice deletes "Q3 budget — final", gets a new
    message, files one away in Archive, edits one file and deletes another, cancels one
    occurrence of "Quarterly planning", deletes her contact "Dana Whitfield" and her To Do
    task "Prepare the Q3 report" (list "Q3", with its checklist and attachment); in the
    Finance team's private channel Audit, "Audit findings 2025.docx" is deleted."""
    alice, carol = user("alice"), user("carol")
    budget = Message.objects.get(mailbox=alice, subject=BUDGET_SUBJECT)
    mail_api.soft_delete(budget)
    inbox = folder(alice, "inbox")
    moved = (
        Message.objects.filter(folder=inbox)
        .exclude(subject__startswith="Board deck")
        .order_by("received_at", "id")
        .first()
    )
    if moved is not None:
        mail_api.move_message(moved, folder(alice, "archive"))
    new_message(
        alice,
        carol,
        NEW_MESSAGE_SUBJECT,
        "<html><body><p>Hi Alice,</p><p>Let's start Q4 planning on Monday.</p>"
        "<p>Carol</p></body></html>",
    )
    files = files_of(alice)
    edited, deleted = files[0], files[-1]
    drive_api.write_content(edited, b"Edited for the demo: new figures.\n", alice)
    drive_api.delete_tree(deleted)
    # In the Finance team's private channel Audit (its own site's library).
    findings = DriveItem.objects.filter(
        drive__site__channel__display_name="Audit", name=AUDIT_FINDINGS, deleted_at__isnull=True
    ).first()
    if findings is not None:
        drive_api.delete_tree(findings)
    dropped = drop_an_occurrence(alice)
    dana = Contact.objects.get(owner=alice, data__displayName=calendar_content.DANA)
    contacts_api.delete(dana)
    report = TodoTask.objects.get(owner=alice, data__title=todo_content.REPORT)
    todo_api.delete(report)
    return {
        "deleted task": f"{todo_content.Q3}: {todo_content.REPORT}",
        "cancelled occurrence": f"{calendar_content.QUARTERLY} on {dropped:%Y-%m-%d}",
        "deleted contact": calendar_content.DANA,
        "deleted message": BUDGET_SUBJECT,
        "moved message": moved.subject if moved else "",
        "edited file": edited.name,
        "deleted file": deleted.name,
        "deleted site document": f"Finance / Audit: {AUDIT_FINDINGS}" if findings else "",
    }


def drop_an_occurrence(owner: DirectoryUser) -> Any:
    """Cancel the third occurrence of the owner's "Quarterly planning" (as a DELETE of the
    occurrence over Graph does); returns its original start."""
    master = Event.objects.get(owner=owner, data__subject=calendar_content.QUARTERLY)
    third = sorted(calendar_api._occurrence_starts(master))[2]
    master.cancelled = [*master.cancelled, calendar_api._stamp(third)]
    calendar_api._touch(master)
    master.save(update_fields=["cancelled", "change_key", "modified_at"])
    return third


def changes_applied() -> bool:
    """Whether apply_demo_changes() has run on this tenant (so the demo's backups are
    done): the message it adds to Alice's mailbox is there."""
    return Message.objects.filter(
        mailbox__user_principal_name=seed.person("alice").upn, subject=NEW_MESSAGE_SUBJECT
    ).exists()


@contextmanager
def served() -> Iterator[str]:
    """Serve this project (the sandbox included) on a free local port while the block
    runs, with Microsoft's hosts routed to it. For seed_demo, which runs before the demo's
    web server: the backups then talk HTTP to the sandbox as they will later."""
    server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=True)
    server.set_app(get_wsgi_application())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/sandbox"
    # The configured cloud's hosts (MICROSOFT_CLOUD or its overrides), not the global ones.
    routes = {
        settings.MICROSOFT_AUTHORITY_HOST: f"{url}/login",
        urlsplit(settings.MICROSOFT_GRAPH_URL).hostname or "": f"{url}/graph",
    }
    try:
        with override_settings(MICROSOFT_ROUTES=routes, SANDBOX_URL=url):
            yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _QuietHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        # Answers are written in several small pieces; without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every request on a kept-alive connection.
        # django-stubs declares `connection` a WSGIRequest; socketserver makes it the socket.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass
