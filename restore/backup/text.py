"""Plain text of a message body, for search and snippets."""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_BODY_TEXT = 64 * 1024
_SKIP = {"script", "style", "head", "title"}
_BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self.skipping:
            self.skipping -= 1
        elif tag in _BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def body_text(content: str, content_type: str = "html", limit: int = MAX_BODY_TEXT) -> str:
    """The body as plain text: HTML tags dropped, whitespace tidied, at most `limit` chars."""
    if content_type.lower() == "html":
        parser = _Text()
        parser.feed(content[: limit * 8])
        parser.close()
        content = "".join(parser.parts)
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in content.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text[:limit]
