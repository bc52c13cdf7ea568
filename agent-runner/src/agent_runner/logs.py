"""Log lines on stderr: "<UTC timestamp> <LEVEL> <JSON object>".

The leading timestamp is what the Stigmer CLI's `stigmer server logs --all` merger orders
lines by; the JSON object after it keeps every field machine-readable (`cut -d' ' -f3- | jq`).
The format is declared in ``contract`` (``format_log_line`` / ``parse_log_line``) so the
toolchain parses exactly what the runner writes.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from agent_runner.contract import format_log_line

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def utc_timestamp(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


class LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {"logger": record.name, "msg": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return format_log_line(utc_timestamp(record.created), record.levelname, payload)


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter stays at WARNING unless we debug.
    if level != "DEBUG":
        for name in ("httpx", "httpcore", "temporalio", "graphton", "deepagents", "langchain"):
            logging.getLogger(name).setLevel(logging.WARNING)


def emit_event(payload: dict[str, Any]) -> None:
    """A machine-readable event line (the payload is the whole JSON), flushed immediately."""
    line = format_log_line(utc_timestamp(time.time()), "INFO", payload)
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
