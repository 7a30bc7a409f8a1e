"""Where the runtime reads time: the clock interface and the system clock."""

from __future__ import annotations

import abc
import time

__all__ = ["Clock", "SystemClock"]


class Clock(abc.ABC):
    """Where the runtime reads time for restart windows, TTLs and timeouts.

    Injected so tests can move time by hand (see ``enotime.testing.ManualClock``)
    instead of sleeping.
    """

    @abc.abstractmethod
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""


class SystemClock(Clock):
    """The process's monotonic clock."""

    def monotonic(self) -> float:
        return time.monotonic()
