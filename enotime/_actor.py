"""Actors: the base class users subclass, their refs, and the process that runs them.

An actor is an asyncio task plus a mailbox. Its process record holds what the
runtime owns (links, monitors, timers, the exit reason); user subclasses only
see the public methods of :class:`Actor`, so their attributes cannot collide
with the runtime's.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar, overload

from enotime._context import RequestContext, _current, current_context
from enotime._handler import HandlerEntry, collect_handlers
from enotime._handler_timing import metered_handlers
from enotime._reason import KILLED, NOPROC, NORMAL, SHUTDOWN, ExitReason
from enotime.errors import (
    ActorExited,
    ActorNotAlive,
    MailboxFull,
    Refused,
    StartFailed,
    UnhandledMessage,
)
from enotime.messages import Down, Exit, Request

if TYPE_CHECKING:
    from enotime._node import Node

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "Actor",
    "ActorRef",
    "ActorStatistics",
    "Monitor",
    "Overflow",
    "Timer",
]

log = logging.getLogger("enotime.actor")

A = TypeVar("A", bound="Actor")
A_co = TypeVar("A_co", bound="Actor", covariant=True)
R = TypeVar("R")

DEFAULT_CALL_TIMEOUT: Final = 5.0
"""Seconds a ``call`` waits for its reply unless told otherwise (OTP's default)."""

_Envelope = tuple[Any, "asyncio.Future[Any] | None", RequestContext | None]
# A mailbox holds either a bare message (a cast without request context: the
# common case, one object fewer for the garbage collector) or an envelope
# tuple; a message that is itself a plain tuple always travels in an envelope.
_Item = Any


def _unpack(item: _Item) -> _Envelope:
    if item.__class__ is tuple:
        envelope: _Envelope = item
        return envelope
    return item, None, None


class Overflow(enum.Enum):
    """What a bounded mailbox does with a message that does not fit."""

    REJECT = "reject"
    """Refuse it: the sender gets :class:`~enotime.errors.MailboxFull` (back-pressure)."""
    DROP_NEWEST = "drop_newest"
    """Drop the new message to the dead-letter log (a ``call`` gets ``MailboxFull``)."""
    DROP_OLDEST = "drop_oldest"
    """Drop the oldest queued message to the dead-letter log and enqueue the new one."""


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """A snapshot of one actor, for inspection and metrics."""

    actor_class: str
    name: str | None
    alive: bool
    mailbox_depth: int
    messages_handled: int
    links: int
    monitors: int


class ActorRef(Generic[A_co]):
    """The handle through which an actor is reached: send, call, watch it stop.

    Refs are cheap, hashable and compare equal when they name the same actor.
    Never reach into the actor object itself: talk to it through its ref.
    """

    __slots__ = ("__weakref__", "_proc")

    _is_remote: ClassVar[bool] = False
    """True for :class:`~enotime.RemoteRef` (an actor on another node)."""

    def __init__(self, proc: _Process) -> None:
        self._proc = proc

    def send(self, message: object) -> None:
        """Enqueue ``message`` and return at once (fire and forget).

        A message to an actor that is no longer alive goes to the dead-letter
        log. Raises :class:`~enotime.errors.MailboxFull` when a bounded mailbox
        with the ``reject`` policy is full.
        """
        proc = self._proc
        if proc.reason is not None:
            proc.node._dead_letter(self, message, f"not alive ({proc.reason})")
            return
        context = _current.get()
        if context is None and message.__class__ is not tuple:
            proc.deliver(message)
        else:
            proc.deliver((message, None, context))

    cast = send
    """Alias of :meth:`send`, as in OTP's ``gen_server:cast``."""

    @overload
    async def call(
        self, message: Request[R], *, timeout: float | None = DEFAULT_CALL_TIMEOUT
    ) -> R: ...
    @overload
    async def call(
        self, message: object, *, timeout: float | None = DEFAULT_CALL_TIMEOUT
    ) -> Any: ...
    async def call(self, message: object, *, timeout: float | None = DEFAULT_CALL_TIMEOUT) -> Any:
        """Send ``message`` and wait for the handler's reply.

        Raises:
            CallTimeout: no reply within ``timeout`` seconds (a late reply is
                discarded).
            ActorNotAlive: the actor was dead when the call was made.
            ActorExited: it died before replying.
            UnhandledMessage: it has no handler for the message type.
            MailboxFull: its bounded mailbox refused the request.
            Refused: whatever the handler raised to answer with an error (a
                :class:`Refused`, or a type listed in the actor's ``refusals``).
        """
        proc = self._proc
        if proc.reason is not None:
            raise ActorNotAlive(self, proc.reason)
        loop = proc.loop
        reply: asyncio.Future[Any] = loop.create_future()
        proc.deliver((message, reply, _current.get()))
        if timeout is None:
            return await reply
        deadlines = proc.node._deadlines
        deadlines.add(reply, timeout, self, message)
        try:
            return await reply
        finally:
            deadlines.discard(reply, timeout)

    async def wait_stopped(self, timeout: float | None = None) -> ExitReason:
        """Wait until the actor has stopped and return why.

        Raises ``TimeoutError`` if it is still alive after ``timeout`` seconds.
        """
        proc = self._proc
        if proc.reason is not None:
            return proc.reason
        if proc.stopped is None:
            proc.stopped = proc.loop.create_future()
        return await asyncio.wait_for(asyncio.shield(proc.stopped), timeout)

    @property
    def name(self) -> str | None:
        """The locally registered name, if any."""
        return self._proc.name

    @property
    def is_alive(self) -> bool:
        """True until the actor has stopped."""
        return self._proc.reason is None

    @property
    def exit_reason(self) -> ExitReason | None:
        """Why the actor stopped, or None while it is alive."""
        return self._proc.reason

    @property
    def actor_class(self) -> type[Actor]:
        """The class of the actor behind this ref."""
        return type(self._proc.actor)

    def statistics(self) -> ActorStatistics:
        """A snapshot of the actor's mailbox and counters."""
        proc = self._proc
        return ActorStatistics(
            actor_class=type(proc.actor).__qualname__,
            name=proc.name,
            alive=proc.reason is None,
            mailbox_depth=len(proc.mailbox),
            messages_handled=proc.handled,
            links=len(proc.links) if proc.links else 0,
            monitors=len(proc.monitors) if proc.monitors else 0,
        )

    def __repr__(self) -> str:
        proc = self._proc
        label = f" {proc.name!r}" if proc.name else ""
        return f"<{type(proc.actor).__qualname__}#{proc.pid}{label} @{proc.node.name}>"


class Monitor:
    """A one-way watch on an actor, returned by :meth:`Actor.monitor`.

    When the watched actor stops, the watcher receives a :class:`Down`
    carrying this object, so several monitors can be told apart.
    """

    __slots__ = ("_target", "_watcher", "active")

    def __init__(self, watcher: _Process, target: _Process) -> None:
        self._watcher = watcher
        self._target = target
        self.active = True

    @property
    def ref(self) -> ActorRef[Any]:
        """The watched actor."""
        return self._target.ref

    def _detach(self) -> None:
        """Forget this monitor on the watched side (a remote monitor tells the other node)."""
        monitors = self._target.monitors
        if monitors:
            monitors.discard(self)

    def __repr__(self) -> str:
        return f"<Monitor {self._watcher.ref!r} -> {self._target.ref!r}>"


class _LinkAcross:
    """This node's half of a link to an actor on another node (``enotime._gateway.RemoteLink``).

    It sits in the local actor's ``links`` beside the local processes it is
    linked to, so the actor's statistics count it and its end reaches it.
    """

    __slots__ = ()

    def _local_exit(self, reason: ExitReason, *, signal: bool) -> None:
        """The local actor stopped with ``reason``; ``signal``: the other end gets it."""
        raise NotImplementedError


class Timer:
    """A message scheduled by ``send_after``; cancel it to stop the delivery."""

    __slots__ = ("_handle", "_target", "message")

    def __init__(self, target: _Process, message: object) -> None:
        self._target = target
        self.message = message
        self._handle: asyncio.TimerHandle | None = None

    @property
    def active(self) -> bool:
        """True until the message is delivered or the timer is cancelled."""
        return self._handle is not None

    def cancel(self) -> bool:
        """Cancel the delivery; True if the message had not been sent yet."""
        handle, self._handle = self._handle, None
        if handle is None:
            return False
        handle.cancel()
        if self._target.timers is not None:
            self._target.timers.discard(self)
        return True

    def _fire(self, context: RequestContext | None) -> None:
        self._handle = None
        target = self._target
        if target.timers is not None:
            target.timers.discard(self)
        if target.reason is None:
            message = self.message
            if context is None and message.__class__ is not tuple:
                target.deliver(message)
            else:
                target.deliver((message, None, context))


class Actor:
    """Base class of every actor: subclass it and declare handlers.

    Class attributes configure the runtime: ``trap_exit`` (exit signals from
    links arrive as :class:`~enotime.messages.Exit` messages instead of
    stopping the actor), ``mailbox_size`` (None for unbounded), ``overflow``
    (what a full mailbox does), ``refusals`` (exception types a call
    handler may raise to answer its caller with an error without crashing;
    :class:`~enotime.errors.Refused` by default; raised for a ``send``, which
    has nobody to answer, it is recorded as a dead letter) and ``metered`` (time every
    handler into the node's handler statistics, the latency histogram of
    :mod:`enotime.metrics`; off by default, and then free).

    Example:
        >>> class Counter(Actor):
        ...     def __init__(self) -> None:
        ...         self.count = 0
        ...
        ...     @handler
        ...     def increment(self, msg: Increment) -> int:
        ...         self.count += msg.by
        ...         return self.count
    """

    trap_exit: ClassVar[bool] = False
    mailbox_size: ClassVar[int | None] = None
    overflow: ClassVar[Overflow] = Overflow.REJECT
    refusals: ClassVar[tuple[type[Exception], ...]] = (Refused,)
    metered: ClassVar[bool] = False

    _enotime_declared: ClassVar[dict[type, HandlerEntry]] = {}
    _enotime_handlers: ClassVar[dict[type, HandlerEntry | None]] = {}
    _enotime_has_on_start: ClassVar[bool] = False
    _enotime_proc: _Process

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        inherited = getattr(cls.__base__, "_enotime_declared", {})
        declared = cls._enotime_declared = collect_handlers(cls, inherited)
        # The runtime's table also caches resolved subclasses (and misses), so it
        # is a copy; metered classes get timing wrappers in it instead.
        cls._enotime_handlers = dict(metered_handlers(cls, declared) if cls.metered else declared)
        cls._enotime_has_on_start = cls.on_start is not Actor.on_start

    # -- lifecycle hooks -------------------------------------------------

    async def on_start(self) -> None:
        """Run before the first message; if it raises, the actor fails to start.

        ``spawn`` returns only once this has finished ("start means ready").
        """

    async def on_stop(self, reason: ExitReason) -> None:
        """Run once when the actor stops, with the reason; not run after ``kill``.

        A supervisor waits for it at most the child's shutdown timeout.
        """

    # -- who am I ----------------------------------------------------------

    @property
    def ref(self) -> ActorRef[Any]:
        """This actor's own ref, to hand to others."""
        return self._enotime_proc.ref

    @property
    def node(self) -> Node:
        """The node this actor runs on."""
        return self._enotime_proc.node

    @property
    def context(self) -> RequestContext | None:
        """The request context of the message being handled."""
        return current_context()

    # -- acting on others ----------------------------------------------------

    async def spawn(
        self,
        factory: Callable[..., A],
        /,
        *args: Any,
        link: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ) -> ActorRef[A]:
        """Start a new actor; with ``link=True`` it is linked to this one atomically."""
        return await self.node._spawn(
            factory, args, kwargs, name=name, parent=self._enotime_proc if link else None
        )

    def link(self, ref: ActorRef[Any]) -> None:
        """Link to ``ref``: when either stops abnormally, the other gets the exit signal.

        Linking to an actor that is no longer alive sends this actor a
        ``noproc`` exit signal at once, as in Erlang. ``ref`` may be a
        :class:`~enotime.RemoteRef` to an actor on another node: the link is
        made there through the gateways (``noproc`` once that node answers
        that it has no such actor, ``noconnection`` if the node stops
        answering); a service ref raises
        :class:`~enotime.errors.NotSupportedAcrossNodes`.
        """
        if ref._is_remote:
            from enotime._gateway import RemoteRef

            assert isinstance(ref, RemoteRef)
            ref._gateway._link(self._enotime_proc, ref)
            return
        me, other = self._enotime_proc, ref._proc
        if other is me:
            return
        if other.reason is not None:
            _signal_exit(me, other, NOPROC)
            return
        me.add_link(other)
        other.add_link(me)

    def unlink(self, ref: ActorRef[Any]) -> None:
        """Remove a link (on both nodes for a remote ref); a no-op if there was none."""
        if ref._is_remote:
            from enotime._gateway import RemoteRef

            assert isinstance(ref, RemoteRef)
            ref._gateway._unlink(self._enotime_proc, ref)
            return
        me, other = self._enotime_proc, ref._proc
        if me.links:
            me.links.discard(other)
        if other.links:
            other.links.discard(me)

    def monitor(self, ref: ActorRef[Any]) -> Monitor:
        """Watch ``ref``: a :class:`Down` message arrives when it stops.

        If it is already dead, the ``Down`` (reason ``noproc``) arrives at once.
        ``ref`` may be on another node (a :class:`~enotime.RemoteRef` to an
        actor, not a service): the ``Down`` then comes from that node, or
        with reason ``noconnection`` when the node stops answering (see
        :class:`~enotime.Gateway`).
        """
        if ref._is_remote:
            from enotime._gateway import RemoteRef

            assert isinstance(ref, RemoteRef)
            return ref._gateway._monitor(self._enotime_proc, ref)
        me, target = self._enotime_proc, ref._proc
        monitor = Monitor(me, target)
        if target.reason is not None:
            monitor.active = False
            me.deliver_system(Down(monitor, target.ref, NOPROC))
            return monitor
        if target.monitors is None:
            target.monitors = set()
        target.monitors.add(monitor)
        if me.held_monitors is None:
            me.held_monitors = set()
        me.held_monitors.add(monitor)
        return monitor

    def demonitor(self, monitor: Monitor) -> None:
        """Stop watching; no ``Down`` is delivered for ``monitor`` afterwards."""
        if monitor.active:
            monitor.active = False
            monitor._detach()
        if monitor._watcher.held_monitors:
            monitor._watcher.held_monitors.discard(monitor)

    def send_after(self, delay: float, message: object, to: ActorRef[Any] | None = None) -> Timer:
        """Deliver ``message`` to ``to`` (default: this actor) after ``delay`` seconds.

        ``to`` may be a :class:`~enotime.RemoteRef`: the message is sent when
        the timer fires (see :meth:`Node.send_after`).
        """
        return self.node.send_after(delay, to or self.ref, message)

    def stop(self, reason: ExitReason = NORMAL) -> None:
        """Stop this actor once the current handler returns; ``on_stop`` runs."""
        self._enotime_proc.exit(reason)


class _Process:
    """The runtime's record of one actor: mailbox, task, links, monitors, timers."""

    __slots__ = (
        "actor",
        "handled",
        "handlers",
        "held_monitors",
        "inflight",
        "killed",
        "links",
        "loop",
        "mailbox",
        "monitors",
        "name",
        "node",
        "parent",
        "pending_exit",
        "pid",
        "reason",
        "ref",
        "running",
        "start_failed",
        "started",
        "stopped",
        "task",
        "timers",
        "waiter",
    )

    _pids = itertools.count(1)

    def __init__(self, node: Node, actor: Actor, name: str | None, parent: _Process | None):
        self.node = node
        self.loop = node.loop
        self.actor = actor
        self.handlers = type(actor)._enotime_handlers
        self.pid = next(self._pids)
        self.name = name
        self.parent = parent
        self.ref: ActorRef[Any] = ActorRef(self)
        self.mailbox: deque[_Item] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.links: set[_Process | _LinkAcross] | None = None
        self.monitors: set[Monitor] | None = None
        self.held_monitors: set[Monitor] | None = None
        self.timers: set[Timer] | None = None
        self.started: asyncio.Future[None] | None = None
        self.stopped: asyncio.Future[ExitReason] | None = None
        self.inflight: asyncio.Future[Any] | None = None
        self.pending_exit: ExitReason | None = None
        self.reason: ExitReason | None = None
        self.handled = 0
        self.running = False
        self.killed = False
        self.start_failed = False
        actor._enotime_proc = self

    # -- mailbox ---------------------------------------------------------------

    def deliver(self, item: _Item) -> None:
        """Enqueue a message or envelope, applying the mailbox bound, and wake the actor."""
        mailbox = self.mailbox
        capacity = self.actor.mailbox_size
        if capacity is not None and len(mailbox) >= capacity:
            self._overflow(item, capacity)
            return
        mailbox.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def deliver_system(self, message: Exit | Down) -> None:
        """Enqueue a runtime message; bounds do not apply to these."""
        if self.reason is not None:
            return
        self.mailbox.append(message)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _overflow(self, envelope: _Item, capacity: int) -> None:
        policy = self.actor.overflow
        if policy is Overflow.REJECT:
            raise MailboxFull(self.ref, capacity)
        if policy is Overflow.DROP_NEWEST:
            self._drop(envelope, "mailbox full, newest dropped", MailboxFull(self.ref, capacity))
            return
        self._drop(
            self.mailbox.popleft(), "mailbox full, oldest dropped", MailboxFull(self.ref, capacity)
        )
        self.mailbox.append(envelope)

    def _drop(self, item: _Item, why: str, error: BaseException) -> None:
        message, reply, _ = _unpack(item)
        if reply is not None:
            if not reply.done():
                reply.set_exception(error)
        else:
            self.node._dead_letter(self.ref, message, why)

    # -- the task ----------------------------------------------------------------

    async def run(self) -> None:
        """The actor's whole life: start, handle messages, stop, clean up."""
        self.running = True
        reason: ExitReason | None = None
        cancelled_from_outside = False
        try:
            if self.pending_exit is None:
                if type(self.actor)._enotime_has_on_start:
                    await self.actor.on_start()
                if self.started is not None:
                    if not self.started.done():
                        self.started.set_result(None)
                    self.started = None
                await self._handle_messages()
            reason = self.pending_exit or NORMAL
        except asyncio.CancelledError:
            reason = self.pending_exit
            if reason is None:
                cancelled_from_outside = True
                reason = SHUTDOWN
            elif self.task is not None:
                self.task.uncancel()
        except Exception as exc:
            reason = ExitReason.crash(exc)
            log.error("%r crashed: %r", self.ref, exc, exc_info=exc)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: clean up, propagate
            self.terminate(ExitReason.crash(exc))
            raise
        if self.started is not None:
            self.start_failed = True
        elif not self.killed:
            try:
                reason = await self._run_on_stop(reason)
            except asyncio.CancelledError:
                cancelled_from_outside = True
        self.terminate(reason)
        if cancelled_from_outside:
            raise asyncio.CancelledError

    async def _run_on_stop(self, reason: ExitReason) -> ExitReason:
        try:
            await self.actor.on_stop(reason)
        except asyncio.CancelledError:
            if not self.killed:
                raise
            if self.task is not None:
                self.task.uncancel()
            return KILLED
        except Exception as exc:
            log.error("%r crashed in on_stop(%s): %r", self.ref, reason, exc, exc_info=exc)
            return ExitReason.crash(exc)
        return KILLED if self.killed else reason

    async def _handle_messages(self) -> None:
        actor = self.actor
        mailbox = self.mailbox
        handlers = self.handlers
        loop = self.loop
        set_context = _current.set
        context_now: RequestContext | None = None
        while self.pending_exit is None:
            if not mailbox:
                waiter = self.waiter = loop.create_future()
                await waiter
                self.waiter = None
                continue
            item = mailbox.popleft()
            if item.__class__ is tuple:
                message, reply, context = item
            else:
                message, reply, context = item, None, None
            if context is not context_now:
                set_context(context)
                context_now = context
            self.handled += 1
            entry = handlers.get(message.__class__, _UNRESOLVED)
            if entry is _UNRESOLVED:
                entry = self._resolve(message.__class__)
            if entry is None:
                self._unhandled(message, reply)
                continue
            function, is_async = entry
            if reply is None:
                try:
                    if is_async:
                        await function(actor, message)
                    else:
                        function(actor, message)
                except Exception as error:
                    if not isinstance(error, actor.refusals):
                        raise
                    # Nobody waits for an answer to a send: the refusal is a dead letter.
                    self.node._dead_letter(self.ref, message, f"refused: {error!r}")
                continue
            try:
                result = (await function(actor, message)) if is_async else function(actor, message)
            except Exception as error:
                if not isinstance(error, actor.refusals):
                    self.inflight = reply
                    raise
                if not reply.done():
                    reply.set_exception(error)
                continue
            except BaseException:
                self.inflight = reply
                raise
            if not reply.done():
                reply.set_result(result)

    def _resolve(self, message_type: type) -> HandlerEntry | None:
        """Find the handler of a subclass of a handled type, and remember it."""
        entry: HandlerEntry | None = None
        for base in message_type.__mro__[1:]:
            found = self.handlers.get(base)
            if found is not None:
                entry = found
                break
        self.handlers[message_type] = entry
        return entry

    def _unhandled(self, message: object, reply: asyncio.Future[Any] | None) -> None:
        self.node._dead_letter(self.ref, message, "no handler")
        if reply is not None and not reply.done():
            reply.set_exception(UnhandledMessage(self.ref, message))

    # -- links and exits -----------------------------------------------------------

    def add_link(self, other: _Process | _LinkAcross) -> None:
        if self.links is None:
            self.links = set()
        self.links.add(other)

    def exit(self, reason: ExitReason, *, kill: bool = False) -> None:
        """Make this actor stop with ``reason``; ``kill`` skips ``on_stop`` and trapping."""
        if self.reason is not None:
            return
        if kill:
            if self.killed:
                return
            self.killed = True
            reason = KILLED
        elif self.pending_exit is not None:
            return
        self.pending_exit = reason
        task = self.task
        if self.running and task is not None and task is not asyncio.current_task():
            task.cancel()

    def terminate(self, reason: ExitReason) -> None:
        """Final bookkeeping once the task is done: nothing is left hanging."""
        self.reason = reason
        self.node._forget(self)
        ref = self.ref
        if self.started is not None:
            cause = reason.exception or asyncio.CancelledError()
            error = StartFailed(repr(ref), reason)
            error.__cause__ = cause
            if not self.started.done():
                self.started.set_exception(error)
            self.started = None
        if self.timers:
            for timer in list(self.timers):
                timer.cancel()
        if self.inflight is not None and not self.inflight.done():
            self.inflight.set_exception(ActorExited(ref, reason))
        while self.mailbox:
            message, reply, _ = _unpack(self.mailbox.popleft())
            if reply is not None:
                if not reply.done():
                    reply.set_exception(ActorExited(ref, reason))
            elif not isinstance(message, Exit | Down):
                self.node._dead_letter(ref, message, f"unhandled when it stopped ({reason})")
        if self.held_monitors:
            for monitor in self.held_monitors:
                if monitor.active:
                    monitor.active = False
                    monitor._detach()
        links, self.links = self.links, None
        if links:
            for other in links:
                if not isinstance(other, _Process):  # a link to an actor on another node
                    other._local_exit(reason, signal=not self.start_failed)
                    continue
                if other.links:
                    other.links.discard(self)
                if not self.start_failed:
                    _signal_exit(other, self, reason)
        monitors, self.monitors = self.monitors, None
        if monitors:
            for monitor in monitors:
                if monitor.active:
                    monitor.active = False
                    monitor._watcher.deliver_system(Down(monitor, ref, reason))
        if self.stopped is not None and not self.stopped.done():
            self.stopped.set_result(reason)


_UNRESOLVED: Final[Any] = object()

_RUN_CODE: Final = _Process.run.__code__


def _running_process() -> _Process | None:
    """The actor whose own task is running now, or None: who is logging, for log records.

    Read from the current task's coroutine -- the ``_Process.run`` of that
    actor -- at the time of asking, so the kernel pays nothing for it per
    message or per actor (a context variable set per actor costs ~120 bytes
    of every idle actor). Tasks an actor creates itself are not its own.
    """
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop runs in this thread
        return None
    if task is None:
        return None
    coro = task.get_coro()
    if getattr(coro, "cr_code", None) is not _RUN_CODE:
        return None
    frame = coro.cr_frame  # type: ignore[union-attr]
    proc = frame.f_locals.get("self") if frame is not None else None
    return proc if isinstance(proc, _Process) else None


def _signal_exit(
    target: _Process,
    sender: _Process | None,
    reason: ExitReason,
    *,
    origin: ActorRef[Any] | None = None,
) -> None:
    """Deliver an exit signal by Erlang's rules.

    ``kill`` always stops the target. A target that traps exits receives an
    :class:`Exit` message, except from its parent (its supervisor), which
    stops it as in OTP. Otherwise ``normal`` is ignored and any other reason
    stops the target with that reason. ``origin`` names a sender that is not
    a local process (an actor on another node) for the ``Exit`` message.
    """
    if target.reason is not None:
        return
    if reason.kind == "kill":
        target.exit(KILLED, kill=True)
        return
    if target.actor.trap_exit:
        if sender is not None and sender is target.parent:
            target.exit(reason)
        else:
            from_ref = sender.ref if sender is not None else origin or target.ref
            target.deliver_system(Exit(from_ref, reason))
        return
    if reason.kind != "normal":
        target.exit(reason)
