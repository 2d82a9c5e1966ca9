"""One logging set-up for every Frontier process: text for a terminal, JSON lines for collectors.

Each record carries the id of the request being served (`request_id`, "-" outside a request). The id lives
in a ContextVar: asyncio copies it into every task a request spawns, so concurrent requests never see each
other's id, and no shared mutable state is involved.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any, Literal

LogFormat = Literal["text", "json"]

REQUEST_ID: ContextVar[str] = ContextVar("frontier_request_id", default="-")

# Attributes every LogRecord has; anything else was passed with `extra=` and belongs in the JSON line.
# (uvicorn adds `color_message`, a copy of the message with terminal colours.)
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "request_id", "color_message",
}
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def python_level(level: str) -> int:
    """Frontier's level names (trace, debug, info, warning, error, critical) as logging's numbers."""
    return logging.DEBUG if level == "trace" else getattr(logging, level.upper(), logging.INFO)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def build_handler(fmt: LogFormat, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(level: str, fmt: LogFormat = "text") -> None:
    """Sets the root logger (uvicorn's loggers propagate to it: start uvicorn with `log_config=None`)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(build_handler(fmt))
    root.setLevel(python_level(level))
    # httpx logs every upstream call at info; the access line per request already says what happened.
    logging.getLogger("httpx").setLevel(logging.DEBUG if python_level(level) <= logging.DEBUG else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # mistral.rs logs through Rust's tracing; RUST_LOG sets its level.
    os.environ.setdefault("RUST_LOG", {"warning": "warn", "critical": "error"}.get(level, level))
