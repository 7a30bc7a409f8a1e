"""A hand-moved wall clock, for what reads seconds since the epoch (tokens, expiries)."""

from __future__ import annotations

START = 1_700_000_000.0
"""Where every :class:`WallClock` starts unless told otherwise (November 2023)."""


class WallClock:
    """Seconds since the epoch that only move when the test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
