"""Logging: one JSON object per line (LOG_FORMAT=json, the default) or plain text (`dev`).

Every record carries the authenticated caller of the RPC being served, and, where the code
passes them in `extra`, content_id, profile_id, platform and request_id. Never a token or key.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from queuelabs.security import caller

CONTEXT_FIELDS = ("content_id", "profile_id", "platform", "request_id", "worker")
# An access line's own fields (queuelabs/access.py); numbers stay numbers.
ACCESS_FIELDS = ("method", "service", "code", "reason", "duration_ms", "peer")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        who = getattr(record, "caller", None) or caller.get()
        if who != "-":
            entry["caller"] = who
        for name in ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        who = caller.get()
        return f"{text} [caller {who}]" if who != "-" else text


def configure(level: int, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))  # one line per call is noise
