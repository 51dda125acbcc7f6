"""Deterministic demo content: Graph-shaped messages and files from a seed.

Pure functions, no database: the same (owner, seed) always gives the same items, so the
sandbox seed (sandbox/content.py) and a catalog benchmark can both use them. Messages
come out as the JSON a restore would POST to Graph (subject, body, recipients, extended
properties for flags and dates, attachments); files as paths with their versions.
"""

from __future__ import annotations

import base64
import io
import random
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# Ids derive from names, so the same seed gives the same tenant.
NAMESPACE = uuid.UUID("7d0f6a4e-3c2b-4e5f-9a8b-1c2d3e4f5a6b")


def stable_id(kind: str, name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{name}")


# Every date is counted back from here, not from "now": the same seed, the same content.
EPOCH = datetime(2025, 9, 30, 17, 0, tzinfo=UTC)

# (path under the root, well-known name or "") — parents before children.
MAIL_FOLDERS = [
    ("Inbox", "inbox"),
    ("Inbox/Projects", ""),
    ("Inbox/Projects/Q3", ""),
    ("Inbox/Newsletters", ""),
    ("Drafts", "drafts"),
    ("Sent Items", "sentitems"),
    ("Deleted Items", "deleteditems"),
    ("Archive", "archive"),
    ("Archive/2024", ""),
    ("Junk Email", "junkemail"),
    ("Outbox", "outbox"),
]
# Where generated messages go, with weights.
FOLDER_WEIGHTS = [
    ("Inbox", 40),
    ("Inbox/Projects", 8),
    ("Inbox/Projects/Q3", 8),
    ("Inbox/Newsletters", 10),
    ("Sent Items", 14),
    ("Archive", 6),
    ("Archive/2024", 8),
    ("Deleted Items", 3),
    ("Drafts", 2),
    ("Junk Email", 1),
]

TOPICS = [
    "Q3 budget review",
    "Roadmap planning",
    "Customer escalation",
    "Team offsite",
    "Quarterly report",
    "Security training",
    "Vendor contract",
    "Release notes",
    "Hiring update",
    "Expense approval",
    "Board deck",
    "Sprint retrospective",
    "Office move",
    "Benefits enrolment",
    "Partner onboarding",
    "Incident review",
]
PHRASES = [
    "Please find the latest numbers attached.",
    "Can we move this to Thursday?",
    "I've updated the document with your comments.",
    "Let's discuss in the next sync.",
    "The deadline is end of month.",
    "Thanks for the quick turnaround!",
    "Adding finance to the thread for visibility.",
    "See the dashboard for details.",
    "Could you review before Friday?",
    "Approved on my side.",
]

# A purview sensitivity label as Exchange stamps it in the msip_labels header.
LABEL_ID = "3a8c5e2f-9b1d-4c6e-8f0a-2b4d6e8f0a1c"
CONFIDENTIAL_LABEL = "; ".join(
    f"MSIP_Label_{LABEL_ID}_{name}={value}"
    for name, value in (
        ("Enabled", "true"),
        ("SetDate", "2025-09-01T08:00:00Z"),
        ("Method", "Privileged"),
        ("Name", "Confidential"),
        ("SiteId", "5b7c2f1e-8d4a-4c3b-9e6f-1a2b3c4d5e6f"),
        ("ActionId", "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"),
        ("ContentBits", "0"),
    )
)
# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class Owner:
    """Whose content: name and address of a user (or a group, for group drives)."""

    key: str  # stable seed material, e.g. the UPN
    name: str
    address: str


def _office_file(kind: str, text: str) -> bytes:
    """A small but real OOXML zip (fixed timestamps, so the bytes are deterministic)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            (
                "[Content_Types].xml",
                '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
            ),
            (f"{kind}/document.xml", f"<document><body>{text}</body></document>"),
        ):
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    return buffer.getvalue()


def _pdf(text: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n% "
        + text.encode()
        + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def attachment(name: str, text: str) -> dict[str, Any]:
    """A fileAttachment in Graph's JSON, content by file type."""
    extension = name.rpartition(".")[2].lower()
    content_type, data = {
        "pdf": ("application/pdf", lambda: _pdf(text)),
        "xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            lambda: _office_file("xl", text),
        ),
        "docx": (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            lambda: _office_file("word", text),
        ),
        "png": ("image/png", lambda: PNG),
        "csv": ("text/csv", lambda: f"item,amount\n{text},100\n".encode()),
        "ics": (
            "text/calendar",
            lambda: (
                f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:{text}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".encode()
            ),
        ),
    }.get(extension, ("text/plain", lambda: text.encode()))
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentType": content_type,
        "contentBytes": base64.b64encode(data()).decode("ascii"),
    }


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _address(owner: Owner) -> dict[str, Any]:
    return {"emailAddress": {"name": owner.name, "address": owner.address}}


def message(
    *,
    key: str,
    folder: str,
    subject: str,
    sender: Owner,
    to: list[Owner],
    cc: Sequence[Owner] = (),
    html: str,
    received: datetime,
    is_read: bool = True,
    attachments: Sequence[dict[str, Any]] = (),
    importance: str = "normal",
    headers: Sequence[dict[str, str]] = (),
    sensitivity: int = 0,
    draft: bool = False,
) -> dict[str, Any]:
    """One message as Graph JSON, plus `_folder` (path) and `_key` (stable id seed)."""
    flags = (1 if is_read else 0) | (0x8 if draft else 0)
    sent = received - timedelta(minutes=2)
    properties = [{"id": "Integer 0x0E07", "value": str(flags)}]
    if not draft:
        properties += [
            {"id": "SystemTime 0x0039", "value": _iso(sent)},
            {"id": "SystemTime 0x0E06", "value": _iso(received)},
        ]
    if sensitivity:
        properties.append({"id": "Integer 0x0036", "value": str(sensitivity)})
    domain = sender.address.partition("@")[2] or "contoso.example"
    return {
        "_key": key,
        "_folder": folder,
        "subject": subject,
        "importance": importance,
        "body": {"contentType": "html", "content": html},
        "from": _address(sender),
        "sender": _address(sender),
        "toRecipients": [_address(o) for o in to],
        "ccRecipients": [_address(o) for o in cc],
        "internetMessageId": f"<{abs(hash_key(key)):x}.{received:%Y%m%d%H%M}@{domain}>",
        "internetMessageHeaders": list(headers),
        "singleValueExtendedProperties": properties,
        "attachments": list(attachments),
    }


def hash_key(key: str) -> int:
    """A stable integer from a string (Python's hash() is salted per process)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _html(rng: random.Random, topic: str, sender: Owner, *, remote_image: bool, link: bool) -> str:
    paragraphs = " ".join(rng.sample(PHRASES, 3))
    slug = topic.lower().replace(" ", "-")
    parts = [
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head><body>",
        f"<p>Hi,</p><p>{paragraphs}</p>",
    ]
    if link:
        parts.append(
            f'<p>Details: <a href="https://intranet.contoso.example/{slug}">{topic}</a></p>'
        )
    if remote_image:
        parts.append(
            '<p><img src="https://cdn.contoso.example/newsletter/banner.png" alt="banner" '
            'width="600"></p>'
        )
    parts.append(f"<p>Best regards,<br>{sender.name}</p></body></html>")
    return "".join(parts)


def mailbox_messages(
    owner: Owner, colleagues: list[Owner], count: int, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """`count` messages for `owner`'s mailbox, spread over MAIL_FOLDERS, newest first."""
    rng = random.Random(f"{owner.key}:{seed}")  # noqa: S311 (demo content, not secrets)
    folders = [f for f, _ in FOLDER_WEIGHTS]
    weights = [w for _, w in FOLDER_WEIGHTS]
    others = [c for c in colleagues if c.address != owner.address] or [owner]
    kinds = ["pdf", "xlsx", "docx", "png", "csv", "ics", "txt"]
    for n in range(count):
        folder = rng.choices(folders, weights)[0]
        topic = rng.choice(TOPICS)
        received = EPOCH - timedelta(hours=n * 5 + rng.randint(0, 4), minutes=rng.randint(0, 59))
        outgoing = folder in ("Sent Items", "Drafts")
        sender = owner if outgoing else rng.choice(others)
        recipients = (
            rng.sample(others, min(len(others), rng.randint(1, 3))) if outgoing else [owner]
        )
        cc = rng.sample(others, 1) if rng.random() < 0.3 else []
        newsletter = folder == "Inbox/Newsletters"
        files = []
        if rng.random() < 0.25:
            kind = rng.choice(kinds)
            files.append(attachment(f"{topic.replace(' ', '_')}_{n}.{kind}", f"{topic} #{n}"))
        yield message(
            key=f"{owner.key}:{seed}:{n}",
            folder=folder,
            subject=("Re: " if rng.random() < 0.3 else "") + f"{topic} ({n})",
            sender=sender,
            to=recipients,
            cc=cc,
            html=_html(
                rng,
                topic,
                sender,
                remote_image=newsletter or rng.random() < 0.1,
                link=rng.random() < 0.5,
            ),
            received=received,
            is_read=rng.random() < 0.7 or outgoing,
            attachments=files,
            importance="high" if rng.random() < 0.05 else "normal",
            draft=folder == "Drafts",
        )


@dataclass(frozen=True)
class File:
    path: str  # "/Documents/Reports/q3.xlsx"
    versions: list[bytes]  # oldest first
    modified: list[datetime]  # one per version


FILE_TREE = [
    "Documents/Reports/{topic} summary.docx",
    "Documents/Reports/{topic} figures.xlsx",
    "Documents/Notes/{topic}.md",
    "Documents/Data/{topic}.csv",
    "Pictures/{topic}.png",
    "Shared/{topic} plan.pdf",
]


def drive_files(owner: Owner, count: int, seed: int = 0) -> Iterator[File]:
    """`count` files for a drive, some with several versions."""
    rng = random.Random(f"{owner.key}:files:{seed}")  # noqa: S311
    seen = set()
    for n in range(count):
        topic = rng.choice(TOPICS)
        path = "/" + rng.choice(FILE_TREE).format(topic=topic)
        if path in seen:
            stem, _, extension = path.rpartition(".")
            path = f"{stem} ({n}).{extension}"
        seen.add(path)
        version_count = rng.choice([1, 1, 2, 3])
        extension = path.rpartition(".")[2]
        versions = []
        for v in range(version_count):
            text = f"{topic} — {owner.name}, revision {v + 1}. " + " ".join(rng.sample(PHRASES, 2))
            if extension in ("docx", "xlsx"):
                versions.append(_office_file("word" if extension == "docx" else "xl", text))
            elif extension == "pdf":
                versions.append(_pdf(text))
            elif extension == "png":
                versions.append(PNG)
            elif extension == "csv":
                versions.append(f"revision,owner\n{v + 1},{owner.name}\n".encode())
            else:
                versions.append(f"# {topic}\n\n{text}\n".encode())
        start = EPOCH - timedelta(days=rng.randint(5, 300))
        modified = [
            start + timedelta(days=3 * v, hours=rng.randint(0, 8)) for v in range(version_count)
        ]
        yield File(path=path, versions=versions, modified=modified)
