"""Log output for ``enotime run``: one readable line per event."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["configure_logging"]


class _HumanFormatter(logging.Formatter):
    """``12:00:01.234 WARNING  enotime.supervisor  message``; tracebacks only when verbose."""

    def __init__(self, verbose: bool) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)-20s %(message)s", "%H:%M:%S"
        )
        self.verbose = verbose

    def formatException(self, ei: object) -> str:
        return super().formatException(ei) if self.verbose else ""  # type: ignore[arg-type]

    def format(self, record: logging.LogRecord) -> str:
        if not self.verbose:
            record.exc_text = ""
        return super().format(record).rstrip()


def configure_logging(
    level: str = "INFO", *, verbose: bool = False, stream: TextIO | None = None
) -> None:
    """Send ENoTime's and the application's logs to ``stream``, one line per event.

    Args:
        level: The lowest level shown.
        verbose: Show tracebacks of crashes (one line per crash otherwise).
        stream: Where to write (default: standard error).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_HumanFormatter(verbose))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
