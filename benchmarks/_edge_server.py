"""The two HTTP servers of ``benchmarks/edge.py``, each run in a process of its own.

``python benchmarks/_edge_server.py enotime|bare``: one OS process, one
Hypercorn server (no worker processes), the default asyncio event loop, a
socket bound to a free port on 127.0.0.1. It prints ``port <n>`` on stdout
once it serves, then nothing more there, and stops on SIGTERM or when its
stdin closes (the benchmark went away).

- ``enotime``: a node with the crypto actor over an initialised and unsealed
  embedded engine (in a temporary directory removed at exit), the store actor
  over SQLite with the login document types, the mailer over an outbox that
  writes to the null device, the login actor (argon2id at OWASP parameters,
  email verification not required), an echo :class:`~enotime.auth.Worker`
  whose handler requires ``echo:call``, and the front serving ``POST /echo``
  and the login endpoints. Every rate limit is raised to an effectively
  unlimited count, the limiter itself stays on.
- ``bare``: the peer, a bare Quart app whose ``POST /echo`` answers the JSON
  body it was sent, served by Hypercorn the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from pydantic import BaseModel, Field

from enotime import Node, handler
from enotime.auth import Worker, requires
from enotime.crypto import CryptoClient, CryptoService, EmbeddedCryptoEngine
from enotime.edge import EdgeConfig, Endpoint, FrontService, InputModel, RateLimit, Where
from enotime.login import DOCUMENT_TYPES, LoginConfig, LoginService, endpoints
from enotime.mail import MailerService, Outbox
from enotime.messages import Request
from enotime.store import SQLiteStore, StoreService

__all__ = ["ACCESS_TTL", "UNLIMITED", "EchoService", "main"]

UNLIMITED: Final = RateLimit(count=1_000_000_000, period=60.0)
"""A limit no benchmark reaches: the limiter still counts every request against it."""

ACCESS_TTL: Final = 3600.0
"""Access tokens outlive the longest run (the default, 300 s, would not)."""

ECHO_PERMISSION: Final = "echo:call"


# -- the ENoTime side -------------------------------------------------------------------


class EchoIn(InputModel):
    """The benchmark's body: a short text and a number."""

    text: str = Field(max_length=200)
    n: int


class EchoOut(BaseModel):
    """The echoed body."""

    text: str
    n: int


@dataclass(frozen=True, slots=True)
class EchoReply:
    text: str
    n: int


@dataclass(frozen=True, slots=True)
class Echo(Request[EchoReply]):
    text: str
    n: int


class EchoService(Worker):
    """Answers what it is sent, to callers whose roles grant ``echo:call``."""

    role_permissions = {"owner": frozenset({ECHO_PERMISSION})}

    @handler
    @requires(ECHO_PERMISSION)
    def echo(self, msg: Echo) -> EchoReply:
        return EchoReply(msg.text, msg.n)


def echo_endpoint() -> Endpoint:
    return Endpoint(
        method="POST",
        path="/echo",
        target="echo",
        message=Echo,
        input=EchoIn,
        output=EchoOut,
        summary="Echo the body (needs echo:call)",
    )


async def serve_enotime(directory: Path, mail_stream: TextIO) -> None:
    """The ENoTime node (see the module docstring) until told to stop; mail to ``mail_stream``."""
    engine = EmbeddedCryptoEngine(directory / "keyring")
    [share] = await engine.initialize(shares=1, threshold=1)
    await engine.submit_unseal_share(share)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(engine.aclose)
        adapter = await SQLiteStore.open(directory / "store.sqlite3")
        stack.push_async_callback(adapter.aclose)
        node = await stack.enter_async_context(Node("bench-edge"))
        crypto = await node.spawn(CryptoService, engine, name="crypto")
        await node.spawn(StoreService, adapter, CryptoClient(crypto), DOCUMENT_TYPES, name="store")
        await node.spawn(MailerService, Outbox(stream=mail_stream), name="mailer")
        login = LoginConfig(email_verification_required=False, access_ttl=ACCESS_TTL)
        await node.spawn(LoginService, login, name="login")
        await node.spawn(EchoService, name="echo")
        routes = [
            echo_endpoint(),
            *endpoints(strict_limit=UNLIMITED, login_limit=UNLIMITED),
        ]
        config = EdgeConfig(
            issuer=login.issuer,
            audience=login.audience,
            address_limits=(UNLIMITED,),
            subject_limits=(UNLIMITED,),
        )
        front = await node.spawn(FrontService, routes, config, name="front")
        address = await front.call(Where(), timeout=10)
        await serve_until_stopped(address.port)


# -- the peer ---------------------------------------------------------------------------


async def serve_bare() -> None:
    """A bare Quart JSON echo on Hypercorn until told to stop.

    Served exactly as the front serves its app: Hypercorn's asyncio server
    on a socket bound here, the same configuration (no access log, no
    ``Server`` header), stopped by a shutdown trigger.
    """
    from hypercorn.asyncio.run import worker_serve
    from hypercorn.config import Config, Sockets
    from hypercorn.utils import wrap_app
    from quart import Quart, Response, jsonify, request

    app = Quart("bench-bare")

    @app.post("/echo")
    async def echo() -> Response:
        body: Any = await request.get_json()
        return jsonify(body)

    sock = _listening_socket()
    config = Config()
    config.errorlog = logging.getLogger("bench.bare.server")
    config.accesslog = None
    config.include_server_header = False
    stop = asyncio.Event()
    server = asyncio.ensure_future(
        worker_serve(
            wrap_app(app, config.wsgi_max_body_size, "asgi"),
            config,
            sockets=Sockets([], [sock], []),
            shutdown_trigger=stop.wait,
        )
    )
    try:
        await serve_until_stopped(sock.getsockname()[1], stop)
    finally:
        stop.set()
        await server
        sock.close()


# -- both -------------------------------------------------------------------------------


def _listening_socket() -> socket.socket:
    # As the front binds its own: loopback, a free port, TCP_NODELAY, a long backlog.
    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


async def serve_until_stopped(port: int, stop: asyncio.Event | None = None) -> None:
    """Announce ``port`` on stdout, then wait for SIGTERM or the end of stdin."""
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), stop.set)  # readable at EOF: the client went away
    sys.__stdout__.write(f"port {port}\n")  # type: ignore[union-attr]
    sys.__stdout__.flush()  # type: ignore[union-attr]
    try:
        await stop.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        loop.remove_signal_handler(signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["enotime"], ["bare"]):
        print("usage: _edge_server.py enotime|bare", file=sys.stderr)
        return 2
    sys.stdout = sys.stderr  # stdout carries the port line only; stray prints go to stderr
    if args == ["bare"]:
        asyncio.run(serve_bare())
        return 0
    with (
        open(os.devnull, "w") as null,
        tempfile.TemporaryDirectory(prefix="enotime-bench-edge-") as directory,
    ):
        asyncio.run(serve_enotime(Path(directory), null))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
