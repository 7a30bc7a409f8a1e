"""The default clock."""

from __future__ import annotations

import time

from enotime.abc import Clock

__all__ = ["SystemClock"]


class SystemClock(Clock):
    """The process's monotonic clock."""

    def monotonic(self) -> float:
        return time.monotonic()
