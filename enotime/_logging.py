"""Log output for ``enotime run``: one readable line per event, or one JSON object per line."""

from __future__ import annotations

import json as _json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from enotime._actor import _running_process
from enotime._context import current_context

__all__ = ["LOG_FORMATS", "ActorLogFilter", "JsonFormatter", "configure_logging"]

LOG_FORMATS = ("human", "json")
"""The formats ``configure_logging`` and ``enotime run --log-format`` accept."""


class ActorLogFilter(logging.Filter):
    """Names the actor and the node on every record made while an actor's task runs.

    A record made in an actor's handler, ``on_start`` or ``on_stop`` gets
    ``record.actor`` (the actor's registered name, else its class name) and
    ``record.node`` (its node's name); elsewhere both are left unset. Values
    a record already has (``extra={"actor": ...}``) are kept. It never
    drops a record. :func:`configure_logging` installs it; add it to your own
    handlers to get the same fields::

        handler.addFilter(ActorLogFilter())

    The actor is found from the current asyncio task when the record is
    made, so the kernel pays nothing for it; a task the actor creates itself,
    or a thread, is not the actor's.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        proc = _running_process()
        if proc is not None:
            if getattr(record, "actor", None) is None:
                record.actor = proc.name or type(proc.actor).__qualname__
            if getattr(record, "node", None) is None:
                record.node = proc.node.name
        return True


_HUMAN_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)-20s %(message)s"


class _HumanFormatter(logging.Formatter):
    """``12:00:01.234 WARNING enotime.supervisor   [workers@demo] message``.

    The ``[actor@node]`` tag appears on records made by an actor (see
    :class:`ActorLogFilter`); tracebacks only when verbose.
    """

    def __init__(self, verbose: bool) -> None:
        super().__init__(_HUMAN_FORMAT, "%H:%M:%S")
        self.verbose = verbose

    def formatException(self, ei: object) -> str:
        return super().formatException(ei) if self.verbose else ""  # type: ignore[arg-type]

    def formatMessage(self, record: logging.LogRecord) -> str:
        actor = _text(getattr(record, "actor", None))
        if actor is None:
            return _HUMAN_FORMAT % record.__dict__
        node = _text(getattr(record, "node", None))
        tag = f"[{actor}@{node}] " if node else f"[{actor}] "
        return _HUMAN_FORMAT % {**record.__dict__, "message": tag + record.message}

    def format(self, record: logging.LogRecord) -> str:
        if not self.verbose:
            record.exc_text = ""
        return super().format(record).rstrip()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, for log pipelines (Loki, Elasticsearch...).

    Keys, always in this order: ``ts`` (UTC, ISO 8601 with milliseconds),
    ``level``, ``logger``, ``event``, ``message`` (``%``-arguments applied),
    ``node``, ``actor`` and ``request_id`` (``null`` when unknown), then
    ``exception`` (the formatted traceback) only when the record carries one.
    Tracebacks are always included: a log pipeline has no ``--verbose`` to ask
    again.

    ``event`` says *what happened*, the same for every occurrence, so a
    pipeline can count and alert on it: the record's ``extra={"event":
    "order.placed"}`` when it has one, else its message *template*, before the
    ``%``-arguments (``"%r: child %r stopped (%s), restarting"``): the log
    call's own key, bounded by the code, never by the data.

    ``request_id`` is read from :func:`enotime.current_context` when the
    record is made inside a handler or a ``request_context`` block. ``actor``
    and ``node`` are the record's: :class:`ActorLogFilter` sets them on
    records made by an actor, and ``extra={"actor": "orders"}`` sets them by
    hand; ``node`` defaults to the node this process runs (given to the
    formatter). A record's own ``request_id`` extra wins over the context.
    """

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        context = current_context()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": _text(getattr(record, "event", None)) or _text(record.msg),
            "message": record.getMessage(),
            "node": _text(getattr(record, "node", None)) or self.node,
            "actor": _text(getattr(record, "actor", None)),
            "request_id": _text(getattr(record, "request_id", None))
            or (context.request_id if context is not None else None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii keeps every line plain ASCII; default=str so no record can make it raise.
        return _json.dumps(entry, default=str)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def configure_logging(
    level: str = "INFO",
    *,
    verbose: bool = False,
    stream: TextIO | None = None,
    json: bool = False,
    node: str | None = None,
) -> None:
    """Send ENoTime's and the application's logs to ``stream``, one line per event.

    Records made by an actor name it and its node (:class:`ActorLogFilter`):
    ``actor`` and ``node`` fields in JSON, an ``[actor@node]`` tag otherwise.

    Args:
        level: The lowest level shown.
        verbose: Show tracebacks of crashes (one line per crash otherwise). JSON
            lines always carry them.
        stream: Where to write (default: standard error).
        json: One JSON object per line (:class:`JsonFormatter`) instead of the
            human-readable line.
        node: The node name JSON lines carry in ``node`` when the record is not
            an actor's.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(node) if json else _HumanFormatter(verbose))
    handler.addFilter(ActorLogFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
