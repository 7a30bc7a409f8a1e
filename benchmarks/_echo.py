"""The echo actor and its messages, shared by the kernel and metrics benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

from enotime import Actor, handler
from enotime.messages import Request


@dataclass(frozen=True, slots=True)
class Ping(Request[int]):
    """Answered with ``n``."""

    n: int


@dataclass(frozen=True, slots=True)
class Cast:
    """Counted, never answered."""

    n: int


@dataclass(frozen=True, slots=True)
class Total(Request[int]):
    """Answered with the number of ``Cast`` messages seen so far."""


class Echo(Actor):
    """ENoTime's side: echoes pings, counts casts."""

    def __init__(self) -> None:
        self.casts = 0

    @handler
    def ping(self, msg: Ping) -> int:
        return msg.n

    @handler
    def cast(self, msg: Cast) -> None:
        self.casts += 1

    @handler
    def total(self, msg: Total) -> int:
        return self.casts
