"""Location transparency: a node's gateway to a transport, and refs to actors on other nodes.

A :class:`Gateway` connects one :class:`~enotime.Node` to one transport
(:class:`~enotime.transport.AbstractTransport`). Inbound, it serves the
node's queue and delivers each message to the local actor registered under
``delivery.address.actor``, and serves the services the node exposes.
Outbound, it publishes what :class:`RemoteRef` objects send.

Monitors across nodes: each gateway runs an agent actor (the reserved wire
name :data:`AGENT`) that watches local actors for other nodes and answers
their heartbeats; a node that stops answering makes the monitors on its
actors fire ``noconnection`` (see :class:`Gateway`).

Global names: a gateway given a registry registers its node there, holds a
registry session, and records ``name -> "<node>/<actor>"`` for
:meth:`Gateway.register_global`; its agent monitors each such actor and the
name is released when the actor stops, and all of them when the gateway
closes (clean releases: another node may take them at once).

Acknowledgement follows the handler: for a ``send`` as for a ``call``, the
gateway waits until the local actor has handled the message (a local
``call``; a ``send``'s reply is discarded), so the transport acks only after
the handler finished. An actor that crashes on a message makes the transport
requeue it, and the redelivery reaches the actor's restarted incarnation
(at-least-once).

The transport stays the caller's: open it before :meth:`Node.connect` and
close it after the node (``async with transport, Node(...) as node``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar, overload

from enotime._actor import (
    DEFAULT_CALL_TIMEOUT,
    Actor,
    ActorRef,
    ActorStatistics,
    Monitor,
    _Process,
)
from enotime._context import RequestContext, _current
from enotime._handler import handler
from enotime._reason import NOCONNECTION, NOPROC, ExitReason
from enotime.errors import (
    CallTimeout,
    NotSupportedAcrossNodes,
    Refused,
    RemoteCrash,
    UnhandledMessage,
    UnknownActor,
)
from enotime.messages import Down, Request
from enotime.transport._message import message

if TYPE_CHECKING:
    from enotime._node import Node
    from enotime.registry import Registration, Session
    from enotime.registry._port import AbstractRegistry
    from enotime.transport._port import AbstractTransport, Address, Delivery, Subscription

__all__ = ["Gateway", "RemoteMonitor", "RemoteRef"]

log = logging.getLogger("enotime.gateway")

REMOTE_CALL_NO_TIMEOUT: Final = 3600.0
"""Seconds a remote ``call(..., timeout=None)`` waits: a deadline must travel with it."""

_POLL: Final = 0.01
"""Seconds between looks for a restarting actor's name (see ``restart_grace``)."""

R = TypeVar("R")


class _UnhandledRemotely(Refused):
    """The remote actor has no handler for the message; travels as ``UnhandledMessage``."""


_UnhandledRemotely.__qualname__ = "UnhandledMessage"

AGENT: Final = "enotime.gateway"
"""The actor name, on every connected node, of the gateway's agent (reserved).

Monitors across nodes and heartbeats are messages to it: ``Watch``,
``Unwatch``, ``Ping`` (from the watching node) and ``RemoteDown`` (back to it).
"""


# -- the wire form of monitors across nodes ---------------------------------------------------


@message("enotime.gateway.ExitReason", version=1)
@dataclass(frozen=True)
class _WireReason:
    """An :class:`ExitReason` on the wire: a crash travels as its exception's type name and text."""

    kind: str
    detail: str | None = None
    error_type: str | None = None
    text: str | None = None

    @classmethod
    def of(cls, reason: ExitReason) -> _WireReason:
        error = reason.exception
        if error is None:
            return cls(reason.kind, reason.detail)
        if isinstance(error, RemoteCrash):  # crossed once already: keep the original type name
            return cls(reason.kind, reason.detail, error.type_name, error.text)
        return cls(reason.kind, reason.detail, type(error).__qualname__, str(error))

    def reason(self) -> ExitReason:
        if self.kind == "crash":
            return ExitReason.crash(RemoteCrash(self.error_type or "Exception", self.text or ""))
        try:
            return ExitReason(self.kind, self.detail)
        except ValueError:  # a kind this node does not know: keep what it said
            return ExitReason.crash(RemoteCrash("UnknownExitReason", f"{self.kind}: {self.detail}"))


@message("enotime.gateway.Watch", version=1)
@dataclass(frozen=True)
class _Watch(Request["_WireReason | None"]):
    """Monitor the local actor ``actor`` for ``watcher_node``; the reply is None or why not."""

    monitor_id: str
    watcher_node: str
    actor: str


@message("enotime.gateway.Unwatch", version=1)
@dataclass(frozen=True)
class _Unwatch:
    monitor_id: str


@message("enotime.gateway.RemoteDown", version=1)
@dataclass(frozen=True)
class _RemoteDown:
    node: str
    monitor_id: str
    reason: _WireReason


@message("enotime.gateway.Ping", version=1)
@dataclass(frozen=True)
class _Ping(Request[bool]):
    pass


class _Agent(Actor):
    """The gateway's actor: watches local actors for other nodes, answers their heartbeats."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._watches: dict[str, tuple[str, Monitor]] = {}
        self._ids: dict[Monitor, str] = {}

    @handler
    def watch(self, msg: _Watch) -> _WireReason | None:
        if msg.monitor_id in self._watches:  # a redelivery
            return None
        ref = self.node.whereis(msg.actor)
        if ref is None or ref._proc.actor is self:
            return _WireReason.of(NOPROC)
        monitor = self.monitor(ref)
        if not monitor.active:  # already dead: its Down(noproc) is in our mailbox, ignored
            return _WireReason.of(NOPROC)
        self._watches[msg.monitor_id] = (msg.watcher_node, monitor)
        self._ids[monitor] = msg.monitor_id
        return None

    @handler
    def unwatch(self, msg: _Unwatch) -> None:
        watch = self._watches.pop(msg.monitor_id, None)
        if watch is not None:
            self._ids.pop(watch[1], None)
            self.demonitor(watch[1])

    @handler
    def ping(self, msg: _Ping) -> bool:
        return True

    @handler
    def remote_down(self, msg: _RemoteDown) -> None:
        self._gateway._remote_down(msg)

    @handler
    def down(self, msg: Down) -> None:
        monitor_id = self._ids.pop(msg.monitor, None)
        if monitor_id is None:
            self._gateway._global_down(msg.monitor)
            return
        watcher_node, _ = self._watches.pop(monitor_id)
        self._gateway._tell(
            watcher_node, _RemoteDown(self._gateway.node_id, monitor_id, _WireReason.of(msg.reason))
        )


class RemoteMonitor(Monitor):
    """A monitor on an actor on another node, returned by :meth:`Actor.monitor`.

    Its ``Down`` comes from the other node (with the actor's exit reason; a
    crash as a :class:`~enotime.errors.RemoteCrash`), or from this node's
    gateway with reason ``noconnection`` when that node stops answering.
    """

    __slots__ = ("_gateway", "_id", "_remote")

    def __init__(self, gateway: Gateway, watcher: _Process, remote: RemoteRef) -> None:
        self._gateway = gateway
        self._watcher = watcher
        self._remote = remote
        self._id = uuid.uuid4().hex
        self.active = True

    @property
    def ref(self) -> ActorRef[Any]:
        """The watched remote actor."""
        return self._remote

    @property
    def node(self) -> str:
        """The node the watched actor is on."""
        return self._remote.address.name

    def _detach(self) -> None:
        self._gateway._forget(self, unwatch=True)

    def __repr__(self) -> str:
        return f"<RemoteMonitor {self._watcher.ref!r} -> {self._remote!r}>"


class RemoteRef(ActorRef[Any]):
    """A ref to an actor on another node, or to a service: ``send`` and ``call`` work.

    Get one from :meth:`Node.remote` (an actor registered under a name on a
    node) or :meth:`Node.service` (a service: each message goes to one of
    the nodes exposing it).

    Why a subclass of :class:`~enotime.ActorRef` rather than a sibling: code
    written against ``ActorRef`` (actor fields, handler arguments, the
    dead-letter log's ``recipient``) accepts a remote ref unchanged — that is
    what location transparency asks. Every ``ActorRef`` member that touches
    the local process record is overridden here: ``send``/``call`` go
    through the transport; ``wait_stopped``, ``actor_class`` and
    ``statistics`` raise :class:`~enotime.errors.NotSupportedAcrossNodes`;
    so does anything else that reaches for the local process record
    (``Actor.link``, ``node.kill``, ``send_after``, ``register``), instead
    of silently acting on the wrong thing. ``Actor.monitor`` works: the
    gateway asks the actor's node to watch it (:class:`RemoteMonitor`).

    Semantics: messages reach the remote actor in the order this node sent
    them (one publisher per gateway); a failed ``send`` (``Unroutable``,
    ``PublishFailed``, an unencodable message) goes to this node's dead
    letters; ``call`` raises ``CallTimeout``, ``Unroutable`` or a
    :class:`~enotime.transport.RemoteError` (the remote handler refused, the
    actor is unknown there, or the message was dead-lettered).
    Two remote refs are equal when they name the same address.
    """

    __slots__ = ("_address", "_gateway")

    _is_remote: ClassVar[bool] = True

    def __init__(self, gateway: Gateway, address: Address) -> None:  # no local process
        self._gateway = gateway
        self._address = address

    @property
    def address(self) -> Address:
        """Where messages to this ref go (``node.<node>/<actor>`` or ``service.<name>``)."""
        return self._address

    @property
    def _proc(self) -> _Process:  # type: ignore[override]
        raise NotSupportedAcrossNodes("an operation on the local process", self)

    def send(self, message: object) -> None:
        """Publish ``message`` in the background and return at once (fire and forget).

        The request context travels with it. If it cannot be published, it
        is recorded in this node's dead letters, never silently dropped.
        """
        self._gateway._enqueue(self, message)

    cast = send

    @overload
    async def call(
        self, message: Request[R], *, timeout: float | None = DEFAULT_CALL_TIMEOUT
    ) -> R: ...
    @overload
    async def call(
        self, message: object, *, timeout: float | None = DEFAULT_CALL_TIMEOUT
    ) -> Any: ...
    async def call(self, message: object, *, timeout: float | None = DEFAULT_CALL_TIMEOUT) -> Any:
        """Send ``message`` across the transport and wait for the reply.

        ``timeout=None`` waits at most :data:`REMOTE_CALL_NO_TIMEOUT` seconds
        (a deadline always travels with a remote call).

        Raises:
            CallTimeout: no reply within ``timeout``.
            RemoteError: the remote handler refused, the actor is unknown on
                that node (``error_type == "UnknownActor"``), or the message
                was dead-lettered there.
            Unroutable: no node serves the address.
            TransportClosed: this node's gateway or transport is closed.
        """
        return await self._gateway._call(self, message, timeout)

    async def wait_stopped(self, timeout: float | None = None) -> ExitReason:
        """Not supported across nodes yet (it needs a remote monitor)."""
        raise NotSupportedAcrossNodes("wait_stopped", self)

    @property
    def name(self) -> str | None:
        """The actor's name on its node, or the service name."""
        return self._address.actor or self._address.name

    @property
    def is_alive(self) -> bool:
        """Always True: a remote ref does not track its actor (monitor it instead)."""
        return True

    @property
    def exit_reason(self) -> ExitReason | None:
        """Always None: a remote ref does not track its actor (monitor it instead)."""
        return None

    @property
    def actor_class(self) -> type[Actor]:
        """Not known on this node."""
        raise NotSupportedAcrossNodes("actor_class", self)

    def statistics(self) -> ActorStatistics:
        """Not available across nodes: ask the remote node."""
        raise NotSupportedAcrossNodes("statistics", self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteRef) and other._address == self._address

    def __hash__(self) -> int:
        return hash((RemoteRef, self._address))

    def __repr__(self) -> str:
        return f"<RemoteRef {self._address} via {self._gateway.node_id}>"


class Gateway:
    """Connects a node to a transport: serves its queue, exposes services, publishes sends.

    Made by :meth:`Node.connect`, which opens it; the node closes it when it
    closes (:meth:`aclose`: stop consuming before the actors stop, then
    flush the sends still queued). Every task it starts is its own.

    Args:
        node: The node whose actors it serves.
        transport: An open transport; it stays the caller's to close.
        send_timeout: Seconds a received ``send`` may take in its local
            handler before it counts as failed (requeued); None waits as
            long as the handler takes.
        restart_grace: On a redelivery to a name no actor holds, seconds to
            wait for a supervisor to restart the actor before refusing with
            :class:`~enotime.errors.UnknownActor`.
        close_timeout: Seconds :meth:`aclose` waits for queued sends to be
            published; those left are recorded as dead letters.
        heartbeat_interval: While this node monitors actors on another node,
            seconds between two heartbeats (a ``call`` to that node's gateway).
        heartbeat_misses: Consecutive failed heartbeats after which that node
            counts as gone: every monitor on its actors fires ``Down`` with
            reason ``noconnection`` and is forgotten.
        heartbeat_timeout: Seconds one heartbeat waits for its answer; at most
            ``heartbeat_interval``, which it defaults to.
        registry: A registry (:mod:`enotime.registry`) for global names; it
            stays the caller's to close (after the node). When given,
            :meth:`open` registers the node (``register_node(node_id)``, kept
            alive by the registry) and creates a session for its global
            names; :meth:`aclose` releases the names, ends the session and
            deregisters the node.

    A node that vanishes is noticed within ``heartbeat_interval *
    heartbeat_misses + heartbeat_timeout`` seconds (:attr:`noconnection_after`;
    4 s by default), plus the time the ``Down`` takes to be handled.
    """

    def __init__(
        self,
        node: Node,
        transport: AbstractTransport,
        *,
        send_timeout: float | None = None,
        restart_grace: float = 2.0,
        close_timeout: float = 5.0,
        heartbeat_interval: float = 1.0,
        heartbeat_misses: int = 3,
        heartbeat_timeout: float | None = None,
        registry: AbstractRegistry | None = None,
    ) -> None:
        if heartbeat_timeout is None:
            heartbeat_timeout = heartbeat_interval
        if not 0 < heartbeat_timeout <= heartbeat_interval:
            raise ValueError(
                f"heartbeat_timeout must be > 0 and <= heartbeat_interval, "
                f"not {heartbeat_timeout!r} (interval {heartbeat_interval!r})"
            )
        if heartbeat_misses < 1:
            raise ValueError(f"heartbeat_misses must be >= 1, not {heartbeat_misses!r}")
        self.node = node
        self.transport = transport
        self.send_timeout = send_timeout
        self.restart_grace = restart_grace
        self.close_timeout = close_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_misses = heartbeat_misses
        self.heartbeat_timeout = heartbeat_timeout
        self._agent: ActorRef[_Agent] | None = None
        self._watched: dict[str, dict[str, RemoteMonitor]] = {}
        self._heartbeats: dict[str, asyncio.Task[None]] = {}
        self._watch_tasks: set[asyncio.Task[None]] = set()
        self._subscriptions: dict[str, Subscription] = {}
        self._outbox: deque[tuple[RemoteRef, object, RequestContext | None] | asyncio.Future[None]]
        self._outbox = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._publishing = False
        self._closed = False
        self.registry = registry
        self._registration: Registration | None = None
        self._session: Session | None = None
        self._globals: dict[str, Monitor] = {}
        self._global_tasks: set[asyncio.Task[None]] = set()
        self._globals_lock = asyncio.Lock()

    @property
    def node_id(self) -> str:
        """The transport's node id (the ``<node>`` of ``Address.actor_on``)."""
        return self.transport.node_id

    @property
    def noconnection_after(self) -> float:
        """Seconds within which a vanished node's monitors fire ``noconnection`` (the bound)."""
        return self.heartbeat_interval * self.heartbeat_misses + self.heartbeat_timeout

    def __repr__(self) -> str:
        return f"<Gateway node={self.node_id!r} services={sorted(self._subscriptions)}>"

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Start serving this node's queue."""
        if self._closed:
            raise self._closed_error()
        if self._agent is None:
            self._agent = await self.node.spawn(_Agent, self)
        if "" not in self._subscriptions:
            self._subscriptions[""] = await self.transport.serve_node(self._serve_node)
        registry = self.registry
        if registry is not None and self._session is None:
            if self._registration is None:
                self._registration = await registry.register_node(self.node_id)
            self._session = await registry.create_session(name=f"enotime-node-{self.node_id}")

    async def stop_serving(self) -> None:
        """Stop consuming; unfinished messages go back to their queues. Idempotent."""
        subscriptions, self._subscriptions = self._subscriptions, {}
        for subscription in subscriptions.values():
            await subscription.aclose()

    async def aclose(self) -> None:
        """Stop consuming, publish what is queued (within ``close_timeout``), stop. Idempotent."""
        await self.stop_serving()
        if self._closed:
            return
        self._closed = True
        tasks = [*self._heartbeats.values(), *self._watch_tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for watched in list(self._watched.values()):
            for monitor in list(watched.values()):
                self._fire(monitor, NOCONNECTION)
        agent, self._agent = self._agent, None
        if agent is not None and agent.is_alive:
            await self.node.stop(agent, timeout=self.close_timeout)
        publisher = self._publisher
        if publisher is not None:
            try:
                async with asyncio.timeout(self.close_timeout):
                    await self._flushed()
            except TimeoutError:
                log.warning(
                    "gateway %s: %d sends not published within %g s",
                    self.node_id,
                    len(self._outbox),
                    self.close_timeout,
                )
            publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
            self._publisher = None
        while self._outbox:
            item = self._outbox.popleft()
            if isinstance(item, asyncio.Future):
                if not item.done():
                    item.set_exception(self._closed_error())
            else:
                self.node._dead_letter(item[0], item[1], "gateway closed before it was published")
        await self._leave_registry()

    def _closed_error(self) -> Exception:
        from enotime.transport import TransportClosed

        return TransportClosed(f"the gateway of node {self.node_id!r} is closed")

    # -- refs and services ------------------------------------------------------------------

    def ref(self, node: str, actor: str) -> RemoteRef:
        """A ref to the actor registered as ``actor`` on node ``node``."""
        from enotime.transport import Address

        return RemoteRef(self, Address.actor_on(node, actor))

    def service(self, name: str) -> RemoteRef:
        """A ref to service ``name``: each message goes to one node exposing it."""
        from enotime.transport import Address

        return RemoteRef(self, Address.service(name))

    async def expose(self, service: str, actor: str) -> None:
        """Serve service ``service`` with the local actor registered as ``actor``.

        Every node exposing the same service competes for its messages (load
        balancing). The actor is looked up by name for each message, so a
        supervisor's restarted child keeps serving.
        """
        if self._closed:
            raise self._closed_error()
        if service in self._subscriptions or not service:
            raise ValueError(f"service {service!r} is already exposed (or empty)")

        async def serve(delivery: Delivery) -> object:
            return await self._deliver(delivery, actor)

        self._subscriptions[service] = await self.transport.serve_service(service, serve)

    async def unexpose(self, service: str) -> None:
        """Stop serving ``service`` on this node; a no-op if it was not exposed."""
        subscription = self._subscriptions.pop(service, None) if service else None
        if subscription is not None:
            await subscription.aclose()

    # -- inbound ---------------------------------------------------------------------------

    async def _serve_node(self, delivery: Delivery) -> object:
        return await self._deliver(delivery, delivery.address.actor)

    async def _deliver(self, delivery: Delivery, name: str) -> object:
        """Hand one delivery to the local actor ``name``; return when it was handled."""
        node = self.node
        ref = self._agent if name == AGENT else node.whereis(name)
        if ref is None and delivery.delivery_count > 0 and name:
            ref = await self._await_restart(name)
        if ref is None:
            error = UnknownActor(name, self.node_id)
            if delivery.kind == "send":
                node._dead_letter(RemoteRef(self, delivery.address), delivery.message, str(error))
            raise error
        if delivery.kind == "call":
            timeout = None
            if delivery.deadline is not None:
                timeout = max(delivery.deadline - time.time(), 0.001)
            try:
                return await ref.call(delivery.message, timeout=timeout)
            except UnhandledMessage as exc:
                raise _UnhandledRemotely(str(exc)) from exc
        # An unhandled message is already in this node's dead letters (the actor's runtime).
        with contextlib.suppress(UnhandledMessage):
            await ref.call(delivery.message, timeout=self.send_timeout)
        return None

    async def _await_restart(self, name: str) -> ActorRef[Any] | None:
        """A redelivered message: its actor may be restarting under a supervisor."""
        node = self.node
        deadline = node.loop.time() + self.restart_grace
        while node.loop.time() < deadline:
            await asyncio.sleep(_POLL)
            ref = node.whereis(name)
            if ref is not None:
                return ref
        return None

    # -- outbound --------------------------------------------------------------------------

    def _enqueue(self, ref: RemoteRef, message: object) -> None:
        if self._closed:
            self.node._dead_letter(ref, message, "not sent: the gateway is closed")
            return
        self._outbox.append((ref, message, _current.get()))
        self._wake()

    def _wake(self) -> None:
        if self._publisher is None:
            # A fresh contextvars context: the publisher must not inherit the
            # request context of whoever sent first.
            self._publisher = self.node.loop.create_task(
                self._publish_all(), context=contextvars.Context()
            )
            return
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _publish_all(self) -> None:
        """The one publisher: sends leave in the order they were made."""
        outbox = self._outbox
        transport = self.transport
        loop = self.node.loop
        while True:
            if not outbox:
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                continue
            item = outbox.popleft()
            if isinstance(item, asyncio.Future):
                if not item.done():
                    item.set_result(None)
                continue
            ref, message, context = item
            self._publishing = True
            try:
                await transport.send(ref.address, message, context=context)
            except asyncio.CancelledError:
                self.node._dead_letter(ref, message, "gateway closed while it was being published")
                raise
            except Exception as exc:
                self.node._dead_letter(ref, message, f"remote send failed: {exc!r}")
            finally:
                self._publishing = False

    async def _flushed(self) -> None:
        """Return once every send queued before now has been published (or failed)."""
        if not self._outbox and not self._publishing:
            return
        barrier: asyncio.Future[None] = self.node.loop.create_future()
        self._outbox.append(barrier)
        self._wake()
        await barrier

    async def _call(self, ref: RemoteRef, message: object, timeout: float | None) -> Any:
        if self._closed:
            raise self._closed_error()
        budget = REMOTE_CALL_NO_TIMEOUT if timeout is None else timeout
        if self._outbox or self._publishing:  # never overtake this node's earlier sends
            loop = self.node.loop
            started = loop.time()
            try:
                async with asyncio.timeout(budget):
                    await self._flushed()
            except TimeoutError:
                raise CallTimeout(ref, message, budget) from None
            budget = max(budget - (loop.time() - started), 0.001)
        return await self.transport.call(
            ref.address, message, timeout=budget, context=_current.get()
        )

    # -- monitors across nodes --------------------------------------------------------------

    def _monitor(self, watcher: _Process, ref: RemoteRef) -> RemoteMonitor:
        """``Actor.monitor`` of a remote ref: ask its node's gateway to watch the actor."""
        if ref.address.kind != "node" or not ref.address.actor:
            raise NotSupportedAcrossNodes("monitor of a service", ref)
        monitor = RemoteMonitor(self, watcher, ref)
        if watcher.held_monitors is None:
            watcher.held_monitors = set()
        watcher.held_monitors.add(monitor)
        if self._closed:
            self._fire(monitor, NOCONNECTION)
            return monitor
        node = monitor.node
        self._watched.setdefault(node, {})[monitor._id] = monitor
        loop = self.node.loop
        # Fresh contextvars contexts: the watcher's request context stays its own.
        task = loop.create_task(self._watch(monitor), context=contextvars.Context())
        self._watch_tasks.add(task)
        task.add_done_callback(self._watch_tasks.discard)
        if node not in self._heartbeats:
            self._heartbeats[node] = loop.create_task(
                self._heartbeat(node), context=contextvars.Context()
            )
        return monitor

    async def settled(self) -> None:
        """Return once every monitor across nodes asked for so far is in place there, or fired."""
        tasks = list(self._watch_tasks)
        if tasks:
            await asyncio.wait(tasks)

    async def _watch(self, monitor: RemoteMonitor) -> None:
        remote = monitor._remote.address
        from enotime.transport import Address

        request = _Watch(monitor._id, self.node_id, remote.actor)
        try:
            reply = await self.transport.call(
                Address.actor_on(remote.name, AGENT), request, timeout=self.noconnection_after
            )
        except Exception as exc:
            log.info("gateway %s: cannot monitor %s: %r", self.node_id, remote, exc)
            self._fire(monitor, NOCONNECTION)
            return
        if isinstance(reply, _WireReason):
            self._fire(monitor, reply.reason())
        elif not monitor.active:  # demonitored while the watch travelled
            self._tell(remote.name, _Unwatch(monitor._id))

    async def _heartbeat(self, node: str) -> None:
        """Ping ``node`` every ``heartbeat_interval`` while this node monitors actors there."""
        from enotime.transport import Address

        loop = self.node.loop
        to = Address.actor_on(node, AGENT)
        misses = 0
        try:
            while self._watched.get(node):
                tick = loop.time() + self.heartbeat_interval
                try:
                    await self.transport.call(to, _Ping(), timeout=self.heartbeat_timeout)
                    misses = 0
                except Exception as exc:
                    misses += 1
                    log.debug(
                        "gateway %s: heartbeat %d to %s failed: %r", self.node_id, misses, node, exc
                    )
                    if misses >= self.heartbeat_misses:
                        watched = self._watched.pop(node, {})
                        log.warning(
                            "gateway %s: %s missed %d heartbeats; %d monitors get noconnection",
                            self.node_id,
                            node,
                            misses,
                            len(watched),
                        )
                        for monitor in list(watched.values()):
                            self._fire(monitor, NOCONNECTION)
                        return
                await asyncio.sleep(max(tick - loop.time(), 0.0))
        finally:
            if self._heartbeats.get(node) is asyncio.current_task():
                del self._heartbeats[node]

    def _fire(self, monitor: RemoteMonitor, reason: ExitReason) -> None:
        """Deliver ``monitor``'s ``Down`` with ``reason`` (once) and forget it."""
        if not monitor.active:
            return
        monitor.active = False
        self._forget(monitor, unwatch=False)
        watcher = monitor._watcher
        if watcher.held_monitors:
            watcher.held_monitors.discard(monitor)
        watcher.deliver_system(Down(monitor, monitor._remote, reason))

    def _forget(self, monitor: RemoteMonitor, *, unwatch: bool) -> None:
        node = monitor.node
        watched = self._watched.get(node)
        if watched is not None:
            watched.pop(monitor._id, None)
            if not watched:  # nothing left to watch there: stop its heartbeat now
                del self._watched[node]
                heartbeat = self._heartbeats.pop(node, None)
                if heartbeat is not None and heartbeat is not asyncio.current_task():
                    heartbeat.cancel()
        if unwatch:
            self._tell(node, _Unwatch(monitor._id))

    def _remote_down(self, down: _RemoteDown) -> None:
        """A watched actor on ``down.node`` stopped."""
        monitor = self._watched.get(down.node, {}).get(down.monitor_id)
        if monitor is not None:
            self._fire(monitor, down.reason.reason())

    def _tell(self, node: str, message: object) -> None:
        """Best effort: send ``message`` to ``node``'s gateway agent, unless closed."""
        if not self._closed:
            self._enqueue(self.ref(node, AGENT), message)

    # -- global names ------------------------------------------------------------------------

    def _joined(self) -> tuple[AbstractRegistry, Session]:
        if self.registry is None:
            raise RuntimeError(
                f"node {self.node_id!r} has no registry: node.connect(transport, registry=...)"
            )
        if self._closed or self._session is None:
            raise self._closed_error()
        return self.registry, self._session

    async def register_global(self, name: str, ref: ActorRef[Any]) -> None:
        """Register the local actor ``ref`` under the cluster-wide ``name`` (first writer wins).

        ``ref`` must be a live local actor. Other nodes reach it by its local
        name, so an actor without one is first registered locally as ``name``
        (:class:`~enotime.errors.NameTaken` if another local actor holds that).
        The registry records ``"<node>/<local name>"``. This node may register
        a name it holds again (moving it to ``ref``). The name is released
        when the actor stops and when this gateway closes; a restarted actor
        must register again.

        Raises:
            NameTaken: Another node holds ``name`` (the registry's
                :class:`~enotime.registry.NameTaken`, also an
                :class:`enotime.errors.NameTaken`), or it is in the lock-delay
                after its previous owner's session ended.
            NotSupportedAcrossNodes: ``ref`` is a :class:`RemoteRef`.
            NameNotFound: ``ref`` has stopped.
        """
        registry, session = self._joined()
        if ref._is_remote:
            raise NotSupportedAcrossNodes("register_global", ref)
        if not ref.is_alive:
            from enotime.errors import NameNotFound

            raise NameNotFound(name)
        from enotime.registry._port import check_global_name

        check_global_name(name)
        named_here = ref.name is None
        if named_here:
            self.node.register(name, ref)
        local_name = ref.name
        assert local_name is not None
        async with self._globals_lock:
            try:
                await registry.register_name(name, f"{self.node_id}/{local_name}", session=session)
            except BaseException:
                if named_here and self.node.whereis(local_name) is ref:
                    self.node.unregister(local_name)
                raise
            old = self._globals.pop(name, None)
            agent = self._agent_actor()
            if old is not None:
                agent.demonitor(old)
            # A stopped actor's Down(noproc) arrives at once and releases the name.
            self._globals[name] = agent.monitor(ref)

    async def unregister_global(self, name: str) -> bool:
        """Release a global name this node holds; ``False`` if it did not hold it."""
        registry, session = self._joined()
        async with self._globals_lock:
            monitor = self._globals.pop(name, None)
            if monitor is not None and self._agent is not None and self._agent.is_alive:
                self._agent_actor().demonitor(monitor)
            return await registry.unregister_name(name, session=session)

    async def whereis_global(self, name: str) -> ActorRef[Any] | None:
        """The actor holding the global ``name``: a local ref, a :class:`RemoteRef`, or None.

        None if nobody holds it (or this node holds it for an actor that has
        just stopped, before the name is released).
        """
        if self.registry is None:
            self._joined()
        assert self.registry is not None
        value = await self.registry.resolve_name(name)
        if value is None:
            return None
        node, sep, actor = value.partition("/")
        if not sep or not node or not actor:
            log.warning("gateway %s: global name %r has a malformed value", self.node_id, name)
            return None
        if node == self.node_id:
            return self.node.whereis(actor)
        return self.ref(node, actor)

    async def lookup_global(self, name: str) -> ActorRef[Any]:
        """As :meth:`whereis_global`, but raises :class:`~enotime.errors.NameNotFound`."""
        ref = await self.whereis_global(name)
        if ref is None:
            from enotime.errors import NameNotFound

            raise NameNotFound(name)
        return ref

    def globals(self) -> list[str]:
        """The global names this node holds."""
        return sorted(self._globals)

    def _agent_actor(self) -> _Agent:
        agent = self._agent
        if agent is None or not agent.is_alive:
            raise self._closed_error()
        actor: _Agent = agent._proc.actor  # type: ignore[assignment]
        return actor

    def _global_down(self, monitor: Monitor) -> None:
        """The agent saw a ``Down``: release the global names of the stopped actor."""
        names = [name for name, held in self._globals.items() if held is monitor]
        for name in names:
            task = self.node.loop.create_task(
                self._release(name, monitor), context=contextvars.Context()
            )
            self._global_tasks.add(task)
            task.add_done_callback(self._global_tasks.discard)

    async def _release(self, name: str, monitor: Monitor) -> None:
        async with self._globals_lock:
            if self._globals.get(name) is not monitor or self._session is None:
                return  # registered again meanwhile, or the gateway left the registry
            del self._globals[name]
            assert self.registry is not None
            try:
                await self.registry.unregister_name(name, session=self._session)
            except Exception as exc:  # the session's end frees it anyway
                log.warning(
                    "gateway %s: releasing global name %r failed: %r", self.node_id, name, exc
                )

    async def _leave_registry(self) -> None:
        """Release every global name, end the session, deregister the node (errors logged)."""
        registry = self.registry
        if registry is None:
            return
        if self._global_tasks:
            await asyncio.wait(list(self._global_tasks), timeout=self.close_timeout)
        async with self._globals_lock:
            session, self._session = self._session, None
            names, self._globals = list(self._globals), {}
            registration, self._registration = self._registration, None
            if session is not None:
                for name in names:
                    try:
                        await registry.unregister_name(name, session=session)
                    except Exception as exc:
                        log.warning(
                            "gateway %s: releasing global name %r failed: %r",
                            self.node_id,
                            name,
                            exc,
                        )
                try:
                    await session.aclose()
                except Exception as exc:
                    log.warning(
                        "gateway %s: ending the registry session failed: %r", self.node_id, exc
                    )
            if registration is not None:
                try:
                    await registration.deregister()
                except Exception as exc:
                    log.warning("gateway %s: deregistering the node failed: %r", self.node_id, exc)
