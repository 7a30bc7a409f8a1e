"""Location transparency: a node's gateway to a transport, and refs to actors on other nodes.

A :class:`Gateway` connects one :class:`~enotime.Node` to one transport
(:class:`~enotime.transport.AbstractTransport`). Inbound, it serves the
node's queue and delivers each message to the local actor registered under
``delivery.address.actor``, and serves the services the node exposes.
Outbound, it publishes what :class:`RemoteRef` objects send.

Monitors and links across nodes: each gateway runs an agent actor (the
reserved wire name :data:`AGENT`) that watches local actors for other nodes,
takes their links and answers their heartbeats; a node that stops answering,
or answers as a new incarnation (it restarted), makes the monitors and links
on its actors fire ``noconnection`` (see :class:`Gateway`). Heartbeats go both
ways: a node that watches local actors for another node heartbeats it too,
and drops those watches when it stops answering.

Exit signals, timers and waits across nodes: ``node.exit``/``node.kill`` of a
:class:`RemoteRef` send that node's agent an ``ExitSignal`` (fire and forget,
as a send), which signals the local actor there by Erlang's rules;
``send_after`` to a remote ref is a local timer that sends when it fires;
``RemoteRef.wait_stopped`` is a temporary monitor.

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
from collections.abc import Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar, overload

from enotime._actor import (
    DEFAULT_CALL_TIMEOUT,
    Actor,
    ActorRef,
    ActorStatistics,
    Monitor,
    Timer,
    _LinkAcross,
    _Process,
    _signal_exit,
)
from enotime._context import RequestContext, _current
from enotime._handler import handler
from enotime._reason import KILL, KILLED, NOCONNECTION, NOPROC, ExitReason
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

__all__ = [
    "LOCK_DELAY",
    "REGISTRATION_TTL",
    "REGISTRY_RANGES",
    "SESSION_TTL",
    "Gateway",
    "GatewayStatistics",
    "RemoteMonitor",
    "RemoteRef",
    "check_registry_time",
]

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
``Unwatch`` and ``Ping`` from the watching node, ``RemoteDown`` and ``Ping``
back to it (the watched node heartbeats its watchers too).
Links add ``Link``; then either node sends ``RemoteDown`` (its end stopped)
or ``Unwatch`` (its end unlinked) to the other. ``ExitSignal`` carries
``node.exit``/``node.kill``. Protocol version 2: requests and answers carry
gateway incarnations (``docs/wire.md``).
"""

_PID_PREFIX: Final = "enotime.pid."
"""Wire names ``enotime.pid.<incarnation>.<pid>`` reach a node's unnamed actors (links)."""

_SIGNALS_REMEMBERED: Final = 4096
"""Ids of the latest exit signals a gateway remembers, to ignore their redeliveries."""

REGISTRATION_TTL: Final = 10.0
"""Default ``registration_ttl``: seconds a node's registration stays healthy after a keep-alive."""
SESSION_TTL: Final = 15.0
"""Default ``session_ttl``: seconds the session holding a node's global names outlives it."""
LOCK_DELAY: Final = 15.0
"""Default ``lock_delay``: seconds a lapsed session's names stay unregistrable."""

REGISTRY_RANGES: Final[Mapping[str, tuple[float, float]]] = {
    "registration_ttl": (1.0, 86_400.0),
    "session_ttl": (10.0, 86_400.0),
    "lock_delay": (0.0, 60.0),
}
"""Seconds each registry option of a gateway accepts: those of the registry port (Consul's)."""


def check_registry_time(option: str, value: object, *, label: str | None = None) -> float:
    """Return ``value`` as seconds if it is in range for the gateway's registry ``option``.

    Args:
        option: A key of :data:`REGISTRY_RANGES` (``session_ttl``, ...).
        value: The number of seconds given.
        label: How the caller named the option (``--session-ttl``); ``option`` by default.

    Raises:
        ValueError: ``value`` is not a finite number of seconds within the
            option's range; the message names the option.
    """
    low, high = REGISTRY_RANGES[option]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not low <= value <= high  # NaN compares false: refused too
    ):
        raise ValueError(
            f"{label or option} must be a number of seconds from {low:g} to {high:g}, not {value!r}"
        )
    return float(value)


def _now_ms() -> int:
    """Wall-clock milliseconds since the Unix epoch (``ExitSignal.sent_at``)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class GatewayStatistics:
    """A gateway's counters, for inspection and metrics (its transport has its own).

    Attributes:
        outbox: Remote sends queued, not yet published.
        unknown_actor: Deliveries to a name no local actor held (refused or
            dead-lettered here).
        remote_monitors: Monitors this node holds now on actors of other nodes.
        heartbeat_failures: Heartbeats to other nodes that failed or timed out.
        nodes_lost: Times another node was declared gone (missed heartbeats:
            its monitors and links fired ``noconnection``).
        remote_links: Links between local actors and actors of other nodes now
            (this node's halves).
        nodes_restarted: Times another node was seen under a new gateway
            incarnation (it restarted, however fast: what was bound to its
            previous incarnation fired ``noconnection``).
        exit_signals: Exit signals from other nodes (``node.exit``,
            ``node.kill``) delivered to a local actor. Those for no local
            actor, or sent before this gateway started, count in
            ``unknown_actor`` and are dead letters here.
        duplicate_exit_signals: Redeliveries of exit signals already
            delivered, ignored.
        remote_timers: ``send_after`` timers to remote refs that have not
            fired yet.
        remote_watches: Monitors that other nodes hold now on local actors
            (this node watches those actors for them, and heartbeats them).
        watches_dropped: Watches dropped because their watching node stopped
            answering heartbeats or restarted (nobody was left to tell when
            the actor stops).
    """

    outbox: int
    unknown_actor: int
    remote_monitors: int
    heartbeat_failures: int
    nodes_lost: int
    remote_links: int = 0
    nodes_restarted: int = 0
    exit_signals: int = 0
    duplicate_exit_signals: int = 0
    remote_timers: int = 0
    remote_watches: int = 0
    watches_dropped: int = 0


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


@message("enotime.gateway.Answer", version=1)
@dataclass(frozen=True)
class _Answer:
    """The reply to a v2 ``Ping``, ``Watch`` or ``Link``: the answering gateway's incarnation.

    ``reason`` is None (done) or why not (``noproc``); always None for a ``Ping``.
    """

    incarnation: str
    reason: _WireReason | None


@message("enotime.gateway.Ping", version=2)
@dataclass(frozen=True)
class _Heartbeat(Request[_Answer]):
    """A heartbeat from gateway ``incarnation`` of ``node``; the reply is an :class:`_Answer`."""

    node: str
    incarnation: str


@message("enotime.gateway.Watch", version=2)
@dataclass(frozen=True)
class _Watch(Request[_Answer]):
    """Monitor the local actor ``actor`` for gateway ``incarnation`` of ``watcher_node``."""

    monitor_id: str
    watcher_node: str
    actor: str
    incarnation: str


@message("enotime.gateway.Link", version=2)
@dataclass(frozen=True)
class _Link(Request[_Answer]):
    """Link the local actor ``actor`` to ``linker`` on gateway ``incarnation`` of ``node``.

    ``linker`` is the linking actor's wire name on ``node`` (its registered
    name, or ``enotime.pid.<incarnation>.<pid>``): the ``sender`` of the
    ``Exit`` a trapping ``actor`` gets.
    """

    link_id: str
    node: str
    linker: str
    actor: str
    incarnation: str


@message("enotime.gateway.Ping", version=1)
@dataclass(frozen=True)
class _Ping(Request[bool]):
    """Version 1 (no incarnations): still answered, ``true``; sent to nodes that know only it."""


@message("enotime.gateway.Watch", version=1)
@dataclass(frozen=True)
class _WatchV1(Request["_WireReason | None"]):
    """Version 1 of :class:`_Watch`: no incarnation either way; the reply is None or why not."""

    monitor_id: str
    watcher_node: str
    actor: str


@message("enotime.gateway.Link", version=1)
@dataclass(frozen=True)
class _LinkV1(Request["_WireReason | None"]):
    """Version 1 of :class:`_Link`: no incarnation either way; the reply is None or why not."""

    link_id: str
    node: str
    linker: str
    actor: str


@message("enotime.gateway.ExitSignal", version=1)
@dataclass(frozen=True)
class _ExitSignal:
    """An exit signal from outside to the local actor ``actor`` (``node.exit``, ``node.kill``).

    ``signal_id`` is unique per signal (a redelivery repeats it); ``node`` is
    the signalling node; ``sender`` the signalling actor's wire name there,
    or None (from outside any actor: the target's ``Exit`` names the target,
    as a local ``node.exit`` does); ``sent_at`` the wall-clock milliseconds
    since the Unix epoch when it was sent.
    """

    signal_id: str
    node: str
    sender: str | None
    actor: str
    reason: _WireReason
    sent_at: int


@message("enotime.gateway.Unwatch", version=1)
@dataclass(frozen=True)
class _Unwatch:
    """Cancel a monitor (to the watched node) or a link (to either node): by its id."""

    monitor_id: str


@message("enotime.gateway.RemoteDown", version=1)
@dataclass(frozen=True)
class _RemoteDown:
    """A watched actor, or one end of a link, on ``node`` stopped with ``reason``."""

    node: str
    monitor_id: str
    reason: _WireReason


class _WatchFor:
    """A monitor another node holds on a local actor: the watched node's side of it.

    The agent holds it (and the local :class:`Monitor` it took); the gateway
    tracks it among the items on the watching node, so that node is
    heartbeated while it is held, as for a half of a link. When the watching
    node stops answering, or answers as another incarnation than the one that
    asked for the watch, the gateway drops it (:meth:`Gateway._fire`).
    """

    __slots__ = ("_id", "_incarnation", "active", "monitor", "node")

    def __init__(
        self, monitor_id: str, node: str, incarnation: str | None, monitor: Monitor
    ) -> None:
        self._id = monitor_id
        self.node = node  # the watching node
        self._incarnation = incarnation  # its gateway's (None: it asked with v1)
        self.monitor = monitor
        self.active = True

    def __repr__(self) -> str:
        return f"<watch {self._id} of {self.monitor.ref!r} for {self.node}>"


class _Agent(Actor):
    """The gateway's actor: watches and links local actors for other nodes, answers heartbeats.

    Each v2 request names the asking node's gateway incarnation; the agent
    passes it to :meth:`Gateway._saw` before acting on the request, and
    answers with its own gateway's incarnation.
    """

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._watches: dict[str, _WatchFor] = {}  # by monitor id
        self._ids: dict[Monitor, str] = {}

    def _answer(self, reason: _WireReason | None = None) -> _Answer:
        return _Answer(self._gateway._incarnation, reason)

    @handler
    def watch(self, msg: _Watch) -> _Answer:
        self._gateway._saw(msg.watcher_node, msg.incarnation)
        return self._answer(
            self._watch(msg.monitor_id, msg.watcher_node, msg.incarnation, msg.actor)
        )

    @handler
    def watch_v1(self, msg: _WatchV1) -> _WireReason | None:
        return self._watch(msg.monitor_id, msg.watcher_node, None, msg.actor)

    def _watch(
        self, monitor_id: str, watcher_node: str, incarnation: str | None, actor: str
    ) -> _WireReason | None:
        if monitor_id in self._watches:  # a redelivery
            return None
        ref = self.node.whereis(actor)
        if ref is None or ref._proc.actor is self:
            return _WireReason.of(NOPROC)
        monitor = self.monitor(ref)
        if not monitor.active:  # already dead: its Down(noproc) is in our mailbox, ignored
            return _WireReason.of(NOPROC)
        watch = _WatchFor(monitor_id, watcher_node, incarnation, monitor)
        self._watches[monitor_id] = watch
        self._ids[monitor] = monitor_id
        self._gateway._track(watch)
        return None

    def _end_watch(self, monitor_id: str) -> _WatchFor | None:
        """Forget the watch ``monitor_id`` (the actor stopped, or no one waits for it)."""
        watch = self._watches.pop(monitor_id, None)
        if watch is not None:
            self._ids.pop(watch.monitor, None)
            watch.active = False
            self._gateway._forget(watch, unwatch=False)
        return watch

    def _drop_watch(self, watch: _WatchFor) -> None:
        """Stop watching for a watcher gone or restarted (the gateway fired ``watch``)."""
        if self._end_watch(watch._id) is not None:
            self.demonitor(watch.monitor)

    @handler
    def accept_link(self, msg: _Link) -> _Answer:
        self._gateway._saw(msg.node, msg.incarnation)
        return self._answer(self._gateway._accept_link(msg, self))

    @handler
    def accept_link_v1(self, msg: _LinkV1) -> _WireReason | None:
        return self._gateway._accept_link(msg, self)

    @handler
    def unwatch(self, msg: _Unwatch) -> None:
        watch = self._end_watch(msg.monitor_id)
        if watch is not None:
            self.demonitor(watch.monitor)
        else:
            self._gateway._unlinked(msg.monitor_id)

    @handler
    def heartbeat(self, msg: _Heartbeat) -> _Answer:
        self._gateway._saw(msg.node, msg.incarnation)
        return self._answer()

    @handler
    def ping(self, msg: _Ping) -> bool:
        return True

    @handler
    def remote_down(self, msg: _RemoteDown) -> None:
        self._gateway._remote_down(msg)

    @handler
    def exit_signal(self, msg: _ExitSignal) -> None:
        self._gateway._signalled(msg, self)

    @handler
    def down(self, msg: Down) -> None:
        monitor_id = self._ids.get(msg.monitor)
        watch = None if monitor_id is None else self._end_watch(monitor_id)
        if watch is None:
            self._gateway._global_down(msg.monitor)
            return
        self._gateway._tell(
            watch.node, _RemoteDown(self._gateway.node_id, watch._id, _WireReason.of(msg.reason))
        )


class RemoteMonitor(Monitor):
    """A monitor on an actor on another node, returned by :meth:`Actor.monitor`.

    Its ``Down`` comes from the other node (with the actor's exit reason; a
    crash as a :class:`~enotime.errors.RemoteCrash`), or from this node's
    gateway with reason ``noconnection`` when that node stops answering or
    answers as another incarnation than the one that took the watch.
    """

    __slots__ = ("_gateway", "_id", "_incarnation", "_remote")

    def __init__(self, gateway: Gateway, watcher: _Process, remote: RemoteRef) -> None:
        self._gateway = gateway
        self._watcher = watcher
        self._remote = remote
        self._id = uuid.uuid4().hex
        self._incarnation: str | None = None  # of the watched node's gateway, once it answered
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


class _StopWait(RemoteMonitor):
    """The temporary monitor of :meth:`RemoteRef.wait_stopped`: its ``Down`` resolves a future.

    Held and heartbeated as any remote monitor (so ``noconnection`` and new
    incarnations fire it too), but watched by no local actor.
    """

    __slots__ = ("_stopped",)

    def __init__(
        self, gateway: Gateway, remote: RemoteRef, stopped: asyncio.Future[ExitReason]
    ) -> None:
        self._gateway = gateway
        self._remote = remote
        self._id = uuid.uuid4().hex
        self._incarnation = None
        self._stopped = stopped
        self.active = True

    def __repr__(self) -> str:
        return f"<wait_stopped of {self._remote!r}>"


class _RemoteTimer(Timer):
    """A ``send_after`` to a :class:`RemoteRef`: a local timer that sends when it fires.

    The gateway holds it until then; closing the gateway cancels it (its
    message becomes a dead letter).
    """

    __slots__ = ("_gateway", "_ref")

    def __init__(self, gateway: Gateway, ref: RemoteRef, message: object) -> None:
        self._gateway = gateway
        self._ref = ref
        self.message = message
        self._handle = None

    def cancel(self) -> bool:
        """Cancel the send; True if the message had not been sent yet."""
        handle, self._handle = self._handle, None
        if handle is None:
            return False
        handle.cancel()
        self._gateway._timers.discard(self)
        return True

    def _fire(self, context: RequestContext | None) -> None:
        self._handle = None
        self._gateway._timers.discard(self)
        self._gateway._enqueue_in(self._ref, self.message, context)

    def __repr__(self) -> str:
        return f"<Timer {type(self.message).__qualname__} -> {self._ref!r}>"


class _RemoteLink(_LinkAcross):
    """This node's half of a link between a local actor and an actor on another node.

    Both nodes hold a half under the same id, each in its local actor's
    ``links`` and among its gateway's watched items (so both heartbeat the
    other node). When the local actor stops, its half tells the other node
    (``RemoteDown``); when the other half's ``RemoteDown`` arrives, or that
    node stops answering or answers as another incarnation than the one the
    half was made with, the local actor gets the exit signal.
    """

    __slots__ = (
        "_gateway",
        "_id",
        "_incarnation",
        "_local",
        "_outcome",
        "_pending",
        "_remote",
        "active",
    )

    def __init__(
        self,
        gateway: Gateway,
        local: _Process,
        remote: RemoteRef,
        link_id: str | None = None,
        *,
        pending: bool = False,
        incarnation: str | None = None,
    ) -> None:
        self._gateway = gateway
        self._local = local
        self._remote = remote
        self._id = link_id or uuid.uuid4().hex
        # The other node's gateway incarnation this half is bound to (None: not known yet, or v1).
        self._incarnation = incarnation
        self._pending = pending  # our Link call is on its way: tell the other node after it
        self._outcome: ExitReason | None = None  # what to tell then (None: unlink)
        self.active = True

    @property
    def node(self) -> str:
        """The node the other end is on."""
        return self._remote.address.name

    def _local_exit(self, reason: ExitReason, *, signal: bool) -> None:
        if not self.active:
            return
        self.active = False
        gateway = self._gateway
        gateway._forget(self, unwatch=False)
        outcome = reason if signal else None
        if self._pending:
            self._outcome = outcome
        else:
            gateway._end_link(self, outcome)

    def __repr__(self) -> str:
        return f"<RemoteLink {self._local.ref!r} <-> {self._remote!r}>"


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
    through the transport; ``wait_stopped`` is a temporary remote monitor;
    ``actor_class`` and ``statistics`` raise
    :class:`~enotime.errors.NotSupportedAcrossNodes`; so does anything else
    that reaches for the local process record (``node.stop``,
    ``node.register``), instead of silently acting on the wrong thing.
    ``Actor.monitor`` works: the gateway asks the actor's node to watch it
    (:class:`RemoteMonitor`); so do ``Actor.link`` and ``Actor.unlink``
    (the link is made on both nodes; see :class:`Gateway`), ``node.exit``
    and ``node.kill`` (an exit signal the actor's node delivers) and
    ``send_after`` (a local timer that sends when it fires).

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
        """Wait until the remote actor has stopped and return why (a temporary monitor).

        ``noproc`` if its node has no such actor (it stopped before the watch
        arrived, whatever its reason was), ``noconnection`` if its node
        vanished or restarted; a crash as a
        :class:`~enotime.errors.RemoteCrash`. The monitor is removed on both
        nodes however this returns (best effort on the other node, as
        ``demonitor``).

        Raises:
            TimeoutError: still alive after ``timeout`` seconds (None: no limit).
            NotSupportedAcrossNodes: a service ref.
        """
        return await self._gateway._wait_stopped(self, timeout)

    @property
    def name(self) -> str | None:
        """The actor's name on its node, or the service name."""
        return self._address.actor or self._address.name

    @property
    def is_alive(self) -> bool:
        """Unknown here, so always True, even after the remote actor stopped.

        A ref does not track its actor: knowing would need a round trip (and
        could be stale on arrival). Monitor or link the actor, or
        ``await ref.wait_stopped()``, to learn when it stops.
        """
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


_Tracked = RemoteMonitor | _RemoteLink | _WatchFor
"""What a gateway holds per other node, and heartbeats that node for."""


def _key(item: _Tracked) -> str:
    """``item``'s key among those held for its node.

    A watch is keyed apart from monitors: a node that monitors its own actor
    through a :class:`RemoteRef` holds both under one monitor id.
    """
    return f"watch.{item._id}" if isinstance(item, _WatchFor) else item._id


class Gateway:
    """Connects a node to a transport: serves its queue, exposes services, publishes sends.

    Made by :meth:`Node.connect`, which opens it; the node closes it when it
    closes (:meth:`aclose`: stop consuming before the actors stop, then
    flush the sends still queued). Every task it starts is its own.

    Links across nodes (``Actor.link`` of a :class:`RemoteRef`): the linking
    node calls the other node's agent (``Link``); each node then holds a
    half of the link under one id and heartbeats the other. When either end
    stops, its node sends ``RemoteDown`` with the reason and the other end
    gets the exit signal by Erlang's rules (an ``Exit`` whose ``sender`` is a
    :class:`RemoteRef`, for an actor that traps exits); ``unlink`` sends
    ``Unwatch``. No such actor there: ``noproc``; a node that stops
    answering: ``noconnection`` on this node's side, within
    :attr:`noconnection_after`.

    Monitors across nodes heartbeat both ways too: the watching node pings
    the watched one (its monitors fire ``noconnection`` when that stops
    answering), and the watched node pings each node it watches local actors
    for, dropping that node's watches when it stops answering (within this
    gateway's :attr:`noconnection_after`) or answers as a new incarnation, so
    a vanished watcher leaves nothing behind
    (``statistics().remote_watches``, ``watches_dropped``).

    Restarts: each gateway draws an incarnation id when it is made; v2
    ``Ping``, ``Watch`` and ``Link`` requests carry the asker's and their
    answers the answerer's. Each monitor and link half remembers the other
    node's incarnation it was made with, and the first sight of another one
    fires it with ``noconnection`` (:meth:`_saw`): a node restarted faster
    than :attr:`noconnection_after` is noticed at its first answer.

    Exit signals (``node.exit``, ``node.kill`` of a :class:`RemoteRef`): an
    ``ExitSignal`` send to the actor's node's agent, published in order with
    this node's sends. The receiving gateway resolves the actor's wire name
    when the signal arrives (a registered name: whoever holds it then; a pid
    name: that process only) and applies Erlang's rules there. It ignores a
    signal id it has already delivered (a redelivery: never a second kill
    of a restarted actor), and records as a dead letter a signal for no
    actor, or sent before it started (for an earlier incarnation of its node).

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
            has links there or watches local actors for it, seconds between
            two heartbeats (a ``call`` to that node's gateway).
        heartbeat_misses: Consecutive failed heartbeats after which that node
            counts as gone: every monitor on its actors fires ``Down`` with
            reason ``noconnection``, every local actor linked there gets an
            exit signal ``noconnection``, the watches held for it are
            dropped, and they are all forgotten.
        heartbeat_timeout: Seconds one heartbeat waits for its answer; at most
            ``heartbeat_interval``, which it defaults to.
        registry: A registry (:mod:`enotime.registry`) for global names; it
            stays the caller's to close (after the node). When given,
            :meth:`open` registers the node (``register_node(node_id, ...)``, kept
            alive by the registry) and creates a session for its global
            names; :meth:`aclose` releases the names, ends the session and
            deregisters the node.
        node_address: The address the node is registered with (where its
            metrics can be scraped, for example).
        node_meta: Metadata of the registration, such as
            ``{"metrics_port": "9464"}`` (what Prometheus's Consul discovery reads).
        registration_ttl: Seconds the node's registration stays healthy after
            each keep-alive (the registry passes it every third of that): a
            node that dies leaves healthy-node listings within this time.
            1 to 86,400; 10 by default.
        session_ttl: Seconds without renewal after which the registry may end
            the session that holds the node's global names (renewed every
            half of that): a node that dies keeps its names this long (up to
            twice on Consul). 10 to 86,400; 15 by default.
        lock_delay: Seconds the names of a session that lapsed stay
            unregistrable (``NameTaken`` with ``holder=None``), so the node
            that held them has time to notice; not after a clean release.
            0 to 60; 15 by default.

    The three registry options are ignored without a ``registry``; a bad
    value of any of them raises :class:`ValueError` naming it.

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
        node_address: str = "",
        node_meta: Mapping[str, str] | None = None,
        registration_ttl: float = REGISTRATION_TTL,
        session_ttl: float = SESSION_TTL,
        lock_delay: float = LOCK_DELAY,
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
        # Per other node, by id: its actors we monitor, links with it, watches we hold for it.
        self._watched: dict[str, dict[str, _Tracked]] = {}
        self._links: dict[str, _RemoteLink] = {}
        self._watches_dropped = 0
        # Names unnamed actors by pid for links; a restarted node's pids are not the same actors.
        # Also tells other nodes that this is not the node they knew before a restart.
        self._incarnation = uuid.uuid4().hex[:12]
        self._incarnations: dict[str, str] = {}  # the last incarnation seen of each other node
        self._legacy: set[str] = set()  # nodes that answered v2 gateway requests as unknown
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
        self.node_address = node_address
        self.node_meta = dict(node_meta or {})
        self.registration_ttl = check_registry_time("registration_ttl", registration_ttl)
        self.session_ttl = check_registry_time("session_ttl", session_ttl)
        self.lock_delay = check_registry_time("lock_delay", lock_delay)
        self._registration: Registration | None = None
        self._session: Session | None = None
        self._globals: dict[str, Monitor] = {}
        self._global_tasks: set[asyncio.Task[None]] = set()
        self._globals_lock = asyncio.Lock()
        self._unknown_actor = self._heartbeat_failures = self._nodes_lost = 0
        self._nodes_restarted = 0
        self._started_ms = _now_ms()  # signals sent before were for an earlier incarnation
        self._signals_seen: dict[str, None] = {}  # ids of delivered exit signals, oldest first
        self._exit_signals = self._duplicate_exit_signals = 0
        self._timers: set[_RemoteTimer] = set()

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

    def statistics(self) -> GatewayStatistics:
        """A snapshot of this gateway's counters (its transport's: ``transport.statistics()``)."""
        agent = self._agent
        watches = len(self._agent_actor()._watches) if agent is not None and agent.is_alive else 0
        return GatewayStatistics(
            outbox=sum(1 for item in self._outbox if not isinstance(item, asyncio.Future))
            + int(self._publishing),
            unknown_actor=self._unknown_actor,
            remote_monitors=sum(len(watched) for watched in self._watched.values())
            - len(self._links)
            - watches,
            heartbeat_failures=self._heartbeat_failures,
            nodes_lost=self._nodes_lost,
            remote_links=len(self._links),
            nodes_restarted=self._nodes_restarted,
            exit_signals=self._exit_signals,
            duplicate_exit_signals=self._duplicate_exit_signals,
            remote_timers=len(self._timers),
            remote_watches=watches,
            watches_dropped=self._watches_dropped,
        )

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
                self._registration = await registry.register_node(
                    self.node_id,
                    address=self.node_address,
                    meta=self.node_meta,
                    ttl=self.registration_ttl,
                )
            self._session = await registry.create_session(
                name=f"enotime-node-{self.node_id}",
                ttl=self.session_ttl,
                lock_delay=self.lock_delay,
            )

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
        timers, self._timers = self._timers, set()
        for timer in timers:
            if timer.cancel():
                self.node._dead_letter(
                    timer._ref, timer.message, "send_after: the gateway closed before it fired"
                )
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
        ref = self._lookup(name)
        if ref is None and delivery.delivery_count > 0 and name:
            ref = await self._await_restart(name)
        if ref is None:
            self._unknown_actor += 1
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

    def _lookup(self, name: str) -> ActorRef[Any] | None:
        """The local actor a wire name reaches: the agent, a registered name, or a pid name."""
        if name == AGENT:
            return self._agent
        ref = self.node.whereis(name)
        if ref is None and name.startswith(_PID_PREFIX):
            incarnation, _, pid = name[len(_PID_PREFIX) :].partition(".")
            if incarnation == self._incarnation and pid.isdigit():
                proc = self.node._alive.get(int(pid))
                if proc is not None:
                    return proc.ref
        return ref

    def _wire_name(self, proc: _Process) -> str:
        """How other nodes reach ``proc``: its registered name, else a name for its pid."""
        if proc.name is not None:
            return proc.name
        return f"{_PID_PREFIX}{self._incarnation}.{proc.pid}"

    # -- outbound --------------------------------------------------------------------------

    def _enqueue(self, ref: RemoteRef, message: object) -> None:
        self._enqueue_in(ref, message, _current.get())

    def _enqueue_in(self, ref: RemoteRef, message: object, context: RequestContext | None) -> None:
        """Queue ``message`` to ``ref`` for the publisher, with ``context``."""
        if self._closed:
            self.node._dead_letter(ref, message, "not sent: the gateway is closed")
            return
        self._outbox.append((ref, message, context))
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
        self._track(monitor)
        self._start(self._watch(monitor))
        return monitor

    def _track(self, item: _Tracked) -> None:
        """Hold ``item`` among those on its node, and heartbeat that node while any is."""
        node = item.node
        self._watched.setdefault(node, {})[_key(item)] = item
        if isinstance(item, _RemoteLink):
            self._links[item._id] = item
        if node not in self._heartbeats:
            # Fresh contextvars contexts: the caller's request context stays its own.
            self._heartbeats[node] = self.node.loop.create_task(
                self._heartbeat(node), context=contextvars.Context()
            )

    def _start(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a watch or a link request as a task of this gateway (see :meth:`settled`)."""
        task = self.node.loop.create_task(coro, context=contextvars.Context())
        self._watch_tasks.add(task)
        task.add_done_callback(self._watch_tasks.discard)
        return task

    async def settled(self) -> None:
        """Return once every monitor and link across nodes asked for so far is set up, or fired."""
        tasks = list(self._watch_tasks)
        if tasks:
            await asyncio.wait(tasks)

    async def _ask(
        self,
        node: str,
        request: object,
        legacy: object,
        timeout: float,
        *,
        ordered: bool = False,
    ) -> tuple[str | None, _WireReason | None]:
        """Call ``node``'s agent: ``(its gateway's incarnation, the refusal or None)``.

        ``request`` is a v2 gateway request, ``legacy`` its v1 form: a node
        that answers v2 as an unknown message type is asked v1, now and until
        it sends a v2 request itself or is lost (its incarnation is then None).
        ``ordered``: published after this node's queued sends (never overtakes them).
        A transport that cannot encode ``request`` (its message registry knows
        v1 only, as an older release's) asks ``legacy``.
        """
        from enotime.transport import Address, RemoteError, UnknownMessageType

        async def ask(message: object) -> object:
            if ordered:
                return await self._call(self.ref(node, AGENT), message, timeout)
            to = Address.actor_on(node, AGENT)
            return await self.transport.call(to, message, timeout=timeout)

        if node not in self._legacy:
            try:
                reply = await ask(request)
            except UnknownMessageType:  # raised here, encoding: this node speaks v1 only
                pass
            except RemoteError as exc:
                if exc.error_type != "enotime.UnknownMessageType":
                    raise
                log.info(
                    "gateway %s: %s knows only v1 gateway requests: restarts of it within "
                    "noconnection_after go unnoticed",
                    self.node_id,
                    node,
                )
                self._legacy.add(node)
            else:
                if not isinstance(reply, _Answer):
                    raise TypeError(f"{node} answered {type(request).__name__} with {reply!r}")
                self._saw(node, reply.incarnation)
                return reply.incarnation, reply.reason
        reply = await ask(legacy)
        return None, reply if isinstance(reply, _WireReason) else None

    def _saw(self, node: str, incarnation: str) -> None:
        """``node``'s gateway is ``incarnation`` (it asked or answered so).

        A different incarnation than the last one seen means that node
        restarted, however fast: every monitor and link half bound to an
        earlier incarnation fires ``noconnection`` (as if it had missed its
        heartbeats), and the watches its earlier incarnations asked for are
        dropped.
        """
        self._legacy.discard(node)
        previous = self._incarnations.get(node)
        if previous == incarnation:
            return
        self._incarnations[node] = incarnation
        if previous is None:  # first contact: nothing can be bound to another incarnation yet
            return
        self._nodes_restarted += 1
        stale = [
            item
            for item in self._watched.get(node, {}).values()
            if item._incarnation is not None and item._incarnation != incarnation
        ]
        self._cut(stale, f"{node} restarted (incarnation {incarnation}, was {previous})")

    def _cut(self, items: Collection[_Tracked], why: str) -> None:
        """Another node is gone or restarted: fire or drop what is held there, saying ``why``.

        Monitors and links get ``noconnection``; watches held for it are dropped.
        """
        watches = sum(isinstance(item, _WatchFor) for item in items)
        log.warning(
            "gateway %s: %s; %d monitors and links get noconnection, %d watches for it dropped",
            self.node_id,
            why,
            len(items) - watches,
            watches,
        )
        for item in list(items):
            self._fire(item, NOCONNECTION)

    async def _watch(self, monitor: RemoteMonitor) -> None:
        remote = monitor._remote.address
        request = _Watch(monitor._id, self.node_id, remote.actor, self._incarnation)
        legacy = _WatchV1(monitor._id, self.node_id, remote.actor)
        try:
            incarnation, refusal = await self._ask(
                remote.name, request, legacy, self.noconnection_after
            )
        except Exception as exc:
            log.info("gateway %s: cannot monitor %s: %r", self.node_id, remote, exc)
            self._fire(monitor, NOCONNECTION)
            return
        if refusal is not None:
            self._fire(monitor, refusal.reason())
        elif not monitor.active:  # demonitored while the watch travelled
            self._tell(remote.name, _Unwatch(monitor._id))
        else:
            monitor._incarnation = incarnation

    async def _heartbeat(self, node: str) -> None:
        """Ping ``node`` every ``heartbeat_interval`` while this node monitors actors there.

        Each answer names that node's incarnation (:meth:`_saw`): a restart
        is noticed at the first heartbeat the new incarnation answers.
        """
        loop = self.node.loop
        request = _Heartbeat(self.node_id, self._incarnation)
        misses = 0
        try:
            while self._watched.get(node):
                tick = loop.time() + self.heartbeat_interval
                try:
                    await self._ask(node, request, _Ping(), self.heartbeat_timeout)
                    misses = 0
                except Exception as exc:
                    misses += 1
                    self._heartbeat_failures += 1
                    log.debug(
                        "gateway %s: heartbeat %d to %s failed: %r", self.node_id, misses, node, exc
                    )
                    if misses >= self.heartbeat_misses:
                        self._nodes_lost += 1
                        self._legacy.discard(node)  # whatever comes back is asked v2 first
                        watched = self._watched.pop(node, {})
                        self._cut(watched.values(), f"{node} missed {misses} heartbeats")
                        return
                await asyncio.sleep(max(tick - loop.time(), 0.0))
        finally:
            if self._heartbeats.get(node) is asyncio.current_task():
                del self._heartbeats[node]

    def _fire(self, monitor: _Tracked, reason: ExitReason) -> None:
        """Deliver ``monitor``'s ``Down``, or a link's exit signal, with ``reason`` (once).

        A watch held for another node is dropped instead: nobody is left to tell.
        """
        if not monitor.active:
            return
        monitor.active = False
        self._forget(monitor, unwatch=False)
        if isinstance(monitor, _WatchFor):
            if not self._closed:
                self._watches_dropped += 1
            agent = self._agent
            if agent is not None and agent.is_alive:
                self._agent_actor()._drop_watch(monitor)
            return
        if isinstance(monitor, _RemoteLink):
            local = monitor._local
            if local.links:
                local.links.discard(monitor)
            if reason.kind == "kill":  # never untrappable from afar: a killed end is `killed`
                reason = KILLED
            _signal_exit(local, None, reason, origin=monitor._remote)
            return
        if isinstance(monitor, _StopWait):
            if not monitor._stopped.done():
                monitor._stopped.set_result(reason)
            return
        watcher = monitor._watcher
        if watcher.held_monitors:
            watcher.held_monitors.discard(monitor)
        watcher.deliver_system(Down(monitor, monitor._remote, reason))

    def _forget(self, monitor: _Tracked, *, unwatch: bool) -> None:
        if isinstance(monitor, _RemoteLink):
            self._links.pop(monitor._id, None)
        node = monitor.node
        watched = self._watched.get(node)
        if watched is not None:
            watched.pop(_key(monitor), None)
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

    async def _wait_stopped(
        self, ref: RemoteRef, timeout: float | None, *, kill: bool = False
    ) -> ExitReason:
        """``RemoteRef.wait_stopped``: a temporary monitor, removed however this returns.

        ``kill``: once the watch is in place (or has fired), kill the actor
        (``node.kill_and_wait``), so the answer is ``killed`` rather than a
        ``noproc`` from a watch that arrived after the kill.
        """
        if ref.address.kind != "node" or not ref.address.actor:
            operation = "kill_and_wait" if kill else "wait_stopped"
            raise NotSupportedAcrossNodes(f"{operation} of a service", ref)
        if self._closed:
            return NOCONNECTION
        waiter = _StopWait(self, ref, self.node.loop.create_future())
        self._track(waiter)
        watching = self._start(self._watch(waiter))
        try:
            async with asyncio.timeout(timeout):
                if kill:
                    await asyncio.wait([watching])  # never cancelled from here: it would leak there
                    if waiter.active:
                        self._exit(ref, KILL)
                return await waiter._stopped
        finally:
            if waiter.active:  # timed out or cancelled: unwatch (the watch task does too, late)
                waiter.active = False
                self._forget(waiter, unwatch=True)

    # -- exit signals and timers across nodes -----------------------------------------------

    def _exit(self, ref: RemoteRef, reason: ExitReason) -> None:
        """``node.exit``/``node.kill`` of a remote ref: an ``ExitSignal`` to its node's agent.

        Fire and forget, in order with this node's sends; a signal that
        cannot be published is a dead letter here, as a failed send is.
        """
        address = ref.address
        if address.kind != "node" or not address.actor:
            raise NotSupportedAcrossNodes(f"an exit signal ({reason}) to a service", ref)
        signal = _ExitSignal(
            uuid.uuid4().hex, self.node_id, None, address.actor, _WireReason.of(reason), _now_ms()
        )
        self._enqueue(self.ref(address.name, AGENT), signal)

    def _signalled(self, signal: _ExitSignal, agent: _Agent) -> None:
        """The agent got an ``ExitSignal``: deliver it to the local actor by Erlang's rules.

        Once per ``signal_id`` (among the latest :data:`_SIGNALS_REMEMBERED`);
        the actor's wire name is resolved now. No such actor, or a signal
        sent before this gateway started: a dead letter, never an error.
        """
        seen = self._signals_seen
        if signal.signal_id in seen:
            self._duplicate_exit_signals += 1
            log.info(
                "gateway %s: exit signal %s to %r delivered already: redelivery ignored",
                self.node_id,
                signal.signal_id,
                signal.actor,
            )
            return
        seen[signal.signal_id] = None
        if len(seen) > _SIGNALS_REMEMBERED:
            del seen[next(iter(seen))]
        reason = signal.reason.reason()
        earlier = signal.sent_at < self._started_ms  # for an earlier incarnation of this node
        ref = None if earlier else self._lookup(signal.actor)
        if ref is None or ref._proc.actor is agent or ref._proc.reason is not None:
            self._unknown_actor += 1
            if earlier:
                why = f"it was sent before node {self.node_id!r} (re)started"
            else:
                why = str(UnknownActor(signal.actor, self.node_id))
            self.node._dead_letter(
                self.ref(self.node_id, signal.actor),
                signal,
                f"exit signal ({reason}) from node {signal.node!r} not delivered: {why}",
            )
            return
        self._exit_signals += 1
        origin = self.ref(signal.node, signal.sender) if signal.sender else None
        _signal_exit(ref._proc, None, reason, origin=origin)

    def _send_after(self, delay: float, ref: RemoteRef, message: object) -> Timer:
        """``send_after`` to a remote ref: a local timer that sends ``message`` when it fires.

        The request context at the time of the call travels with it.
        """
        timer = _RemoteTimer(self, ref, message)
        if self._closed:
            self.node._dead_letter(ref, message, "not sent: the gateway is closed")
            return timer
        timer._handle = self.node.loop.call_later(max(delay, 0.0), timer._fire, _current.get())
        self._timers.add(timer)
        return timer

    # -- links across nodes -----------------------------------------------------------------

    def _link(self, local: _Process, ref: RemoteRef) -> None:
        """``Actor.link`` of a remote ref: make this node's half, ask ``ref``'s node for its own."""
        if ref.address.kind != "node" or not ref.address.actor:
            raise NotSupportedAcrossNodes("link to a service", ref)
        if local.links and any(
            isinstance(item, _RemoteLink) and item._remote == ref for item in local.links
        ):
            return  # linked already: links are a set, as between local actors
        link = _RemoteLink(self, local, ref, pending=True)
        local.add_link(link)
        if self._closed:
            link._pending = False
            self._fire(link, NOCONNECTION)
            return
        self._track(link)
        self._start(self._establish(link, self._wire_name(local)))

    async def _establish(self, link: _RemoteLink, linker: str) -> None:
        remote = link._remote.address
        request = _Link(link._id, self.node_id, linker, remote.actor, self._incarnation)
        legacy = _LinkV1(link._id, self.node_id, linker, remote.actor)
        try:
            # As any call: published after the sends made before it (never overtakes them).
            incarnation, refusal = await self._ask(
                remote.name, request, legacy, self.noconnection_after, ordered=True
            )
        except Exception as exc:
            log.info("gateway %s: cannot link to %s: %r", self.node_id, remote, exc)
            link._pending = False
            if link.active:
                self._fire(link, NOCONNECTION)
            # That node may have made its half all the same: best effort, tell it.
            self._end_link(link, link._outcome)
            return
        link._pending = False
        if refusal is not None:
            self._fire(link, refusal.reason())
        elif not link.active:  # the local end stopped or unlinked while the link travelled
            self._end_link(link, link._outcome)
        else:
            link._incarnation = incarnation

    def _accept_link(self, request: _Link | _LinkV1, agent: _Agent) -> _WireReason | None:
        """The agent got ``Link``: make this node's half, or say why not (``noproc``).

        The half is bound to the linking node's incarnation (unknown from a v1 ``Link``).
        """
        incarnation = request.incarnation if isinstance(request, _Link) else None
        if request.link_id in self._links:  # a redelivery
            return None
        ref = self._lookup(request.actor)
        if ref is None or ref._proc.actor is agent or ref._proc.reason is not None:
            return _WireReason.of(NOPROC)
        proc = ref._proc
        remote = self.ref(request.node, request.linker)
        link = _RemoteLink(self, proc, remote, request.link_id, incarnation=incarnation)
        proc.add_link(link)
        self._track(link)
        return None

    def _unlink(self, local: _Process, ref: RemoteRef) -> None:
        """``Actor.unlink`` of a remote ref: drop this node's half, tell the other node."""
        if not local.links:
            return
        for item in list(local.links):
            if isinstance(item, _RemoteLink) and item._remote == ref:
                local.links.discard(item)
                if item.active:
                    item.active = False
                    self._forget(item, unwatch=False)
                    if item._pending:
                        item._outcome = None
                    else:
                        self._end_link(item, None)

    def _unlinked(self, link_id: str) -> None:
        """The other node unlinked (``Unwatch`` of a link): drop this node's half, silently."""
        link = self._links.get(link_id)
        if link is None or not link.active:
            return
        link.active = False
        self._forget(link, unwatch=False)
        if link._local.links:
            link._local.links.discard(link)

    def _end_link(self, link: _RemoteLink, reason: ExitReason | None) -> None:
        """Tell the other end's node: its half gets ``reason`` (``RemoteDown``), or unlink."""
        if reason is None:
            self._tell(link.node, _Unwatch(link._id))
        else:
            self._tell(link.node, _RemoteDown(self.node_id, link._id, _WireReason.of(reason)))

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
        must register again (call this from its ``on_start``).

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
