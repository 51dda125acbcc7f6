"""A safety net that keeps tokens and secrets out of log output.

The code never logs a token on purpose (log `result["error"]`, never an msal result);
this filter catches what slips through anyway: a JWT in an exception message, a
`refresh_token=...` in a URL, a token dict passed to a logger by mistake.
"""

from __future__ import annotations

import logging
import re

_SENSITIVE = (
    "access_token|refresh_token|id_token|client_secret|client_assertion|assertion"
    "|device_code|code_verifier|password|secret|code"
)
_PATTERNS = [
    # JSON / Python reprs: "access_token": "..." or 'access_token': '...'
    (
        re.compile(rf"""(["'](?:{_SENSITIVE})["']\s*:\s*)(["'])(?:(?!\2).)*\2""", re.I),
        r"\1\2[redacted]\2",
    ),
    # Form and query strings: refresh_token=...
    (re.compile(rf"\b({_SENSITIVE})=([^&\s\"',;]+)", re.I), r"\1=[redacted]"),
    # Authorization headers.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/-]+=*", re.I), r"\1 [redacted]"),
    # The portal's own API tokens (api/tokens.py prefixes them).
    (re.compile(r"\b(lbat|lbrt)_[A-Za-z0-9_-]+"), r"\1_[redacted]"),
    # Anything shaped like a JWT.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class DropSandboxProtocolErrors(logging.Filter):
    """The sandbox answers 400 to every pending device-code poll, as Entra does; Django
    would log each as a warning. Those are protocol, not problems: keep them out."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return not (
            getattr(record, "status_code", None) == 400
            and request is not None
            and "/sandbox/login/" in getattr(request, "path", "")
        )
