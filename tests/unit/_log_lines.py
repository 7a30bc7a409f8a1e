"""Waiting on a log line without sleeping: an event set when a matching line is logged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator


class LogLines(logging.Handler):
    """The messages that contain ``text``, and an event set by each one."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.text in message:
            self.messages.append(message)
            self.seen.set()


@contextlib.contextmanager
def log_lines(logger_name: str, text: str) -> Iterator[LogLines]:
    """Collect ``logger_name``'s INFO-and-above lines that contain ``text`` while the block runs."""
    handler = LogLines(text)
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
