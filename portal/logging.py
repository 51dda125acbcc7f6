"""Log output: structured lines (structlog) and the safety net that keeps secrets out.

Every process logs through the standard library; structlog's ProcessorFormatter renders
each record as one JSON object (LOG_FORMAT=json, production's default) or a readable line
(text), with the ids bound to the current context: the request id in web processes
(portal/middleware.py), the task and its restore job, backup object or sign-in in
workers (portal/celery.py, `bound()`).

The code never logs a token on purpose (log `result["error"]`, never an msal result);
redaction catches what slips through anyway: a JWT in an exception message, a
`refresh_token=...` in a URL, a token dict passed to a logger by mistake. It applies to
the message, every field and the traceback, in both formats, and to error reports
(portal/error_reporting.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

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


_SENSITIVE_KEY = re.compile(rf"(?:{_SENSITIVE}|token|authorization|cookie|api_key)", re.I)


def redact_value(value: Any) -> Any:
    """`value` with every string inside it (dicts, lists, tuples) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            key: "[redacted]"
            if isinstance(key, str) and _SENSITIVE_KEY.fullmatch(key) and item
            else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def redact_event(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact the message, every field and the rendered traceback."""
    for key, value in event_dict.items():
        event_dict[key] = redact_value(value)
    return event_dict


def _drop_unrenderable(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Django attaches the request object (and a socket) to some records' extras.
    for key in ("request", "server_time", "_from_structlog", "_record"):
        event_dict.pop(key, None)
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def formatter(log_format: str) -> dict[str, Any]:
    """A logging.config formatter entry rendering records as JSON or text."""
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    final = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, _drop_unrenderable]
    if log_format == "json":
        final += [structlog.processors.dict_tracebacks]
    else:
        final += [structlog.processors.format_exc_info]
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [*final, redact_event, renderer],
        "foreign_pre_chain": SHARED_PROCESSORS,
    }


def config(level: str, log_format: str) -> dict[str, Any]:
    """Django's LOGGING for this level and format (also used by gunicorn's own loggers)."""
    structlog.configure(
        processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact_secrets": {"()": "portal.logging.RedactSecrets"},
            "drop_sandbox_protocol_errors": {"()": "portal.logging.DropSandboxProtocolErrors"},
        },
        "formatters": {"structured": formatter(log_format)},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "filters": ["redact_secrets", "drop_sandbox_protocol_errors"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # msal logs request details at DEBUG; keep it at INFO whatever LOG_LEVEL says.
            "msal": {"level": "INFO" if level == "DEBUG" else level},
            "urllib3": {"level": "WARNING"},
            # gunicorn's own loggers carry handlers of their own: send them here instead.
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def bind(**ids: object) -> None:
    """Add ids (request_id, task, restore_job, backup_object, sign_in...) to every line
    this thread logs from now on."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


def unbind(*names: str) -> None:
    structlog.contextvars.unbind_contextvars(*names)


def clear() -> None:
    structlog.contextvars.clear_contextvars()


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Add ids to every line logged inside the block (a backup run, one sign-in...)."""
    with structlog.contextvars.bound_contextvars(**ids):
        yield
