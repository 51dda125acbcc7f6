"""Previews of backed-up mail: parse the stored MIME, sanitise its HTML, list attachments.

Backed-up mail is hostile input: anyone could have sent it. Three layers keep it inert:

1. `sanitize_html` runs it through Ammonia (nh3): no scripts, event handlers, forms,
   frames, `<style>` or `<link>`; no `javascript:` links; inline styles only from a list of
   properties and never with `url(`; remote images removed unless the person asked for
   them; `cid:` images inlined as `data:` URLs from the message's own parts.
2. The sanitised body is served from its own URL with `BODY_CSP`: nothing may load except
   `data:` images (and remote images when asked), and the document is sandboxed.
3. The preview page embeds it in `<iframe sandbox>` without `allow-scripts`.
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from typing import BinaryIO

import nh3

from restore import filenames
from restore.blobs import BlobNotFound, blob_store
from restore.models import Item

# Inline (cid:) images are embedded as data: URLs up to this many bytes in all.
MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}

ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) | {"center", "font"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()
}
for _tag, _extra in {
    "*": {"style", "align", "valign", "dir", "lang", "title", "bgcolor", "width", "height"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap"},
}.items():
    ALLOWED_ATTRIBUTES.setdefault(_tag, set()).update(_extra)
# Inline CSS that changes looks but cannot load anything.
STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "text-align", "text-decoration", "text-indent", "text-transform",
    "line-height", "letter-spacing", "white-space", "vertical-align", "direction",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-collapse", "border-spacing",
    "border-radius", "width", "height", "max-width", "min-width", "max-height", "display",
    "list-style-type", "table-layout",
}  # fmt: skip
# Anything in a style value that could fetch something or smuggle it past a parser.
STYLE_DANGER = re.compile(r"url\s*\(|image-set|expression|@import|\\|behavior|binding", re.I)
LINK_SCHEMES = ("http://", "https://", "mailto:")


def body_csp(*, allow_remote_images: bool) -> str:
    """The Content-Security-Policy of the sanitised body document."""
    images = "data: http: https:" if allow_remote_images else "data:"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; font-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
        "sandbox allow-popups allow-popups-to-escape-sandbox"
    )


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    content_type: str
    size: int
    content_id: str


@dataclass(frozen=True)
class SanitizedBody:
    html: str
    blocked_images: int  # distinct remote images left out


@dataclass
class ParsedMessage:
    message: EmailMessage | None  # None when the item has no stored MIME
    headers: dict[str, str]
    attachments: list[Attachment]


# --- MIME ----------------------------------------------------------------------------------


@contextmanager
def open_content(item: Item) -> Iterator[BinaryIO]:
    """The item's stored bytes (MIME or file). BlobNotFound when nothing was stored."""
    if not item.content_sha256:
        raise BlobNotFound("")
    stream = blob_store().open(item.content_sha256)
    try:
        yield stream
    finally:
        stream.close()


def load_message(item: Item) -> EmailMessage | None:
    try:
        with open_content(item) as stream:
            return email.message_from_binary_file(stream, policy=email.policy.default)
    except BlobNotFound:
        return None


def _attachment_parts(message: EmailMessage) -> list[EmailMessage]:
    return [
        part
        for part in message.walk()
        if not part.is_multipart()
        and (part.get_filename() or part.get_content_disposition() == "attachment")
    ]


def _payload(part: MIMEPart) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def safe_filename(name: str, fallback: str) -> str:
    """A file name without paths or control characters, for Content-Disposition."""
    return filenames.file_name(name.replace("\\", "/").rsplit("/", 1)[-1], fallback=fallback)


def parse(item: Item) -> ParsedMessage:
    message = load_message(item)
    if message is None:
        return ParsedMessage(None, {}, [])
    headers = {
        name: str(message.get(name, ""))
        for name in ("From", "To", "Cc", "Date", "Subject")
        if message.get(name)
    }
    attachments = [
        Attachment(
            index=index,
            filename=safe_filename(part.get_filename() or "", f"attachment-{index + 1}"),
            content_type=part.get_content_type(),
            size=len(_payload(part)),
            content_id=str(part.get("Content-ID", "")).strip("<> "),
        )
        for index, part in enumerate(_attachment_parts(message))
    ]
    return ParsedMessage(message, headers, attachments)


def attachment(item: Item, index: int) -> tuple[Attachment, bytes] | None:
    """One attachment's description and bytes, or None when there is no such index."""
    parsed = parse(item)
    if parsed.message is None or not 0 <= index < len(parsed.attachments):
        return None
    part = _attachment_parts(parsed.message)[index]
    return parsed.attachments[index], _payload(part)


def _text_of(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset
        content = _payload(part).decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def _inline_images(message: EmailMessage) -> dict[str, str]:
    """cid → data: URL of the message's inline images, within MAX_INLINE_IMAGE_BYTES."""
    images: dict[str, str] = {}
    budget = MAX_INLINE_IMAGE_BYTES
    for part in message.walk():
        content_id = str(part.get("Content-ID", "")).strip("<> ")
        if not content_id or part.get_content_type() not in INLINE_IMAGE_TYPES:
            continue
        data = _payload(part)
        if len(data) > budget:
            continue
        budget -= len(data)
        encoded = base64.b64encode(data).decode()
        images[content_id] = f"data:{part.get_content_type()};base64,{encoded}"
    return images


# --- Sanitising ----------------------------------------------------------------------------


def sanitize_html(
    source: str, *, allow_remote_images: bool, inline_images: dict[str, str] | None = None
) -> SanitizedBody:
    inline_images = inline_images or {}
    # Ammonia may call the filter more than once per attribute: count distinct URLs.
    blocked: set[str] = set()

    def attribute_filter(element: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return None if STYLE_DANGER.search(value) else value
        if attribute == "href":
            is_link = value.lower().startswith(LINK_SCHEMES) or value.startswith("#")
            return value if is_link else None
        if attribute == "src":
            lowered = value.strip().lower()
            if lowered.startswith("cid:"):
                return inline_images.get(value.strip()[4:].strip("<> "))
            if lowered.startswith("data:image/") and "svg" not in lowered[:20]:
                return value
            if lowered.startswith(("http://", "https://", "//")):
                if allow_remote_images:
                    return value
                if element == "img":
                    blocked.add(value)
                return None
            return None
        return value

    cleaned = nh3.clean(
        source,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=STYLE_PROPERTIES,
        strip_comments=True,
    )
    return SanitizedBody(cleaned, len(blocked))


def body_document(item: Item, *, allow_remote_images: bool) -> SanitizedBody:
    """The sanitised body of a message as a whole HTML document for the iframe."""
    message = load_message(item)
    body: MIMEPart | None = None
    if message is not None:
        body = message.get_body(preferencelist=("html", "plain"))
    if body is not None and body.get_content_type() == "text/html":
        sanitized = sanitize_html(
            _text_of(body),
            allow_remote_images=allow_remote_images,
            inline_images=_inline_images(message) if message is not None else {},
        )
    else:
        text = _text_of(body) if body is not None else item.body_text
        sanitized = SanitizedBody(
            f'<pre style="white-space: pre-wrap; font-family: inherit">{html.escape(text)}</pre>',
            0,
        )
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        "</head><body>" + sanitized.html + "</body></html>"
    )
    return SanitizedBody(document, sanitized.blocked_images)
