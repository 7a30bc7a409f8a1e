"""The front actor: a Quart app served by Hypercorn on the node's event loop.

The actor owns the listening socket and the server task. If the server task
ends while the actor is alive, the actor crashes (its supervisor restarts it
and the port is bound again); if the actor stops — even killed — the server
shuts down, because its shutdown trigger also waits for the actor's end.
HTTP requests do not go through the actor's mailbox: each runs in
Hypercorn's task for it and ``call``\\ s the target actor directly.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets
from hypercorn.utils import wrap_app
from quart import Quart

from enotime._actor import Actor
from enotime._handler import handler
from enotime._reason import ExitReason
from enotime.auth import RevocationList, Revocations, RevocationsChanged, TokenVerifier
from enotime.edge._app import create_app
from enotime.edge._bearer import BearerAuthentication
from enotime.edge._config import EdgeConfig
from enotime.edge._endpoint import Endpoint
from enotime.edge._jwks import JwksCache, login_ref
from enotime.errors import EnotimeError
from enotime.messages import Request

__all__ = ["Address", "FrontService", "ServerStopped", "Where"]

log = logging.getLogger("enotime.edge")

_ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus request_id=%({x-request-id}o)s'


@dataclass(frozen=True, slots=True)
class Address:
    """Where a front listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://host:port``, the base URL of the API."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class Where(Request[Address]):
    """Ask a front where it listens; the reply is its :class:`Address` (the bound port)."""


class ServerStopped(EnotimeError):
    """The front's HTTP server stopped while the front was alive: the front crashes with it.

    Its supervisor restarts the front, which binds the port again. The cause
    (if the server failed) is chained. Not raised when the front stops.
    """


@dataclass(frozen=True, slots=True)
class _RefreshRevocations:
    """The front's own timer: time to fetch the revocations again."""


@dataclass(frozen=True, slots=True)
class _ServerEnded:
    error: BaseException | None


class FrontService(Actor):
    """The HTTP edge of a node: endpoint declarations served over Quart and Hypercorn.

    Register it as ``"front"`` (the name the login actor pushes revocations
    to by default). At start it fetches the JWKS and the revocations from
    the actor named ``config.jwks_source`` (when that actor is running; the
    JWKS is fetched again when a token names an unknown kid), builds the app
    and listens on ``config.host:config.port``; ``Where()`` answers the bound
    address. It merges every ``RevocationsChanged`` it is sent.

    Rate limits are counted in this front's memory: per front node, per
    route (see :class:`~enotime.edge.RateLimit`).

    Args:
        endpoints: The routes to serve.
        config: Where to listen and what to accept (defaults: loopback, a free port).
        wall_clock: Seconds since the epoch, for token times (tests inject one).
    """

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        config: EdgeConfig | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._config = config or EdgeConfig()
        self._wall_clock = wall_clock
        self._revocations = RevocationList(clock=wall_clock)
        self._address: Address | None = None
        self._app: Quart | None = None
        self._jwks: JwksCache | None = None
        self._server: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def address(self) -> Address:
        """The bound address (the real port when the configured one is 0)."""
        if self._address is None:
            raise RuntimeError("the front is not serving yet")
        return self._address

    @property
    def app(self) -> Quart:
        """The Quart app being served."""
        if self._app is None:
            raise RuntimeError("the front is not serving yet")
        return self._app

    async def on_start(self) -> None:
        config = self._config
        verifier = TokenVerifier(
            issuer=config.issuer,
            audience=config.audience,
            leeway=config.leeway,
            max_token_bytes=config.max_token_bytes,
            revocations=self._revocations if config.revocations else None,
            clock=self._wall_clock,
        )
        jwks = self._jwks = JwksCache(
            verifier,
            node=self.node,
            source=config.jwks_source,
            floor=config.jwks_refresh_floor,
            clock=self.node.clock.monotonic,
        )
        await jwks.load()
        if config.revocations:
            await self._load_revocations()
            self._schedule_refresh()
        app = self._app = create_app(
            self._endpoints,
            config,
            node=self.node,
            authentication=BearerAuthentication(
                verifier, jwks, cache_size=config.token_cache_size, clock=self._wall_clock
            ),
            jwks=jwks,
        )
        started = asyncio.Event()

        async def serving() -> None:
            started.set()

        app.before_serving(serving)
        sock = await _bind(config.host, config.port, retry_for=config.bind_retry)
        self._address = Address(config.host, sock.getsockname()[1])
        server = self._server = asyncio.get_running_loop().create_task(
            self._serve(app, sock), name=f"enotime front {self._address.url}"
        )
        waiting = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait({server, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if server.done():
            server.result()  # the start failed: raise why
            raise ServerStopped(f"the HTTP server on {self._address.url} stopped as it started")
        server.add_done_callback(self._server_done)
        log.info("front serving %d endpoints on %s", len(self._endpoints), self._address.url)

    async def on_stop(self, reason: ExitReason) -> None:
        self._stopping.set()
        server = self._server
        if server is not None:
            await asyncio.wait({server})
            if not server.cancelled() and (error := server.exception()) is not None:
                log.warning("the HTTP server on %s failed as it stopped: %r", self._address, error)
        if self._jwks is not None:
            await self._jwks.aclose()

    @handler
    def where(self, message: Where) -> Address:
        """Where this front listens."""
        return self.address

    @handler
    def revocations_changed(self, message: RevocationsChanged) -> None:
        """Merge the login actor's revocations (a malformed snapshot is logged and ignored)."""
        if not self._config.revocations:
            return
        try:
            self._revocations.merge(message.snapshot)
        except ValueError as error:
            log.error("ignored a malformed revocation snapshot: %s", error)

    @handler
    def server_ended(self, message: _ServerEnded) -> None:
        raise ServerStopped(f"the HTTP server on {self.address.url} stopped") from message.error

    @handler
    async def refresh_revocations(self, message: _RefreshRevocations) -> None:
        """Fetch the revocations again (every ``revocations_refresh`` seconds)."""
        await self._load_revocations()
        self._schedule_refresh()

    def _schedule_refresh(self) -> None:
        interval = self._config.revocations_refresh
        if self._config.revocations and interval is not None:
            self.send_after(interval, _RefreshRevocations())

    async def _load_revocations(self) -> None:
        source = self._config.jwks_source
        ref = login_ref(self.node, source)
        if ref is None:
            log.info("no revocations to load: no actor is registered as %r", source)
            return
        try:
            self._revocations.merge(await ref.call(Revocations(), timeout=5.0))
        except (EnotimeError, ValueError) as error:
            log.warning("no revocations from %r: %s", source, error)

    async def _serve(self, app: Quart, sock: socket.socket) -> None:
        config = HypercornConfig()
        config.errorlog = logging.getLogger("enotime.edge.server")
        config.accesslog = (
            logging.getLogger("enotime.edge.access") if self._config.access_log else None
        )
        config.access_log_format = _ACCESS_LOG_FORMAT
        config.include_server_header = False
        config.graceful_timeout = self._config.graceful_timeout
        try:
            await worker_serve(
                wrap_app(app, config.wsgi_max_body_size, "asgi"),
                config,
                sockets=Sockets([], [sock], []),
                shutdown_trigger=self._until_stopped,
            )
        finally:
            sock.close()

    async def _until_stopped(self) -> None:
        """Return when the front stops: ``on_stop`` began, or it is gone (killed)."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        gone = asyncio.ensure_future(self.ref.wait_stopped())
        try:
            await asyncio.wait({stopping, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            gone.cancel()

    def _server_done(self, server: asyncio.Task[None]) -> None:
        error = None if server.cancelled() else server.exception()
        if self._stopping.is_set() or not self.ref.is_alive:
            return
        self.ref.send(_ServerEnded(error))


async def _bind(host: str, port: int, *, retry_for: float) -> socket.socket:
    """A listening socket on ``host:port``, retrying a port a previous front still holds.

    After a crash or a kill the old server closes its socket moments after
    the supervisor has restarted the front; retrying for ``retry_for``
    seconds bridges that gap. ``SO_REUSEADDR`` (set by ``create_server``)
    ignores connections of the old socket lingering in TIME_WAIT.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    loop = asyncio.get_running_loop()
    deadline = loop.time() + retry_for
    delay = 0.01
    while True:
        try:
            sock = socket.create_server((host, port), family=family, backlog=1024)
        except OSError as error:
            if error.errno != errno.EADDRINUSE or port == 0 or loop.time() >= deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock
