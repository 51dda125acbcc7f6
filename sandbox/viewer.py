"""Pages to watch the sandbox's content: mailboxes (folders → messages → one message)
and drives (folders → files with their versions). Read-only; for people, not clients.

Message bodies are untrusted HTML: the page shows them as text (tags stripped) and
their source escaped, never as markup.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from sandbox.graph.text import plain_text
from sandbox.models import DirectoryUser, Drive, DriveItem, MailFolder, Message

PAGE = 100


def _folder_tree(user: DirectoryUser) -> list[tuple[int, MailFolder]]:
    folders = list(MailFolder.objects.filter(mailbox=user).order_by("display_name"))
    children: dict[str | None, list[MailFolder]] = {}
    for folder in folders:
        children.setdefault(folder.parent_id, []).append(folder)
    tree: list[tuple[int, MailFolder]] = []

    def walk(parent_id: str | None, depth: int) -> None:
        for folder in children.get(parent_id, []):
            if folder.well_known_name != "msgfolderroot":
                tree.append((depth, folder))
            walk(folder.id, depth + (0 if folder.well_known_name == "msgfolderroot" else 1))

    walk(None, 0)
    return tree


@require_GET
def mailbox(request: HttpRequest, user_id: str, folder_id: str = "") -> HttpResponse:
    user = get_object_or_404(DirectoryUser, pk=user_id)
    tree = _folder_tree(user)
    folder = None
    if folder_id:
        folder = get_object_or_404(MailFolder, pk=folder_id, mailbox=user)
    elif tree:
        folder = next((f for _, f in tree if f.well_known_name == "inbox"), tree[0][1])
    messages = (
        Message.objects.filter(folder=folder).order_by("-received_at", "id")[:PAGE]
        if folder
        else []
    )
    return render(
        request,
        "sandbox/mailbox.html",
        {"owner": user, "tree": tree, "folder": folder, "messages": messages, "page": PAGE},
    )


@require_GET
def message(request: HttpRequest, user_id: str, message_id: str) -> HttpResponse:
    user = get_object_or_404(DirectoryUser, pk=user_id)
    item = get_object_or_404(Message.objects.select_related("folder"), pk=message_id, mailbox=user)
    text = plain_text(item.body) if item.body_content_type == "html" else item.body
    return render(
        request,
        "sandbox/message.html",
        {
            "owner": user,
            "message": item,
            "text": text,
            "attachments": item.attachments.order_by("name").defer("data"),
            "properties": item.extended_properties.order_by("property_id"),
        },
    )


@require_GET
def drive(request: HttpRequest, drive_id: str, item_id: str = "") -> HttpResponse:
    found = get_object_or_404(
        Drive.objects.select_related("owner_user", "owner_group", "site"), pk=drive_id
    )
    items = DriveItem.objects.filter(drive=found, deleted_at__isnull=True)
    folder = (
        get_object_or_404(items, pk=item_id, is_folder=True)
        if item_id
        else items.filter(parent__isnull=True).first()
    )
    trail: list[DriveItem] = []
    node = folder
    while node is not None:
        trail.insert(0, node)
        node = node.parent
    children = (
        items.filter(parent=folder).order_by("-is_folder", "name").prefetch_related("versions")
    )
    return render(
        request,
        "sandbox/drive.html",
        {"drive": found, "folder": folder, "trail": trail, "children": children},
    )
