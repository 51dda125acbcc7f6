"""RFC 822 / MIME for messages: what `GET /messages/{id}/$value` returns and what
`POST /messages` with a base64 MIME body is read from."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, parsedate_to_datetime
from typing import Any

from sandbox.graph.text import plain_text
from sandbox.models import Message

# Headers Exchange writes itself; internetMessageHeaders may add the others (msip_labels...).
OWN_HEADERS = {
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "reply-to",
}


def _address(value: dict[str, Any] | None) -> str:
    email_address = (value or {}).get("emailAddress") or {}
    return formataddr((email_address.get("name") or "", email_address.get("address") or ""))


def _addresses(values: list[dict[str, Any]]) -> str:
    return ", ".join(_address(v) for v in values)


def build(message: Message) -> bytes:
    if message.mime:
        return bytes(message.mime)
    mime = EmailMessage(policy=email.policy.SMTP)
    if message.from_address:
        mime["From"] = _address(message.from_address)
    if message.sender and message.sender != message.from_address:
        mime["Sender"] = _address(message.sender)
    for header, values in (
        ("To", message.to_recipients),
        ("Cc", message.cc_recipients),
        ("Bcc", message.bcc_recipients),
        ("Reply-To", message.reply_to),
    ):
        if values:
            mime[header] = _addresses(values)
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(message.sent_at or message.created_at)
    if message.internet_message_id:
        mime["Message-ID"] = message.internet_message_id
    for header in message.internet_message_headers:
        if header.get("name", "").lower() not in OWN_HEADERS:
            mime[header["name"]] = header.get("value", "")
    if message.body_content_type == "html":
        mime.set_content(plain_text(message.body))
        mime.add_alternative(message.body, subtype="html")
    else:
        mime.set_content(message.body)
    for attachment in message.attachments.all():
        maintype, _, subtype = attachment.content_type.partition("/")
        mime.add_attachment(
            bytes(attachment.data),
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.name,
            disposition="inline" if attachment.is_inline else "attachment",
            cid=f"<{attachment.content_id}>" if attachment.content_id else None,
        )
    return mime.as_bytes()


def _recipients(header: str | None) -> list[dict[str, Any]]:
    if not header:
        return []
    return [
        {"emailAddress": {"name": name or address, "address": address}}
        for name, address in getaddresses([header])
        if address
    ]


def parse(raw: bytes) -> dict[str, Any]:
    """A MIME message as the Graph-shaped fields a message is created from."""
    mime = email.message_from_bytes(raw, policy=email.policy.default)
    body_part = mime.get_body(preferencelist=("html", "plain"))
    body, content_type = "", "text"
    if body_part is not None:
        body = body_part.get_content()
        content_type = "html" if body_part.get_content_subtype() == "html" else "text"
    sent = None
    if mime["Date"]:
        try:
            sent = parsedate_to_datetime(str(mime["Date"]))
            if sent.tzinfo is None:
                sent = sent.replace(tzinfo=UTC)
        except (TypeError, ValueError):
            sent = None
    attachments = []
    for part in mime.iter_attachments():
        payload = part.get_payload(decode=True) or b""
        attachments.append(
            {
                "name": part.get_filename() or "attachment",
                "contentType": part.get_content_type(),
                "data": payload,
                "isInline": part.get_content_disposition() == "inline",
                "contentId": (part["Content-ID"] or "").strip("<>"),
            }
        )
    from_list = _recipients(str(mime["From"])) if mime["From"] else []
    return {
        "subject": str(mime["Subject"] or ""),
        "body": {"contentType": content_type, "content": body},
        "from": from_list[0] if from_list else None,
        "toRecipients": _recipients(str(mime["To"]) if mime["To"] else None),
        "ccRecipients": _recipients(str(mime["Cc"]) if mime["Cc"] else None),
        "bccRecipients": _recipients(str(mime["Bcc"]) if mime["Bcc"] else None),
        "internetMessageId": str(mime["Message-ID"] or "").strip(),
        "sentDateTime": sent,
        "headers": [
            {"name": name, "value": str(value)}
            for name, value in mime.items()
            if name.lower() not in OWN_HEADERS
        ],
        "attachments": attachments,
    }
