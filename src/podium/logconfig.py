"""Logging set-up: readable text by default, one JSON object per line with ``log_format=json``.

A JSON line has ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger`` and
``message``, then any extras the call passed (``log.info("...", extra={"room_id": ...})``, e.g.
``room_id``, ``user_id``, ``topic``), and ``exc_info`` (the formatted traceback) when there is one.

Secrets never reach a log line: both formats pass everything they write (message, extras,
tracebacks) through ``redact``, which masks API tokens, secrets in query strings (``?token=``),
calendar feed and invite URLs, and ``Authorization`` values. uvicorn's access log prints every
request's full path, so this is where a bot's ``?token=`` would otherwise be written down.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
    "color_message",  # uvicorn's coloured copy of the message
}


REDACTED = "[redacted]"
_SECRETS = (
    # Query parameters that carry a credential (a bot's ?token=, a resumed session...).
    (re.compile(r"([?&](?:token|access_token|resume|code|key|secret|password)=)[^&\s\"'#]+",
                re.I), rf"\1{REDACTED}"),
    # Paths whose segment is the secret: calendar feeds, invite links.
    (re.compile(r"(/calendar/)[^/\s\"'?#]+?(\.ics)"), rf"\1{REDACTED}\2"),
    (re.compile(r"(/invites?/)[A-Za-z0-9_\-]{16,}"), rf"\1{REDACTED}"),
    # API tokens wherever they appear, and Authorization header values.
    (re.compile(r"pod_[A-Za-z0-9_\-]{16,}"), f"pod_{REDACTED}"),
    (re.compile(r"((?:authorization|cookie)[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?[^\s\"',;]+",
                re.I), rf"\1{REDACTED}"),
    (re.compile(r"(podium_session=)[^\s\"';]+"), rf"\1{REDACTED}"),
)


def redact(text: str) -> str:
    """``text`` with every credential it shows masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value...``: the extras stay visible in text too."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = [f"{k}={v}" for k, v in vars(record).items()
                  if k not in _STANDARD and not k.startswith("_")]
        if extras:
            first, nl, rest = text.partition("\n")
            text = first + " " + " ".join(extras) + nl + rest
        return text


def formatter(log_format: Literal["text", "json"]) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def setup_logging(log_format: Literal["text", "json"] = "text", level: int | str = "INFO",
                  stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger (and uvicorn's) to ``stream`` in the chosen format. Idempotent."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.set_name("podium")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "podium":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn brings its own handlers: route its loggers through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler


def uvicorn_log_config() -> dict[str, Any]:
    """For ``uvicorn.run(log_config=...)``: keep uvicorn from installing its own handlers."""
    return {"version": 1, "disable_existing_loggers": False,
            "loggers": {name: {"handlers": [], "propagate": True}
                        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}}
