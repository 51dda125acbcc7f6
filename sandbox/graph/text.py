"""HTML to plain text, for bodyPreview and the text/plain part of $value."""

from __future__ import annotations

import html
import re

_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")


def plain_text(markup: str) -> str:
    text = _SCRIPT.sub("", markup)
    text = _BREAK.sub("\n", text)
    text = html.unescape(_TAG.sub("", text))
    lines = [_SPACE.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def preview(body: str, content_type: str) -> str:
    text = plain_text(body) if content_type == "html" else body
    return " ".join(text.split())[:255]
