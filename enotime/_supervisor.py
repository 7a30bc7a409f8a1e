"""Supervisors: OTP's restart strategies, restart types and restart intensity.

A supervisor is an actor that traps exits and is linked to its children. It
starts them in order, restarts them by its strategy when they stop, stops
them in reverse order when it stops, and gives up -- stopping itself with
``shutdown(reached_max_restart_intensity)`` so its own supervisor decides --
when more than ``max_restarts`` restarts happen within ``max_seconds``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple

from enotime._actor import Actor, ActorRef
from enotime._handler import handler
from enotime._reason import SHUTDOWN, ExitReason
from enotime.errors import ChildNotFound, Refused, StartFailed
from enotime.messages import Exit, Request

__all__ = [
    "ChildInfo",
    "ChildSpec",
    "DynamicSupervisor",
    "Restart",
    "ShutdownPolicy",
    "Strategy",
    "Supervisor",
    "SupervisorStatistics",
    "child",
    "count_children",
    "delete_child",
    "restart_child",
    "start_child",
    "supervisor",
    "terminate_child",
    "which_children",
]

log = logging.getLogger("enotime.supervisor")

REACHED_MAX_RESTART_INTENSITY = "reached_max_restart_intensity"


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them stops."""

    ONE_FOR_ONE = "one_for_one"
    """Only the child that stopped."""
    ONE_FOR_ALL = "one_for_all"
    """All children: the others are stopped (in reverse order) and all restarted."""
    REST_FOR_ONE = "rest_for_one"
    """The child that stopped and every child started after it."""


class Restart(enum.Enum):
    """When a child is restarted."""

    PERMANENT = "permanent"
    """Always."""
    TRANSIENT = "transient"
    """Only when it stopped abnormally (not ``normal`` nor ``shutdown``)."""
    TEMPORARY = "temporary"
    """Never; its spec is forgotten when it stops."""


ShutdownPolicy = float | Literal["brutal_kill", "infinity"]
"""Seconds to wait for ``on_stop`` before killing, or ``brutal_kill``, or ``infinity``."""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    Build one with :func:`child` or :func:`supervisor` rather than by hand.
    """

    id: str
    factory: Callable[..., Actor]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    restart: Restart = Restart.PERMANENT
    shutdown: ShutdownPolicy = 5.0
    name: str | None = None
    is_supervisor: bool = False

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a child spec needs a non-empty id")
        if isinstance(self.shutdown, str) and self.shutdown not in ("brutal_kill", "infinity"):
            raise ValueError(
                f"shutdown must be seconds, 'brutal_kill' or 'infinity', not {self.shutdown!r}"
            )
        if isinstance(self.shutdown, float | int) and self.shutdown < 0:
            raise ValueError("shutdown seconds must be >= 0")


def child(
    factory: Callable[..., Actor],
    /,
    *args: Any,
    id: str | None = None,
    name: str | None = None,
    restart: Restart = Restart.PERMANENT,
    shutdown: ShutdownPolicy | None = None,
    **kwargs: Any,
) -> ChildSpec:
    """A child spec for ``factory(*args, **kwargs)``.

    The id defaults to the registered name, then the class name. A
    :class:`Supervisor` subclass is marked as a supervisor child, whose
    shutdown defaults to ``infinity`` (it stops its own children first);
    workers default to 5 seconds.
    """
    is_sup = isinstance(factory, type) and issubclass(factory, Supervisor)
    return ChildSpec(
        id=id or name or str(getattr(factory, "__name__", "child")),
        factory=factory,
        args=args,
        kwargs=kwargs,
        restart=restart,
        shutdown=shutdown if shutdown is not None else ("infinity" if is_sup else 5.0),
        name=name,
        is_supervisor=is_sup,
    )


def supervisor(
    id: str,
    children: Sequence[ChildSpec],
    *,
    strategy: Strategy = Strategy.ONE_FOR_ONE,
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    name: str | None = None,
    restart: Restart = Restart.PERMANENT,
) -> ChildSpec:
    """A child spec for a plain :class:`Supervisor` over ``children`` (nest freely)."""
    return ChildSpec(
        id=id,
        factory=Supervisor,
        kwargs={
            "children": tuple(children),
            "strategy": strategy,
            "max_restarts": max_restarts,
            "max_seconds": max_seconds,
        },
        restart=restart,
        shutdown="infinity",
        name=name,
        is_supervisor=True,
    )


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child as ``which_children`` reports it."""

    id: str
    ref: ActorRef[Any] | None
    restart: Restart
    is_supervisor: bool
    restarts: int


@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    """Counters of one supervisor, for inspection and metrics."""

    strategy: Strategy
    children: int
    running: int
    restarts_total: int
    restarts_by_child: Mapping[str, int]


# -- the supervisor's protocol ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartChild(Request[ActorRef[Any]]):
    spec: ChildSpec


@dataclass(frozen=True, slots=True)
class TerminateChild(Request[None]):
    id: str


@dataclass(frozen=True, slots=True)
class RestartChild(Request[ActorRef[Any]]):
    id: str


@dataclass(frozen=True, slots=True)
class DeleteChild(Request[None]):
    id: str


@dataclass(frozen=True, slots=True)
class WhichChildren(Request[list[ChildInfo]]):
    pass


@dataclass(frozen=True, slots=True)
class GetStatistics(Request[SupervisorStatistics]):
    pass


@dataclass(frozen=True, slots=True)
class _RetryRestart:
    child: _Child


class _Inspection(NamedTuple):
    """A supervisor's state as ``enotime status`` shows it (read-only, no message)."""

    strategy: Strategy
    max_restarts: int
    max_seconds: float
    restarts_total: int
    children: list[tuple[ChildSpec, ActorRef[Any] | None, int]]
    """``(spec, ref while it runs or None, restarts)`` of every child, in start order."""


class _Child:
    __slots__ = ("ref", "restarts", "spec")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.ref: ActorRef[Any] | None = None
        self.restarts = 0

    def info(self) -> ChildInfo:
        spec = self.spec
        return ChildInfo(spec.id, self.ref, spec.restart, spec.is_supervisor, self.restarts)


class Supervisor(Actor):
    """An actor that starts, watches and restarts its children by OTP's rules.

    Configure it by arguments, or subclass it and override :meth:`child_specs`
    and the class attributes ``strategy``, ``max_restarts`` and ``max_seconds``.

    Example:
        >>> class Tree(Supervisor):
        ...     strategy = Strategy.REST_FOR_ONE
        ...
        ...     def child_specs(self) -> list[ChildSpec]:
        ...         return [child(Database), child(Cache), child(Api)]
    """

    trap_exit = True
    strategy: ClassVar[Strategy] = Strategy.ONE_FOR_ONE
    max_restarts: ClassVar[int] = 3
    max_seconds: ClassVar[float] = 5.0

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        strategy: Strategy | None = None,
        max_restarts: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self._given = tuple(children)
        self._strategy = strategy or type(self).strategy
        self._max_restarts = type(self).max_restarts if max_restarts is None else max_restarts
        self._max_seconds = type(self).max_seconds if max_seconds is None else max_seconds
        if self._max_restarts < 0 or self._max_seconds <= 0:
            raise ValueError("max_restarts must be >= 0 and max_seconds > 0")
        self._children: list[_Child] = []
        self._restart_times: deque[float] = deque()
        self._restarts_total = 0

    def child_specs(self) -> Sequence[ChildSpec]:
        """The children to start, in order; override in a subclass."""
        return self._given

    # -- lifecycle ---------------------------------------------------------------------

    async def on_start(self) -> None:
        for spec in self.child_specs():
            self._check_unique(spec.id)
            entry = _Child(spec)
            try:
                entry.ref = await self._spawn_child(spec)
            except StartFailed as failure:
                log.error("%r: child %r failed to start: %s", self.ref, spec.id, failure.reason)
                await self._stop_children(self._children)
                raise StartFailed(f"child {spec.id!r} of {self.ref!r}", failure.reason) from failure
            self._children.append(entry)

    async def on_stop(self, reason: ExitReason) -> None:
        await self._stop_children(self._children)

    # -- exits of children -------------------------------------------------------------

    @handler
    async def _child_exited(self, message: Exit) -> None:
        entry = self._find_running(message.sender)
        if entry is None:
            return  # a child we already stopped on purpose, or a stranger's link
        entry.ref = None
        spec, reason = entry.spec, message.reason
        if spec.restart is Restart.TEMPORARY:
            self._children.remove(entry)
            log.info("%r: temporary child %r stopped (%s)", self.ref, spec.id, reason)
            return
        if spec.restart is Restart.TRANSIENT and reason.is_normal:
            log.info("%r: transient child %r stopped (%s)", self.ref, spec.id, reason)
            return
        log.warning("%r: child %r stopped (%s), restarting", self.ref, spec.id, reason)
        await self._restart(entry)

    @handler
    async def _retry_restart(self, message: _RetryRestart) -> None:
        if message.child in self._children and message.child.ref is None:
            await self._restart(message.child)

    async def _restart(self, failed: _Child) -> None:
        if not self._within_intensity():
            log.error(
                "%r: more than %d restarts in %g s, giving up",
                self.ref,
                self._max_restarts,
                self._max_seconds,
            )
            self.stop(ExitReason.shutdown(REACHED_MAX_RESTART_INTENSITY))
            return
        self._restarts_total += 1
        failed.restarts += 1
        self.node._count_restart(self._label(), self._metric_child(failed.spec))
        position = self._children.index(failed)
        if self._strategy is Strategy.ONE_FOR_ONE:
            group = [failed]
        elif self._strategy is Strategy.ONE_FOR_ALL:
            group = list(self._children)
        else:
            group = self._children[position:]
        await self._stop_children([c for c in group if c is not failed])
        for entry in group:
            if entry is not failed and entry.spec.restart is Restart.TEMPORARY:
                self._children.remove(entry)
                continue
            try:
                entry.ref = await self._spawn_child(entry.spec)
            except StartFailed as failure:
                log.error("%r: restart of %r failed: %s", self.ref, entry.spec.id, failure.reason)
                self.ref.send(_RetryRestart(entry))
                return

    def _within_intensity(self) -> bool:
        now = self.node.clock.monotonic()
        times = self._restart_times
        times.append(now)
        while times and now - times[0] > self._max_seconds:
            times.popleft()
        return len(times) <= self._max_restarts

    # -- the supervisor's calls ----------------------------------------------------------

    @handler
    async def _start_child(self, message: StartChild) -> ActorRef[Any]:
        spec = message.spec
        self._check_unique(spec.id)
        entry = _Child(spec)
        entry.ref = await self._spawn_child(spec)
        self._children.append(entry)
        return entry.ref

    @handler
    async def _terminate_child(self, message: TerminateChild) -> None:
        entry = self._find(message.id)
        await self._stop_children([entry])
        if entry.spec.restart is Restart.TEMPORARY:
            self._children.remove(entry)

    @handler
    async def _restart_child(self, message: RestartChild) -> ActorRef[Any]:
        entry = self._find(message.id)
        if entry.ref is not None:
            raise Refused(f"child {message.id!r} of {self.ref!r} is running")
        entry.ref = await self._spawn_child(entry.spec)
        return entry.ref

    @handler
    def _delete_child(self, message: DeleteChild) -> None:
        entry = self._find(message.id)
        if entry.ref is not None:
            raise Refused(f"child {message.id!r} of {self.ref!r} is running; terminate it first")
        self._children.remove(entry)

    @handler
    def _which_children(self, message: WhichChildren) -> list[ChildInfo]:
        return [entry.info() for entry in self._children]

    @handler
    def _statistics(self, message: GetStatistics) -> SupervisorStatistics:
        return SupervisorStatistics(
            strategy=self._strategy,
            children=len(self._children),
            running=sum(1 for c in self._children if c.ref is not None),
            restarts_total=self._restarts_total,
            restarts_by_child={c.spec.id: c.restarts for c in self._children},
        )

    def _enotime_inspect(self) -> _Inspection:
        """This supervisor's state, read directly: inspection must not wait on a busy mailbox."""
        return _Inspection(
            self._strategy,
            self._max_restarts,
            self._max_seconds,
            self._restarts_total,
            [(c.spec, c.ref, c.restarts) for c in self._children],
        )

    # -- helpers -----------------------------------------------------------------------------

    async def _spawn_child(self, spec: ChildSpec) -> ActorRef[Any]:
        # The series exists, at 0, from the child's first start.
        self.node._count_restart(self._label(), self._metric_child(spec), 0)
        return await self.spawn(spec.factory, *spec.args, link=True, name=spec.name, **spec.kwargs)

    async def _stop_children(self, children: Sequence[_Child]) -> None:
        for entry in reversed(children):
            await self._stop_child(entry)

    async def _stop_child(self, entry: _Child) -> None:
        ref, entry.ref = entry.ref, None
        if ref is None:
            return
        self.unlink(ref)
        policy = entry.spec.shutdown
        if policy == "brutal_kill":
            await self.node.kill_and_wait(ref)
        else:
            timeout = None if policy == "infinity" else float(policy)
            await self.node.stop(ref, SHUTDOWN, timeout=timeout)

    def _label(self) -> str:
        """How metrics name this supervisor: its registered name, else its class."""
        return self.ref.name or type(self).__qualname__

    def _metric_child(self, spec: ChildSpec) -> str:
        """How metrics name a child of this supervisor: its id, fixed by the code's specs."""
        return spec.id

    def _find(self, child_id: str) -> _Child:
        for entry in self._children:
            if entry.spec.id == child_id:
                return entry
        raise ChildNotFound(f"{self.ref!r} has no child {child_id!r}")

    def _find_running(self, ref: ActorRef[Any]) -> _Child | None:
        for entry in self._children:
            if entry.ref is ref:
                return entry
        return None

    def _check_unique(self, child_id: str) -> None:
        if any(entry.spec.id == child_id for entry in self._children):
            raise Refused(f"{self.ref!r} already has a child {child_id!r}")


class DynamicSupervisor(Supervisor):
    """A supervisor whose children are all added at run time (``start_child``).

    The ``simple_one_for_one`` of OTP: strategy ``one_for_one``, child ids need
    not be unique, children are stopped concurrently when it stops, and
    ``max_children`` caps how many may run. Its restarts are counted by the
    child's factory (its actor class), not by the child id, which run-time
    code chooses: ``enotime_supervisor_restarts_total{child="Session"}``.
    """

    def __init__(
        self,
        *,
        max_children: int | None = None,
        max_restarts: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        super().__init__(
            (), strategy=Strategy.ONE_FOR_ONE, max_restarts=max_restarts, max_seconds=max_seconds
        )
        self._max_children = max_children

    def _metric_child(self, spec: ChildSpec) -> str:
        """Its children by their factory (the actor class): their ids are the caller's.

        A dynamic supervisor's child ids come from run time (``session-<uid>``),
        so labelling restarts by id would make one series per child, for ever;
        the factory is fixed by the code, so the label stays bounded.
        """
        factory = spec.factory
        return str(getattr(factory, "__qualname__", None) or type(factory).__qualname__)

    def _check_unique(self, child_id: str) -> None:
        if self._max_children is not None and len(self._children) >= self._max_children:
            raise Refused(f"{self.ref!r} already runs max_children={self._max_children}")

    async def _stop_children(self, children: Sequence[_Child]) -> None:
        await asyncio.gather(*(self._stop_child(entry) for entry in children))

    @handler
    async def _terminate_child(self, message: TerminateChild) -> None:
        for entry in self._children:
            if entry.spec.id == message.id and entry.ref is not None:
                await self._stop_child(entry)
                self._children.remove(entry)
                return
        raise ChildNotFound(f"{self.ref!r} has no running child {message.id!r}")


# -- calling a supervisor ---------------------------------------------------------------


async def start_child(sup: ActorRef[Supervisor], spec: ChildSpec) -> ActorRef[Any]:
    """Start a new child under ``sup``; returns once the child is ready."""
    return await sup.call(StartChild(spec), timeout=None)


async def terminate_child(sup: ActorRef[Supervisor], child_id: str) -> None:
    """Stop a child by id (it is not restarted); a temporary child is forgotten."""
    await sup.call(TerminateChild(child_id), timeout=None)


async def restart_child(sup: ActorRef[Supervisor], child_id: str) -> ActorRef[Any]:
    """Start again a child that was terminated or that stopped and was not restarted."""
    return await sup.call(RestartChild(child_id), timeout=None)


async def delete_child(sup: ActorRef[Supervisor], child_id: str) -> None:
    """Forget the spec of a child that is not running."""
    await sup.call(DeleteChild(child_id))


async def which_children(sup: ActorRef[Supervisor]) -> list[ChildInfo]:
    """The children of ``sup`` in start order, running or not."""
    return await sup.call(WhichChildren())


async def count_children(sup: ActorRef[Supervisor]) -> SupervisorStatistics:
    """Counters of ``sup``: children, running, restarts."""
    return await sup.call(GetStatistics())
