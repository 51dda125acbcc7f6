"""Names of downloaded files and zip entries, safe on every system that unpacks them.

A backed-up name is data from a mailbox or a drive, so anything may be in it: a folder
called `..`, a subject with slashes, control characters, `CON` or `aux.txt` (reserved
device names on Windows), trailing dots and spaces (dropped by Windows), or 10,000
characters. `segment()` turns one name into one harmless path segment; `path()` joins
segments with "/" (the zip separator). Nothing that leaves here can climb out of the
folder it is unpacked in or name a device.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# Windows refuses these as a name, with or without an extension (CON, con.txt, COM1.eml).
RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"COM{n}" for n in [*range(10), "¹", "²", "³"]]
    + [f"LPT{n}" for n in [*range(10), "¹", "²", "³"]]
)
# Path separators, Windows' forbidden characters, and what isn't printable.
_FORBIDDEN = re.compile(r'[/\\"*:<>?|]')
# Bytes, not characters: most file systems limit a name to 255 bytes in UTF-8.
MAX_SEGMENT_BYTES = 200


def _printable(ch: str) -> bool:
    return unicodedata.category(ch)[0] != "C"  # Cc, Cf (bidi overrides), Cs, Co, Cn


def segment(name: str, fallback: str = "_", *, max_bytes: int = MAX_SEGMENT_BYTES) -> str:
    """One safe path segment for `name`, never empty, never `.` or `..`."""
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(ch if _printable(ch) else "_" for ch in text)
    text = _FORBIDDEN.sub("_", text)
    text = text.strip(" .")  # Windows drops trailing dots and spaces; leading dots hide
    if not text or set(text) <= {"."}:
        text = fallback
    if text.partition(".")[0].upper().rstrip(" ") in RESERVED:
        text = f"_{text}"
    return _shorten(text, max_bytes)


def _shorten(text: str, max_bytes: int) -> str:
    """Cut to `max_bytes` of UTF-8, keeping a short extension, never inside a character."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text
    stem, dot, extension = text.rpartition(".")
    if not dot or not stem or len(extension) > 10:
        stem, dot, extension = text, "", ""
    room = max_bytes - len((dot + extension).encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{cut or '_'}{dot}{extension}"


def path(*parts: str, fallback: str = "_") -> str:
    """Segments joined by "/", each made safe; a part holding "/" is several segments."""
    segments = [segment(s, fallback) for part in parts for s in part.split("/") if s.strip()]
    return "/".join(segments)


def file_name(name: str, *, suffix: str = "", fallback: str = "file") -> str:
    """A downloaded file's name: one segment; `suffix` (".eml") appended after cutting."""
    if suffix:
        base = segment(name, "", max_bytes=MAX_SEGMENT_BYTES - len(suffix.encode()))
        base = base if base and base != "_" else fallback
        return segment(f"{base}{suffix}", fallback + suffix)
    return segment(name, fallback)


def _ascii(ch: str) -> str:
    """One character as ASCII: its base letter (é → e), a dash for any dash, else "_"."""
    plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    if plain:
        return plain
    return "-" if unicodedata.category(ch) == "Pd" else "_"


def attachment_header(name: str) -> str:
    """Content-Disposition for a download named `name`: RFC 6266's `filename*` (UTF-8) and,
    for clients that read only `filename` (curl -OJ, older tools), an ASCII stand-in."""
    fallback = "".join(_ascii(ch) for ch in name)
    fallback = re.sub(r"[^A-Za-z0-9 ._()+,;=@&'-]", "_", fallback).strip() or "download"
    if fallback == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{fallback}\"; filename*=utf-8''{quote(name, safe='')}"
