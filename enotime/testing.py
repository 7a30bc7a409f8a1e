"""Helpers for deterministic tests of actor systems: a hand-moved clock and a probe.

Tests wait on events with timeouts, never on sleeps: a :class:`Probe` is an
actor whose every message lands in a queue the test awaits.

Example:
    >>> async with Node("test") as node:
    ...     probe = await Probe.start(node)
    ...     worker = await node.spawn(Worker)
    ...     probe.monitor(worker)
    ...     node.kill(worker)
    ...     down = await probe.expect(Down)
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from enotime._actor import Actor, ActorRef, Monitor
from enotime._clock import Clock
from enotime._handler import handler
from enotime._node import Node

__all__ = ["ManualClock", "Probe"]

M = TypeVar("M")


class ManualClock(Clock):
    """A clock that only moves when the test says so."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        self._now += seconds


class _Recorder(Actor):
    def __init__(self, inbox: asyncio.Queue[object]) -> None:
        self.inbox = inbox

    @handler(object)
    def record(self, message: object) -> None:
        self.inbox.put_nowait(message)


class _TrappingRecorder(_Recorder):
    trap_exit = True


class Probe:
    """An actor driven by the test: it records what it receives, and links or monitors."""

    def __init__(self, ref: ActorRef[_Recorder], inbox: asyncio.Queue[object]) -> None:
        self.ref = ref
        self._inbox = inbox

    @classmethod
    async def start(cls, node: Node, *, trap_exit: bool = False, name: str | None = None) -> Probe:
        """Spawn a probe on ``node``; with ``trap_exit`` it receives ``Exit`` messages."""
        inbox: asyncio.Queue[object] = asyncio.Queue()
        recorder = _TrappingRecorder if trap_exit else _Recorder
        ref = await node.spawn(recorder, inbox, name=name)
        return cls(ref, inbox)

    @property
    def _actor(self) -> _Recorder:
        return self.ref._proc.actor  # type: ignore[return-value]

    def link(self, ref: ActorRef[Any]) -> None:
        """Link the probe to ``ref``."""
        self._actor.link(ref)

    def monitor(self, ref: ActorRef[Any]) -> Monitor:
        """Monitor ``ref`` from the probe; the ``Down`` arrives in the probe."""
        return self._actor.monitor(ref)

    async def receive(self, timeout: float = 2.0) -> object:
        """The next message the probe got; ``TimeoutError`` if none within ``timeout``."""
        return await asyncio.wait_for(self._inbox.get(), timeout)

    async def expect(self, message_type: type[M], timeout: float = 2.0) -> M:
        """The next message, which must be a ``message_type``; else ``AssertionError``."""
        message = await self.receive(timeout)
        if not isinstance(message, message_type):
            raise AssertionError(f"expected {message_type.__qualname__}, got {message!r}")
        return message

    def received_nothing(self) -> bool:
        """True if no message is waiting (checks only what has arrived so far)."""
        return self._inbox.empty()
