"""The node: one OS process's actors, names, timers, dead letters and root supervisor."""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from enotime._actor import (
    Actor,
    ActorRef,
    Timer,
    _Process,
    _signal_exit,
)
from enotime._clock import Clock, SystemClock
from enotime._context import _current
from enotime._deadline import Deadlines
from enotime._handler_timing import HandlerStatistics, HandlerTiming
from enotime._reason import KILL, KILLED, SHUTDOWN, ExitReason
from enotime._supervisor import ChildSpec, child
from enotime.errors import NameNotFound, NameTaken, StartFailed

if TYPE_CHECKING:
    from enotime._gateway import Gateway, RemoteRef
    from enotime.registry._port import AbstractRegistry
    from enotime.transport._port import AbstractTransport

__all__ = ["ActorClassStatistics", "DeadLetter", "Node", "NodeStatistics"]

log = logging.getLogger("enotime.node")
dead_letter_log = logging.getLogger("enotime.deadletter")

A = TypeVar("A", bound=Actor)

KILL_GRACE: Final = 5.0
"""Seconds to wait for a killed actor's task to end before reporting it stuck."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that no handler received, and why."""

    recipient: ActorRef[Any]
    message: object
    reason: str


@dataclass(frozen=True, slots=True)
class NodeStatistics:
    """Counters of one node, for inspection and metrics."""

    name: str
    actors_alive: int
    actors_by_class: dict[str, int]
    spawned_total: int
    crashed_total: int
    dead_letters_total: int
    restarts_total: int
    restarts_by_child: dict[tuple[str, str], int]
    """Restarts made by supervisors, by ``(supervisor, child id)``; the supervisor is
    its registered name, or its class if it has none. Kept across supervisor restarts."""


@dataclass(frozen=True, slots=True)
class ActorClassStatistics:
    """Counters of every actor of one class on a node, alive or gone, for metrics."""

    actor_class: str
    alive: int
    crashed_total: int
    messages_handled_total: int
    """Messages taken from the mailboxes, by actors alive now and by those gone."""
    mailbox_depth: int
    """Messages waiting, summed over the live actors."""
    mailbox_depth_max: int
    """The deepest live mailbox."""


class Node:
    """One OS process's actor runtime: it spawns actors and owns their lifetimes.

    Use it as an async context manager to embed actors in a program or a
    test, or call :meth:`run` to make a supervision tree the whole program.

    Example:
        >>> async with Node("demo") as node:
        ...     counter = await node.spawn(Counter)
        ...     await counter.call(Increment(2))
    """

    def __init__(
        self,
        name: str = "enotime",
        *,
        clock: Clock | None = None,
        dead_letter_capacity: int = 1000,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.clock: Clock = clock or SystemClock()
        self.shutdown_timeout = shutdown_timeout
        self.dead_letters: collections.deque[DeadLetter] = collections.deque(
            maxlen=dead_letter_capacity
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadlines: Deadlines
        self._names: dict[str, _Process] = {}
        self._alive: dict[int, _Process] = {}
        self._by_class: collections.Counter[str] = collections.Counter()
        self._spawned = 0
        self._crashed = 0
        self._dead_letter_count = 0
        # Counters that outlive actors, for metrics; bumped off the hot path (at exit,
        # at restart) except handler timings, which only metered classes record.
        self._crashed_by_class: collections.Counter[str] = collections.Counter()
        self._handled_by_gone: collections.Counter[str] = collections.Counter()
        self._restarts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._handler_timings: dict[tuple[str, str], HandlerTiming] = {}
        self._root: ActorRef[Any] | None = None
        self._root_spec: ChildSpec | None = None  # read by `enotime status`
        self._stop_requested: asyncio.Future[None] | None = None
        self._closing = False
        self._gateway: Gateway | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this node runs on (the running one, at first use)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._deadlines = Deadlines(self._loop)
        return self._loop

    @property
    def root(self) -> ActorRef[Any] | None:
        """The root supervisor, once :meth:`start` has started it."""
        return self._root

    # -- spawning -----------------------------------------------------------------

    async def spawn(
        self,
        factory: Callable[..., A],
        /,
        *args: Any,
        name: str | None = None,
        **kwargs: Any,
    ) -> ActorRef[A]:
        """Start an unsupervised actor ``factory(*args, **kwargs)``.

        Returns once its ``on_start`` has finished. Raises
        :class:`~enotime.errors.StartFailed` if it could not start and
        :class:`~enotime.errors.NameTaken` if ``name`` is in use.
        """
        return await self._spawn(factory, args, kwargs, name=name, parent=None)

    async def _spawn(
        self,
        factory: Callable[..., A],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: str | None,
        parent: _Process | None,
    ) -> ActorRef[A]:
        loop = self.loop
        if name is not None:
            holder = self._names.get(name)
            if holder is not None:
                raise NameTaken(name, holder.ref)
        try:
            actor = factory(*args, **kwargs)
        except Exception as exc:
            raise StartFailed(_describe(factory), ExitReason.crash(exc)) from exc
        if not isinstance(actor, Actor):
            raise TypeError(f"{_describe(factory)} made {actor!r}, not an Actor")
        proc = _Process(self, actor, name, parent)
        if name is not None:
            self._names[name] = proc
        self._alive[proc.pid] = proc
        self._by_class[type(actor).__qualname__] += 1
        self._spawned += 1
        if parent is not None:
            parent.add_link(proc)
            proc.add_link(parent)
        started = None
        if type(actor)._enotime_has_on_start:
            started = proc.started = loop.create_future()
        proc.task = loop.create_task(proc.run())
        if started is not None:
            await started
        return proc.ref

    def _forget(self, proc: _Process) -> None:
        """Called by a process as it terminates."""
        if proc.name is not None and self._names.get(proc.name) is proc:
            del self._names[proc.name]
        actor_class = type(proc.actor).__qualname__
        if self._alive.pop(proc.pid, None) is not None:
            self._by_class[actor_class] -= 1
            self._handled_by_gone[actor_class] += proc.handled
        if proc.reason is not None and proc.reason.kind == "crash":
            self._crashed += 1
            self._crashed_by_class[actor_class] += 1

    # -- names ------------------------------------------------------------------------

    def register(self, name: str, ref: ActorRef[Any]) -> None:
        """Register a live actor under ``name``; freed when it stops."""
        proc = ref._proc
        if proc.reason is not None:
            raise NameNotFound(name)
        holder = self._names.get(name)
        if holder is not None and holder is not proc:
            raise NameTaken(name, holder.ref)
        if proc.name is not None and proc.name != name:
            self._names.pop(proc.name, None)
        proc.name = name
        self._names[name] = proc

    def unregister(self, name: str) -> None:
        """Free ``name``; raises :class:`~enotime.errors.NameNotFound` if unused."""
        proc = self._names.pop(name, None)
        if proc is None:
            raise NameNotFound(name)
        proc.name = None

    def whereis(self, name: str) -> ActorRef[Any] | None:
        """The actor registered as ``name``, or None."""
        proc = self._names.get(name)
        return proc.ref if proc is not None else None

    def lookup(self, name: str) -> ActorRef[Any]:
        """The actor registered as ``name``; raises :class:`~enotime.errors.NameNotFound`."""
        proc = self._names.get(name)
        if proc is None:
            raise NameNotFound(name)
        return proc.ref

    def registered(self) -> list[str]:
        """Every name registered on this node."""
        return list(self._names)

    # -- other nodes --------------------------------------------------------------------

    async def connect(
        self,
        transport: AbstractTransport,
        *,
        registry: AbstractRegistry | None = None,
        **options: Any,
    ) -> Gateway:
        """Connect this node to an open transport: serve its queue, allow remote refs.

        Returns the :class:`~enotime.Gateway` (``expose`` services on it);
        ``options`` go to it. With a ``registry`` the node registers itself
        there and can hold global names (:meth:`register_global`). The node
        closes the gateway when it closes (releasing its global names and
        deregistering); the transport and the registry stay the caller's
        (close them after the node).

        Args:
            transport: An open transport.
            registry: A registry to join, or None (no global names).
            **options: The gateway's options (see :class:`~enotime.Gateway`):
                ``heartbeat_interval``, ``heartbeat_misses`` and
                ``heartbeat_timeout`` bound how soon a vanished node is
                noticed; with a registry, ``registration_ttl`` (10 s),
                ``session_ttl`` (15 s) and ``lock_delay`` (15 s) bound how
                long a node that dies keeps its global names (about
                ``session_ttl + lock_delay``); ``node_address``,
                ``node_meta``, ``send_timeout``, ``restart_grace``,
                ``close_timeout``.

        Raises:
            ValueError: An option out of range (the message names it).
            RuntimeError: The node is connected already.
        """
        from enotime._gateway import Gateway

        if self._gateway is not None:
            raise RuntimeError(f"node {self.name!r} is already connected to a transport")
        gateway = Gateway(self, transport, registry=registry, **options)
        try:
            await gateway.open()
        except BaseException:
            await gateway.aclose()
            raise
        self._gateway = gateway
        return gateway

    @property
    def gateway(self) -> Gateway | None:
        """The gateway made by :meth:`connect`, or None."""
        return self._gateway

    def remote(self, node: str, actor: str) -> RemoteRef:
        """A ref to the actor registered as ``actor`` on node ``node`` (``send``, ``call``)."""
        return self._connected().ref(node, actor)

    def service(self, name: str) -> RemoteRef:
        """A ref to service ``name``: each message goes to one node exposing it."""
        return self._connected().service(name)

    async def register_global(self, name: str, ref: ActorRef[Any]) -> None:
        """Register the local actor ``ref`` under the cluster-wide ``name``, first writer wins.

        Needs ``node.connect(transport, registry=...)``. An actor without a
        local name is registered locally as ``name`` too. The name is released
        when the actor stops or the node closes. Raises
        :class:`~enotime.registry.NameTaken` (an :class:`~enotime.errors.NameTaken`)
        if another node holds it. See :meth:`Gateway.register_global`.
        """
        await self._connected().register_global(name, ref)

    async def unregister_global(self, name: str) -> bool:
        """Release a global name this node holds; ``False`` if it did not hold it."""
        return await self._connected().unregister_global(name)

    async def whereis_global(self, name: str) -> ActorRef[Any] | None:
        """The holder of global ``name``: a local ``ActorRef``, a :class:`RemoteRef`, or None."""
        return await self._connected().whereis_global(name)

    async def lookup_global(self, name: str) -> ActorRef[Any]:
        """As :meth:`whereis_global`; raises :class:`~enotime.errors.NameNotFound` if unknown."""
        return await self._connected().lookup_global(name)

    def _connected(self) -> Gateway:
        if self._gateway is None:
            from enotime.transport import TransportClosed

            raise TransportClosed(
                f"node {self.name!r} is not connected: await node.connect(transport) first"
            )
        return self._gateway

    # -- signals, timers, stopping -----------------------------------------------------

    def send_after(self, delay: float, ref: ActorRef[Any], message: object) -> Timer:
        """Deliver ``message`` to ``ref`` after ``delay`` seconds, unless cancelled.

        The timer is cancelled if ``ref`` stops first; the request context at
        the time of the call travels with the message. To a
        :class:`~enotime.RemoteRef` it is a timer on this node that *sends*
        the message when it fires (so the remote actor's state then decides
        what becomes of it); only cancelling it, or closing the gateway,
        stops it.
        """
        if ref._is_remote:
            remote = _remote(ref)
            return remote._gateway._send_after(delay, remote, message)
        target = ref._proc
        timer = Timer(target, message)
        if target.reason is not None:
            self._dead_letter(ref, message, f"not alive ({target.reason})")
            return timer
        timer._handle = self.loop.call_later(max(delay, 0.0), timer._fire, _current.get())
        if target.timers is None:
            target.timers = set()
        target.timers.add(timer)
        return timer

    def exit(self, ref: ActorRef[Any], reason: ExitReason) -> None:
        """Send ``ref`` an exit signal, as Erlang's ``exit/2``.

        ``kill`` always stops it; an actor that traps exits gets an
        :class:`~enotime.messages.Exit` message (whose ``sender`` is the
        actor itself: the signal comes from outside any actor); otherwise
        ``normal`` is ignored and any other reason stops it. To a
        :class:`~enotime.RemoteRef` the signal travels fire and forget, as a
        send, and the actor's node applies these rules when it arrives (see
        :class:`~enotime.Gateway`; a name nobody holds there: a dead letter
        there).

        Raises:
            TypeError: ``reason`` is not an :class:`~enotime.ExitReason`
                (``SHUTDOWN``, ``KILL``, ``ExitReason.crash(...)``, ...).
            NotSupportedAcrossNodes: ``ref`` is a service.
        """
        if not isinstance(reason, ExitReason):
            raise TypeError(f"an exit reason is an ExitReason (e.g. SHUTDOWN), not {reason!r}")
        if ref._is_remote:
            remote = _remote(ref)
            remote._gateway._exit(remote, reason)
            return
        _signal_exit(ref._proc, None, reason)

    def kill(self, ref: ActorRef[Any]) -> None:
        """Stop ``ref`` at once: untrappable, ``on_stop`` does not run; links see ``killed``.

        A :class:`~enotime.RemoteRef` is killed by its node (see :meth:`exit`).
        """
        if ref._is_remote:
            remote = _remote(ref)
            remote._gateway._exit(remote, KILL)
            return
        _signal_exit(ref._proc, None, KILL)

    async def kill_and_wait(self, ref: ActorRef[Any]) -> ExitReason:
        """Kill ``ref`` and wait for it to be gone.

        A :class:`~enotime.RemoteRef` is monitored first, then killed: the
        answer is ``killed``, ``noproc`` (no such actor there; nothing was
        sent) or ``noconnection``; ``TimeoutError`` if it is still alive
        :data:`KILL_GRACE` seconds (plus the gateway's ``noconnection_after``)
        after.
        """
        if ref._is_remote:
            remote = _remote(ref)
            gateway = remote._gateway
            return await gateway._wait_stopped(
                remote, KILL_GRACE + gateway.noconnection_after, kill=True
            )
        self.kill(ref)
        return await self._wait_gone(ref)

    async def stop(
        self, ref: ActorRef[Any], reason: ExitReason = SHUTDOWN, *, timeout: float | None = 5.0
    ) -> ExitReason:
        """Stop ``ref`` in order: ``on_stop`` runs, for at most ``timeout`` seconds, then kill.

        Returns the reason it stopped with (``killed`` if the timeout ran out).
        Not across nodes (:class:`~enotime.errors.NotSupportedAcrossNodes`):
        send a :class:`~enotime.RemoteRef` an exit signal (:meth:`exit`) and
        ``await ref.wait_stopped(timeout)``.
        """
        if ref._is_remote:
            from enotime.errors import NotSupportedAcrossNodes

            raise NotSupportedAcrossNodes("node.stop", ref)
        proc = ref._proc
        if proc.reason is not None:
            return proc.reason
        proc.exit(reason)
        try:
            return await ref.wait_stopped(timeout)
        except TimeoutError:
            log.warning("%r did not stop within %g s; killing it", ref, timeout)
            return await self.kill_and_wait(ref)

    async def _wait_gone(self, ref: ActorRef[Any]) -> ExitReason:
        try:
            return await ref.wait_stopped(KILL_GRACE)
        except TimeoutError:
            log.error("%r ignores cancellation and cannot be killed; abandoning it", ref)
            return ref._proc.pending_exit or SHUTDOWN

    # -- the root supervisor and the whole program --------------------------------------

    async def start(self, root: ChildSpec | Callable[..., Actor]) -> ActorRef[Any]:
        """Start the root of the supervision tree (a spec or a Supervisor class)."""
        spec = self._root_spec = root if isinstance(root, ChildSpec) else child(root)
        self._root = await self._spawn(
            spec.factory, spec.args, dict(spec.kwargs), name=spec.name, parent=None
        )
        return self._root

    async def serve(self, root: ChildSpec | Callable[..., Actor], *, freeze_gc: bool = True) -> int:
        """Run ``root`` until SIGTERM/SIGINT or until it stops; return an exit code.

        0 after a signal (everything stopped in reverse start order); 1 if
        the root stopped by itself -- a supervisor that gave up -- or failed
        to start.

        ``serve`` owns the process, as its signal handlers say; with
        ``freeze_gc`` (the default), once the root has started, what start-up
        made (modules, the tree) is moved out of the cyclic garbage
        collector's reach (``gc.freeze()``, undone when ``serve`` returns), so
        its full collections walk only what the node makes while it runs
        (docs/kernel.md, "The node": pauses of tens of ms become ~1 ms).
        """
        loop = self.loop
        frozen = False
        stop_requested = self._stop_requested = loop.create_future()
        installed = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self.request_stop)
                installed.append(signum)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                pass
        try:
            try:
                ref = await self.start(root)
            except StartFailed as failure:
                log.error("node %s: the root failed to start: %s", self.name, failure)
                return 1
            log.info("node %s: running %r", self.name, ref)
            if freeze_gc:
                gc.collect()  # start-up's garbage goes now, not frozen with the rest
                gc.freeze()
                frozen = True
            stopped = asyncio.ensure_future(ref.wait_stopped())
            try:
                await asyncio.wait({stop_requested, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                await asyncio.gather(stopped, return_exceptions=True)
            if stop_requested.done():
                log.info("node %s: stop requested, shutting down", self.name)
                return 0
            log.error("node %s: the root stopped by itself (%s)", self.name, ref.exit_reason)
            return 1
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            await self.aclose()
            if frozen:
                gc.unfreeze()

    def request_stop(self) -> None:
        """Ask :meth:`serve` to shut the node down, as SIGTERM does (exit code 0)."""
        if self._stop_requested is not None and not self._stop_requested.done():
            self._stop_requested.set_result(None)

    def run(
        self,
        root: ChildSpec | Callable[..., Actor],
        *,
        use_uvloop: bool = False,
        freeze_gc: bool = True,
    ) -> int:
        """Own the event loop and :meth:`serve` ``root``; return the process exit code."""
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
        if use_uvloop:
            try:
                import uvloop
            except ImportError:
                raise RuntimeError(
                    'uvloop is not installed: pip install "enotime[speed]"'
                ) from None
            loop_factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(self.serve(root, freeze_gc=freeze_gc))

    async def aclose(self) -> None:
        """Stop every actor: the root tree first (in its own order), then the rest.

        A connected node stops consuming from its transport first and
        publishes the sends still queued last.

        The other actors are asked to stop newest first and given
        ``shutdown_timeout`` seconds together; those still running are killed.
        """
        if self._closing:
            return
        self._closing = True
        gateway = self._gateway
        if gateway is not None:  # no new work from other nodes while the actors stop
            await gateway.stop_serving()
        if self._root is not None:
            await self.stop(self._root, SHUTDOWN, timeout=self.shutdown_timeout)
        while self._alive:
            await self._stop_all(sorted(self._alive.values(), key=lambda p: p.pid, reverse=True))
        if gateway is not None:  # publish what the actors sent, on_stop included
            self._gateway = None
            await gateway.aclose()

    async def _stop_all(self, procs: list[_Process]) -> None:
        stopped = []
        for proc in procs:
            proc.exit(SHUTDOWN)
            if proc.reason is None:
                if proc.stopped is None:
                    proc.stopped = self.loop.create_future()
                stopped.append(proc.stopped)
        if not stopped:
            return
        _, pending = await asyncio.wait(stopped, timeout=self.shutdown_timeout)
        if pending:
            stuck = [p for p in procs if p.reason is None]
            log.warning(
                "%d actors did not stop within %g s; killing them",
                len(stuck),
                self.shutdown_timeout,
            )
            for proc in stuck:
                proc.exit(KILLED, kill=True)
            _, pending = await asyncio.wait(pending, timeout=KILL_GRACE)
            for proc in procs:
                if proc.reason is None:
                    log.error(
                        "%r ignores cancellation and cannot be killed; abandoning it", proc.ref
                    )
                    self._forget(proc)

    async def __aenter__(self) -> Node:
        self._closing = False
        _ = self.loop
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- observing ------------------------------------------------------------------------

    def dead_letter(self, recipient: ActorRef[Any], message: object, reason: str) -> None:
        """Record ``message`` to ``recipient`` as undeliverable, with the reason.

        For service actors that give up on a message they accepted (a mail
        after its last attempt): it is counted, logged on ``enotime.deadletter``
        and kept in :attr:`dead_letters`, never lost silently.
        """
        self._dead_letter(recipient, message, reason)

    def _dead_letter(self, recipient: ActorRef[Any], message: object, reason: str) -> None:
        self._dead_letter_count += 1
        self.dead_letters.append(DeadLetter(recipient, message, reason))
        dead_letter_log.warning(
            "dead letter to %r: %s (%s)", recipient, type(message).__qualname__, reason
        )

    def statistics(self) -> NodeStatistics:
        """A snapshot of this node's counters."""
        return NodeStatistics(
            name=self.name,
            actors_alive=len(self._alive),
            actors_by_class={k: v for k, v in self._by_class.items() if v},
            spawned_total=self._spawned,
            crashed_total=self._crashed,
            dead_letters_total=self._dead_letter_count,
            restarts_total=sum(self._restarts.values()),
            restarts_by_child=dict(self._restarts),
        )

    def class_statistics(self) -> list[ActorClassStatistics]:
        """Per-class counters of every actor class seen on this node.

        Walks the live actors (mailbox depths), so it costs a few hundred
        nanoseconds per actor: fine at scrape time, not in a hot loop.
        """
        alive: collections.Counter[str] = collections.Counter()
        handled = collections.Counter(self._handled_by_gone)
        depth: collections.Counter[str] = collections.Counter()
        deepest: dict[str, int] = {}
        for proc in list(self._alive.values()):
            actor_class = type(proc.actor).__qualname__
            alive[actor_class] += 1
            handled[actor_class] += proc.handled
            queued = len(proc.mailbox)
            depth[actor_class] += queued
            if queued > deepest.get(actor_class, -1):
                deepest[actor_class] = queued
        classes = alive.keys() | handled.keys() | self._crashed_by_class.keys()
        return [
            ActorClassStatistics(
                actor_class=actor_class,
                alive=alive[actor_class],
                crashed_total=self._crashed_by_class[actor_class],
                messages_handled_total=handled[actor_class],
                mailbox_depth=depth[actor_class],
                mailbox_depth_max=deepest.get(actor_class, 0),
            )
            for actor_class in sorted(classes)
        ]

    def handler_statistics(self) -> list[HandlerStatistics]:
        """Latency of every handler of the metered actor classes (``metered = True``)."""
        return [
            HandlerStatistics.of(key, timing)
            for key, timing in sorted(self._handler_timings.items())
        ]

    def _time_handler(self, key: tuple[str, str], seconds: float) -> None:
        """Called by a metered handler as it returns or raises."""
        timing = self._handler_timings.get(key)
        if timing is None:
            timing = self._handler_timings[key] = HandlerTiming()
        timing.observe(seconds)

    def _count_restart(self, supervisor: str, child_id: str, by: int = 1) -> None:
        """Called by a supervisor when it starts (``by=0``) or restarts ``child_id``."""
        self._restarts[supervisor, child_id] += by

    def __repr__(self) -> str:
        return f"<Node {self.name!r} actors={len(self._alive)}>"


def _remote(ref: ActorRef[Any]) -> RemoteRef:
    """``ref``, whose ``_is_remote`` is true: a :class:`~enotime.RemoteRef`."""
    return cast("RemoteRef", ref)


def _describe(factory: Callable[..., Any]) -> str:
    return getattr(factory, "__qualname__", repr(factory))
