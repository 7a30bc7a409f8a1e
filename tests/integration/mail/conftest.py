"""A real SMTP server on loopback (aiosmtpd), whose handler the test scripts, and a node."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from enotime import Node

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class Recorder:
    """An aiosmtpd handler: answers DATA from a script, records what it accepted.

    It runs on the server's thread; the test awaits :meth:`next` (or
    :meth:`attempt`) on its own loop, with a timeout.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self.refusals: list[str] = []
        """Answers to the next DATA commands, e.g. ``"451 4.3.0 try later"``; then 250."""
        self.received: asyncio.Queue[Received] = asyncio.Queue()
        self.attempts: asyncio.Queue[int] = asyncio.Queue()
        self._count = 0

    def refuse_next(self, *answers: str) -> None:
        with self._lock:
            self.refusals.extend(answers)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._count += 1
            count = self._count
            answer = self.refusals.pop(0) if self.refusals else None
        self._loop.call_soon_threadsafe(self.attempts.put_nowait, count)
        if answer is not None:
            return answer
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), parsed)
        self._loop.call_soon_threadsafe(self.received.put_nowait, received)
        return "250 2.0.0 OK"

    async def next(self, timeout: float = 5.0) -> Received:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def attempt(self, timeout: float = 5.0) -> int:
        """Wait for the next DATA command; its number, counting from 1."""
        return await asyncio.wait_for(self.attempts.get(), timeout)


class LoopbackController(Controller):
    """aiosmtpd's controller on an ephemeral port (``port=0``), read back once bound."""

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def smtp_server(handler: Any, port: int = 0, **smtp_options: Any) -> Iterator[LoopbackController]:
    """Run an SMTP server on ``HOST``; stopped (and its thread joined) on exit."""
    controller = LoopbackController(handler, hostname=HOST, port=port, **smtp_options)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder(asyncio.get_running_loop())


@pytest.fixture
def server(recorder: Recorder) -> Iterator[LoopbackController]:
    with smtp_server(recorder) as controller:
        yield controller


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on ``HOST`` where nothing listens (held bound, so connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        yield holder.getsockname()[1]


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    async with Node("mail-test", shutdown_timeout=2.0) as node:
        yield node
    assert node.statistics().actors_alive == 0
