"""One actor in its own OS process, inside an in-node supervision tree.

:func:`isolated` makes a child spec whose in-node part is an
:class:`IsolatedProxy`: registered under the child's name, it starts the
actor's own node (``enotime run`` in a :class:`~enotime.process.ProcessSupervisor`,
connected to the parent's RabbitMQ with the parent's wire keys), waits until
that node answers, links to the remote actor and forwards every message to it.
When the process dies (kill -9, segfault, OOM, ``os._exit``) the proxy exits
with ``noconnection``, or with the remote actor's own exit reason, and its
supervisor restarts it by OTP's rules -- which starts a new process. When the
proxy stops, so does the process: SIGTERM, then SIGKILL after the grace.

The isolated process runs :func:`launch` (``enotime run
enotime.process._isolated:launch``), configured through its environment: a
root actor that starts the user's actor under its name and answers the
proxy's readiness probe. See ``docs/processes.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from enotime._actor import Actor, ActorRef
from enotime._connect import AMQP_URL_ENV
from enotime._gateway import RemoteRef
from enotime._handler import handler
from enotime._reason import NORMAL, SHUTDOWN, ExitReason
from enotime._supervisor import ChildSpec, Restart
from enotime.errors import CallTimeout, EnotimeError, StartFailed
from enotime.messages import Exit, Request
from enotime.process._spec import ProcessSpec, node_process
from enotime.process._supervisor import ProcessEvent, ProcessSupervisor, _describe_status
from enotime.transport import RemoteError, Unroutable, message
from enotime.transport._keys import ENV_VAR as WIRE_KEYS_ENV

if TYPE_CHECKING:
    from enotime._node import Node
    from enotime.transport._amqp import AmqpTransport

__all__ = ["IsolatedProcess", "IsolatedProxy", "isolated", "isolated_process", "launch"]

log = logging.getLogger("enotime.process")

ISOLATED_ENV: Final = "ENOTIME_ISOLATED"
"""What the isolated process runs: ``{"actor", "name", "args", "kwargs", "shutdown"}`` as JSON."""
LAUNCHER: Final = "enotime.process._isolated:launch"
"""The ``enotime run`` target of an isolated process."""
BEACON: Final = "enotime.isolated"
"""The name, on an isolated node, of its root: it answers the proxy's readiness probe."""
NODE_MARGIN: Final = 5.0
"""Seconds between the isolated node's own ``--shutdown-timeout`` and its SIGKILL."""
TEARDOWN_MARGIN: Final = 15.0
"""Seconds the proxy's stop gets beyond the SIGKILL: thespian and its host go too."""
QUEUE_TIMEOUT: Final = 10.0
"""Seconds deleting the isolated node's queue may take."""
PROBE_TIMEOUT: Final = 2.0
"""Seconds one readiness probe waits (a restarted node's durable queue holds it meanwhile)."""
_PAUSE_MIN, _PAUSE_MAX = 0.02, 0.5
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_MAX_NODE_NAME: Final = 128


@message("enotime.process.IsolatedProbe", version=1)
@dataclass(frozen=True)
class _Probe(Request[int]):
    """The proxy -> the isolated node's root: are you up? The answer is the process's PID."""


@dataclass(frozen=True, slots=True)
class IsolatedProcess:
    """Where an isolated actor runs, as :func:`isolated_process` reports it."""

    node: str
    """The isolated node's name, ``<parent node>-<child name>``."""
    pid: int
    """The PID of the ``enotime run`` process that runs the actor."""
    ref: RemoteRef
    """The actor itself, reached through the transport (what the proxy forwards to)."""


@dataclass(frozen=True, slots=True)
class _WhereIsolated(Request[IsolatedProcess]):
    """Asks the proxy itself (never forwarded) where its actor runs."""


@dataclass(frozen=True, slots=True)
class _Isolation:
    """What an :class:`IsolatedProxy` starts: made by :func:`isolated`, validated there."""

    target: str
    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    grace: float = 5.0
    brutal_kill: bool = False
    start_timeout: float = 60.0
    call_timeout: float | None = None
    run_options: tuple[str, ...] = ()

    def process_shutdown(self) -> float:
        """Seconds from SIGTERM to SIGKILL: the node's own stop, and a margin (none if brutal)."""
        return 0.0 if self.brutal_kill else self.grace + NODE_MARGIN

    def config(self) -> str:
        """The JSON the isolated process reads from ``ENOTIME_ISOLATED``."""
        return json.dumps(
            {
                "actor": self.target,
                "name": self.name,
                "args": list(self.args),
                "kwargs": dict(self.kwargs),
                "shutdown": self.grace,
            }
        )


def isolated(
    actor: str | type[Actor],
    /,
    *args: Any,
    name: str,
    id: str | None = None,
    restart: Restart = Restart.PERMANENT,
    shutdown: float | Literal["brutal_kill"] = 5.0,
    start_timeout: float = 60.0,
    call_timeout: float | None = None,
    run_options: Sequence[str] = (),
    **kwargs: Any,
) -> ChildSpec:
    """A child spec that runs ``actor(*args, **kwargs)`` in its own OS process.

    Put it in any in-node tree, as :func:`~enotime.child`. The in-node child
    is an :class:`IsolatedProxy` registered as ``name``; the actor runs in
    node ``<parent node>-<name>``, registered as ``name`` there too. The
    parent node must be connected to RabbitMQ (``enotime run --amqp``, or
    ``node.connect(AmqpTransport(...))``); messages to the actor must be wire
    messages (``@message``), as for any actor on another node.

    Args:
        actor: An :class:`~enotime.Actor` subclass defined at the top level of
            an importable module, or ``"module:attribute"`` naming one (the
            other process imports it; it cannot receive a class object).
        args: Arguments of the actor, JSON values (they travel as JSON).
        name: The registered name, here and in the isolated node;
            ``[A-Za-z0-9_-]``, it is part of the node's name.
        id: The child id (default: ``name``).
        restart: As for any child: a restart starts a new process.
        shutdown: Seconds the isolated node gets to stop its actor after
            SIGTERM, SIGKILL :data:`NODE_MARGIN` seconds later
            (``brutal_kill``: SIGKILL at once); the proxy's own shutdown in
            the tree adds :data:`TEARDOWN_MARGIN` to that.
        start_timeout: Seconds the process may take to start and answer.
        call_timeout: Seconds a forwarded call may take (None: as long as the
            remote actor takes, up to the gateway's one hour; the link makes
            a dead process fail it at once).
        run_options: More ``enotime run`` options for the process
            (``("--log-level", "WARNING")``).
        kwargs: Keyword arguments of the actor, JSON values.

    Raises:
        TypeError: ``actor`` cannot be imported by another process (a class
            defined in a function, nested in a class, or in ``__main__``),
            or an argument is not JSON.
        ValueError: a bad ``name``, target string or number.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"isolated actor name {name!r}: use [A-Za-z0-9_-] (it is part of the node's name)"
        )
    grace = 0.0 if shutdown == "brutal_kill" else shutdown
    if not isinstance(grace, int | float) or not 0 <= grace < math.inf:  # NaN fails too
        raise ValueError(f"isolated {name!r}: shutdown is finite seconds >= 0 or 'brutal_kill'")
    if start_timeout <= 0 or (call_timeout is not None and call_timeout <= 0):
        raise ValueError(f"isolated {name!r}: timeouts must be > 0")
    isolation = _Isolation(
        target=_target(actor),
        name=name,
        args=args,
        kwargs=dict(kwargs),
        grace=float(grace),
        brutal_kill=shutdown == "brutal_kill",
        start_timeout=start_timeout,
        call_timeout=call_timeout,
        run_options=tuple(run_options),
    )
    try:
        isolation.config()
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"isolated {name!r}: the actor's arguments travel to its process as JSON: {exc}"
        ) from None
    return ChildSpec(
        id=id or name,
        factory=IsolatedProxy,
        args=(isolation,),
        restart=restart,
        shutdown=isolation.process_shutdown() + TEARDOWN_MARGIN,
        name=name,
    )


def _target(actor: str | type[Actor]) -> str:
    """``module:attribute`` for ``actor``, refusing what another process cannot import."""
    if isinstance(actor, str):
        module, _, attribute = actor.partition(":")
        if not module or not attribute.isidentifier():
            raise ValueError(f"expected 'module:attribute' naming an actor class, got {actor!r}")
        return actor
    if not isinstance(actor, type) or not issubclass(actor, Actor):
        raise TypeError(f"isolated() takes an Actor subclass or 'module:attribute', not {actor!r}")
    module, qualname = actor.__module__, actor.__qualname__
    where = f"{module}.{qualname}"
    if "<locals>" in qualname:
        raise TypeError(
            f"{where} is defined inside a function: the isolated process imports its actor, "
            "so define it at the top level of a module"
        )
    if "." in qualname:
        raise TypeError(
            f"{where} is nested in a class: the isolated process imports 'module:attribute', "
            "so define it at the top level of a module"
        )
    if module == "__main__":
        raise TypeError(
            f"{where} is defined in __main__, which is another program in the isolated "
            "process: move it to an importable module"
        )
    if getattr(sys.modules.get(module), qualname, None) is not actor:
        raise TypeError(f"{module}:{qualname} does not name {actor!r}: was it made dynamically?")
    return f"{module}:{qualname}"


async def isolated_process(ref: ActorRef[IsolatedProxy], timeout: float = 5.0) -> IsolatedProcess:
    """Where the isolated actor behind the proxy ``ref`` runs: its node, PID and remote ref."""
    return await ref.call(_WhereIsolated(), timeout=timeout)


class IsolatedProxy(Actor):
    """The in-node half of an isolated child: owns its process, forwards to its actor.

    Made by :func:`isolated` (not directly). Every message it gets, sent or
    called, is forwarded to the remote actor as a call, one at a time and in
    order, with the message's request context; a call gets the remote reply,
    and an error (a remote refusal, a timeout) is the caller's, never the
    proxy's crash. ``isolated_process(ref)`` asks the proxy itself.

    Linked to the remote actor: a crash there stops the proxy with that
    reason; the process's exit stops it with ``noconnection`` (or ``normal``
    for status 0: the actor stopped normally, or an operator stopped its
    node). Stopping the proxy -- or killing it -- stops the process. The
    isolated node's durable queue is the proxy's: deleted before a process
    starts and after it stopped, so that no message meant for a process that
    is gone reaches the next one.
    """

    # What a forwarded call can raise is the caller's error (a remote refusal, a timeout,
    # a transport or wire error, a message that cannot be encoded); anything else is a bug
    # of the proxy's, and crashes it as it should.
    refusals = (EnotimeError, TypeError, ValueError)

    def __init__(self, isolation: _Isolation) -> None:
        self._isolation = isolation
        self._owner: _ProcessThread | None = None
        self._guard: asyncio.Future[ExitReason] | None = None
        self._remote: RemoteRef | None = None
        self._transport: AmqpTransport | None = None
        self._node_name = ""
        self._pid = 0
        self._stopping = False
        self._cleanup: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        isolation = self._isolation
        node = self.node
        transport, options, env = _connection(node, isolation.name)
        self._transport = transport
        self._node_name = node_name = f"{node.name}-{isolation.name}"
        if len(node_name) > _MAX_NODE_NAME:
            raise ValueError(f"isolated node name {node_name!r} is longer than 128 characters")
        await self._drop_queue()  # left by a parent that was killed: for no one alive now
        spec = node_process(
            LAUNCHER,
            name=node_name,
            id=isolation.name,
            restart=Restart.TEMPORARY,  # the in-node supervisor restarts, never the process one
            shutdown=isolation.process_shutdown(),
            options=[
                *isolation.run_options,
                "--shutdown-timeout",
                str(isolation.grace),
                *options,
            ],
            env={**env, ISOLATED_ENV: isolation.config()},
        )
        owner = self._owner = _ProcessThread(spec, node.loop, isolation.start_timeout)
        owner.start()
        # Whatever ends this actor -- a stop, a kill, the loop's end -- ends the process.
        self._guard = guard = asyncio.ensure_future(self.ref.wait_stopped())
        guard.add_done_callback(lambda _: owner.request_stop())
        owner.gone.add_done_callback(self._process_gone)
        owner.closed.add_done_callback(self._closed)
        try:
            pid = await asyncio.shield(owner.started)
            if pid is None:
                raise RuntimeError(f"isolated {isolation.name!r}: {owner.failure}")
            self._pid = pid
            await self._until_ready(node.remote(node_name, BEACON))
        except BaseException:
            self._stopping = True
            await self._stop_process()  # start means ready, or nothing is left (on_stop won't run)
            raise
        self._remote = node.remote(node_name, isolation.name)
        self.link(self._remote)

    async def _until_ready(self, beacon: RemoteRef) -> None:
        """Probe the isolated node's root until it answers (its actor is started then)."""
        loop = self.node.loop
        deadline = loop.time() + self._isolation.start_timeout
        pause = _PAUSE_MIN
        while (left := deadline - loop.time()) > 0:
            try:
                await beacon.call(_Probe(), timeout=min(left, PROBE_TIMEOUT))
                return
            except (Unroutable, CallTimeout):  # its queue is not declared yet, or not served
                pass
            except RemoteError as exc:
                if exc.error_type != "UnknownActor":  # served, but its tree is not started yet
                    raise
            await asyncio.sleep(min(pause, max(deadline - loop.time(), 0.0)))
            pause = min(pause * 2, _PAUSE_MAX)
        raise TimeoutError(
            f"isolated {self._isolation.name!r}: node {self._node_name} did not answer "
            f"within {self._isolation.start_timeout:g} s"
        )

    def _process_gone(self, gone: asyncio.Future[ProcessEvent]) -> None:
        owner = self._owner
        assert owner is not None
        if gone.cancelled() or not owner.started.done() or owner.started.result() is None:
            return  # it never started: on_start says why
        event = gone.result()
        if event.kind == "exited" and event.code == 0:
            self.stop(NORMAL)
            return
        how = _describe_status(event.code) if event.kind == "exited" else event.detail or event.kind
        pid = event.pid or owner.started.result()
        self.stop(ExitReason("noconnection", f"process {pid} of {self._node_name} exited: {how}"))

    def _closed(self, _: asyncio.Future[list[int]]) -> None:
        """The process is gone: if this proxy was killed (no ``on_stop``), drop its queue now.

        Unless a new proxy holds the name already: it drops the queue itself
        before its process starts, and this one must not delete that one's.
        """
        if self._stopping or self.node.whereis(self._isolation.name) not in (None, self.ref):
            return
        self._cleanup = self.node.loop.create_task(self._drop_queue())

    @handler
    def _where(self, _: _WhereIsolated) -> IsolatedProcess:
        assert self._remote is not None
        return IsolatedProcess(self._node_name, self._pid, self._remote)

    @handler(object)
    async def _forward(self, msg: object) -> object:
        assert self._remote is not None
        return await self._remote.call(msg, timeout=self._isolation.call_timeout)

    async def on_stop(self, reason: ExitReason) -> None:
        self._stopping = True
        if self._remote is not None:
            self.unlink(self._remote)  # stopped on purpose: its node stops it in order
        await self._stop_process()

    async def _stop_process(self) -> None:
        """Stop the process and its supervisor, then delete the isolated node's queue."""
        owner = self._owner
        if owner is None:
            return
        owner.request_stop()
        leftovers = await asyncio.shield(owner.closed)
        if leftovers:
            log.warning("isolated %s: killed %d leftovers by PID", self._node_name, len(leftovers))
        await self._drop_queue()

    async def _drop_queue(self) -> None:
        """Delete the isolated node's durable queue; its process is not running.

        What waits there was sent to a process that is gone, and its callers
        were told (``ActorExited``): redelivered to the next process, a
        message that crashed this one would crash that one too.
        """
        from enotime.transport import Address

        transport = self._transport
        if transport is None:
            return
        queue = transport.queue_name(Address.actor_on(self._node_name, self._isolation.name))
        try:
            async with asyncio.timeout(QUEUE_TIMEOUT):
                channel = await transport.connection.channel()
                try:
                    await channel.queue_delete(queue)
                finally:
                    await channel.close()
        except Exception as exc:  # the broker is away: the next start tries again
            log.warning("isolated %s: cannot delete queue %s: %r", self._node_name, queue, exc)


def _connection(node: Node, name: str) -> tuple[AmqpTransport, list[str], dict[str, str]]:
    """``node``'s transport, and the ``enotime run`` options and environment that connect
    the process like it.

    The broker URL and the wire keys go in the environment, never on the
    command line (where any local user could read them).
    """
    gateway = node.gateway
    if gateway is None:
        raise RuntimeError(
            f"isolated {name!r} runs in another OS process and is reached through RabbitMQ, "
            f"but node {node.name!r} is not connected: run it with `enotime run ... --amqp`, "
            "or `await node.connect(AmqpTransport(...))` before the tree starts"
        )
    transport = gateway.transport
    try:
        from enotime.transport._amqp import AmqpTransport
    except ImportError as exc:
        raise TypeError(
            f"isolated {name!r} needs the AMQP transport (enotime[amqp]): {exc}"
        ) from None
    if not isinstance(transport, AmqpTransport):
        raise TypeError(
            f"isolated {name!r} needs a transport that reaches other OS processes "
            f"(AmqpTransport, RabbitMQ); node {node.name!r} is connected through "
            f"{type(transport).__name__}, which does not"
        )
    keyring = transport.codec.keyring
    kids = [keyring.current, *(kid for kid in keyring.kids if kid != keyring.current)]
    keys = ",".join(keyring.key(kid).encoded() for kid in kids)  # the first encrypts
    options = ["--amqp", "--amqp-exchange", transport.exchange]
    return transport, options, {AMQP_URL_ENV: transport.url, WIRE_KEYS_ENV: keys}


class _ProcessThread:
    """One :class:`ProcessSupervisor` of one process, in a thread: its calls block.

    The thread starts the supervisor (``started``: the PID, or None and
    ``failure``), waits for the process to exit (``gone``) or for
    :meth:`request_stop`, then stops the supervisor -- SIGTERM, SIGKILL after
    the spec's shutdown, thespian down, stragglers killed by PID -- and
    reports ``closed`` with those stragglers. A daemon thread: if this
    program ends first, the supervisor's host sees its stdin close and stops
    everything by itself.
    """

    def __init__(
        self, spec: ProcessSpec, loop: asyncio.AbstractEventLoop, start_timeout: float
    ) -> None:
        self.started: asyncio.Future[int | None] = loop.create_future()
        self.gone: asyncio.Future[ProcessEvent] = loop.create_future()
        self.closed: asyncio.Future[list[int]] = loop.create_future()
        self.failure = ""
        self._spec = spec
        self._loop = loop
        self._start_timeout = start_timeout
        self._wake_read, self._wake_write = os.pipe()
        self._lock = threading.Lock()
        self._open = True
        self._stop_requested = False
        self._thread = threading.Thread(
            target=self._run, name=f"enotime-isolated-{spec.id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop the process (from any thread; idempotent)."""
        with self._lock:
            if self._open and not self._stop_requested:
                self._stop_requested = True
                os.write(self._wake_write, b"!")

    def _run(self) -> None:
        supervisor: ProcessSupervisor | None = None
        try:
            supervisor = ProcessSupervisor(
                [self._spec], max_restarts=0, max_seconds=1.0, start_timeout=self._start_timeout
            )
            supervisor.start()
            self._settle(self.started, supervisor.children()[0].pid)
            while True:
                event = supervisor.next_event(wake=[self._wake_read])
                if event is None:
                    break  # stop requested
                if event.kind in ("exited", "closed", "gave_up", "error"):
                    self._settle(self.gone, event)
                    break
        except StartFailed as failure:
            self.failure = f"its process could not start: {failure.reason}"
        except Exception as exc:  # a bug here must not leave the process behind
            self.failure = f"its process supervisor failed: {exc!r}"
            log.exception("isolated %s: the process supervisor failed", self._spec.id)
        finally:
            leftovers: list[int] = []
            try:
                if supervisor is not None:
                    supervisor.stop()  # idempotent
                    leftovers = supervisor.leftovers
            except Exception:
                log.exception("isolated %s: stopping the process supervisor failed", self._spec.id)
            with self._lock:
                self._open = False
                os.close(self._wake_read)
                os.close(self._wake_write)
            self._settle(self.started, None)
            self._settle(self.gone, ProcessEvent("closed", self._spec.id))
            self._settle(self.closed, leftovers)

    def _settle(self, future: asyncio.Future[Any], value: object) -> None:
        def settle() -> None:
            if not future.done():
                future.set_result(value)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(settle)


# -- in the isolated process ---------------------------------------------------------------


class _IsolatedRoot(Actor):
    """The root of an isolated node: starts the actor, answers probes, ends the node with it.

    The actor stopping normally ends the node with status 0, abnormally with
    status 1: the proxy's restart type decides what happens next, never
    this node.
    """

    trap_exit = True

    def __init__(
        self, factory: Any, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], grace: float
    ) -> None:
        self._factory = factory
        self._name = name
        self._args = tuple(args)
        self._kwargs = dict(kwargs)
        self._grace = grace
        self._child: ActorRef[Any] | None = None

    async def on_start(self) -> None:
        self._child = await self.spawn(
            self._factory, *self._args, link=True, name=self._name, **self._kwargs
        )

    @handler
    def _probe(self, _: _Probe) -> int:
        return os.getpid()

    @handler
    def _exited(self, msg: Exit) -> None:
        if msg.sender != self._child:
            return
        self._child = None
        if msg.reason.is_normal:
            self.node.request_stop()
        else:
            self.stop(msg.reason)

    async def on_stop(self, reason: ExitReason) -> None:
        child, self._child = self._child, None
        if child is not None:
            self.unlink(child)
            await self.node.stop(child, SHUTDOWN, timeout=self._grace)


def launch() -> ChildSpec:
    """The tree of an isolated process: ``enotime run enotime.process._isolated:launch``.

    Reads ``ENOTIME_ISOLATED`` (set by the proxy); not for direct use.
    """
    from enotime._cli import _load

    raw = os.environ.get(ISOLATED_ENV)
    if not raw:
        raise SystemExit(f"enotime: {LAUNCHER} runs an isolated actor: ${ISOLATED_ENV} is not set")
    config = json.loads(raw)
    return ChildSpec(
        id="isolated",
        factory=_IsolatedRoot,
        args=(
            _load(config["actor"]),
            config["name"],
            config["args"],
            config["kwargs"],
            float(config["shutdown"]),
        ),
        shutdown="infinity",
        name=BEACON,
    )
