"""``/metrics`` over HTTP, served by a supervised actor on each node.

The server is deliberately tiny -- one ``GET`` per connection, answered with
prometheus-client's own exposition (text or OpenMetrics, as the scraper's
``Accept`` header asks) -- and binds to loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

from enotime._actor import Actor, ActorRef
from enotime._handler import handler
from enotime._node import Node
from enotime._reason import ExitReason
from enotime._supervisor import ChildSpec, Supervisor, child
from enotime.messages import Request
from enotime.metrics._collector import instrument, uninstrument

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "SERVER_NAME",
    "GetAddress",
    "MetricsServer",
    "metrics_child",
    "server_address",
    "start_metrics",
]

log = logging.getLogger("enotime.metrics")

DEFAULT_PORT: Final = 9464
"""The port ``/metrics`` is served on unless told otherwise."""
DEFAULT_HOST: Final = "127.0.0.1"
"""Loopback: expose it wider on purpose (``host="0.0.0.0"``), never by accident."""
SERVER_NAME: Final = "enotime.metrics"
"""The name :func:`metrics_child` and :func:`start_metrics` register the server under."""
REQUEST_TIMEOUT: Final = 10.0
"""Seconds a client gets to send its request head."""
MAX_HEAD: Final = 16 * 1024
"""Bytes a request head may take; a longer one is refused with 431."""


@dataclass(frozen=True, slots=True)
class GetAddress(Request[tuple[str, int]]):
    """Asks a :class:`MetricsServer` for the ``(host, port)`` it listens on."""


class MetricsServer(Actor):
    """An actor that serves ``GET /metrics`` from a Prometheus registry.

    On start it exposes its node's statistics in ``registry`` (see
    :func:`~enotime.metrics.instrument`) and listens; on stop it closes the
    socket, ends open connections and withdraws the node's statistics. Place
    it in a supervision tree with :func:`metrics_child`.

    Args:
        port: TCP port; 0 picks a free one (ask :func:`server_address`).
        host: address to bind; loopback by default.
        registry: what to serve; prometheus-client's global registry by
            default, where :func:`~enotime.metrics.timed` and
            :func:`~enotime.metrics.measure` register too.
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        *,
        host: str = DEFAULT_HOST,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._port = port
        self._host = host
        self._registry = REGISTRY if registry is None else registry
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._address: tuple[str, int] = (host, port)
        self._closed = False

    async def on_start(self) -> None:
        instrument(self.node, self._registry)
        try:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._port, limit=MAX_HEAD
            )
        except BaseException:
            uninstrument(self.node, self._registry)
            raise
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (host, port)
        # A killed actor skips on_stop: close the socket when the actor stops however it
        # stops, or a restart would find its port still taken.
        proc = self._enotime_proc
        if proc.stopped is None:
            proc.stopped = proc.loop.create_future()
        proc.stopped.add_done_callback(lambda _: self._close())
        log.info("node %s: serving /metrics on http://%s:%d/metrics", self.node.name, host, port)

    async def on_stop(self, reason: ExitReason) -> None:
        self._close()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _close(self) -> None:
        """Stop listening, end open connections, withdraw the statistics; once."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for task in self._connections:
            task.cancel()
        uninstrument(self.node, self._registry)

    @handler
    def _where(self, message: GetAddress) -> tuple[str, int]:
        return self._address

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.LimitOverrunError, ValueError):
                writer.write(_response(431, "text/plain", b"request head too large\n"))
            else:
                writer.write(self._answer(head))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.debug("/metrics: client went away or was too slow: %r", exc)
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    def _answer(self, head: bytes) -> bytes:
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if path != "/metrics":
            return _response(404, "text/plain", b"not found: try /metrics\n")
        if method not in ("GET", "HEAD"):
            return _response(405, "text/plain", b"method not allowed\n", allow="GET, HEAD")
        accept = ""
        for line in lines[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == "accept":
                accept = value.strip()
        encoder, content_type = choose_encoder(accept)
        try:
            body = encoder(self._registry)
        except Exception:
            log.exception("node %s: collecting metrics failed", self.node.name)
            return _response(500, "text/plain", b"collecting metrics failed\n")
        return _response(200, content_type, b"" if method == "HEAD" else body, length=len(body))


_REASONS: Final = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


def _response(
    status: int,
    content_type: str,
    body: bytes,
    *,
    length: int | None = None,
    allow: str | None = None,
) -> bytes:
    head = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body) if length is None else length}",
        "Connection: close",
    ]
    if allow is not None:
        head.append(f"Allow: {allow}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def metrics_child(
    port: int = DEFAULT_PORT,
    *,
    host: str = DEFAULT_HOST,
    registry: CollectorRegistry | None = None,
    name: str | None = SERVER_NAME,
) -> ChildSpec:
    """A child spec for a :class:`MetricsServer`, to place in a supervision tree."""
    return child(MetricsServer, port, host=host, registry=registry, name=name, id="metrics")


async def start_metrics(
    node: Node,
    port: int = DEFAULT_PORT,
    *,
    host: str = DEFAULT_HOST,
    registry: CollectorRegistry | None = None,
) -> ActorRef[Supervisor]:
    """Serve ``/metrics`` for ``node`` under a small supervisor of its own.

    For a node whose tree does not include :func:`metrics_child` (``enotime
    run --metrics-port`` uses this). Returns once the server listens; the
    supervisor is registered as ``enotime.metrics.supervisor`` and stops with
    the node.

    Raises:
        StartFailed: the server could not start (the port is taken, say).
    """
    return await node.spawn(
        Supervisor,
        [metrics_child(port, host=host, registry=registry)],
        name=f"{SERVER_NAME}.supervisor",
    )


async def server_address(node: Node, name: str = SERVER_NAME) -> tuple[str, int]:
    """The ``(host, port)`` the metrics server registered as ``name`` on ``node`` listens on."""
    return await node.lookup(name).call(GetAddress())
