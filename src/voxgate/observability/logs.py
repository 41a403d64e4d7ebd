"""Structured logs: each line as one JSON object carrying its session and participant ids.

The ids live in context variables that the session sets when a client joins (in the
connection's own task, so its reading and writing tasks inherit them) and for the session's
own task (session id only); ``asyncio.to_thread`` carries them into worker threads.
``voxgate serve --log-format json`` (setting ``log_format``) turns it on; plain text stays the
default.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys
from typing import Any, Literal

SESSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "voxgate_session_id", default=None
)
PARTICIPANT_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "voxgate_participant_id", default=None
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# what every LogRecord has: anything else on a record came as `extra=` and is logged too
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def bind(session_id: str | None, participant_id: str | None = None) -> None:
    """Log lines from here on (in this task and those it starts) carry these ids."""
    SESSION_ID.set(session_id)
    PARTICIPANT_ID.set(participant_id)


def session_context(session_id: str) -> contextvars.Context:
    """A context for a session's own tasks: its id, no participant's."""
    context = contextvars.copy_context()
    context.run(bind, session_id)
    return context


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the ids, and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (session_id := SESSION_ID.get()) is not None:
            line["session_id"] = session_id
        if (participant_id := PARTICIPANT_ID.get()) is not None:
            line["participant_id"] = participant_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def configure(log_format: Literal["text", "json"], level: int = logging.INFO) -> None:
    """The root logger writes to stderr in ``log_format`` (replacing its handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
