"""The thespian actors that supervise OS processes: one supervisor, one owner per process.

thespian's ``multiprocTCPBase`` runs every actor in its own OS process, so a
crash of a supervised program (kill -9, segfault, the OOM killer) cannot take
its supervisor down with it. The supervisor actor applies the OTP rules; each
owner actor starts one program, watches it through a pidfd (woken by thespian's
``ThespianWatch`` the moment the program exits, without polling) and stops it
with SIGTERM, then SIGKILL after the spec's shutdown timeout.

Everything here runs in thespian's processes, whose logging thespian takes
over: the supervisor reports events as plain dicts to the host process, which
relays them to the :class:`~enotime.process.ProcessSupervisor` that logs them.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import os
import signal
import subprocess
from dataclasses import dataclass
from typing import Any, Final

from thespian.actors import (  # type: ignore[import-untyped]
    Actor as ThespianActor,
)
from thespian.actors import (
    ActorExitRequest,
    ChildActorExited,
    ThespianWatch,
    WatchMessage,
)

from enotime._supervisor import Restart
from enotime.process._spec import ProcessSpec, RestartIntensity

__all__ = ["ProcessOwnerActor", "ProcessSupervisorActor"]

_PR_SET_PDEATHSIG: Final = 1
REACHED_MAX_RESTART_INTENSITY: Final = "reached_max_restart_intensity"
START_FAILED: Final = "start_failed"


# -- messages between the host, the supervisor actor and the owners ---------------------------
# They travel between our own processes only (thespian pickles them on loopback).


@dataclass(frozen=True, slots=True)
class Configure:
    """Host -> supervisor: start these children, in order."""

    children: tuple[ProcessSpec, ...]
    max_restarts: int
    max_seconds: float


@dataclass(frozen=True, slots=True)
class StopAll:
    """Host -> supervisor: stop every child in reverse start order."""


@dataclass(frozen=True, slots=True)
class StartProcess:
    """Supervisor -> owner: start (or restart) the program."""

    spec: ProcessSpec


@dataclass(frozen=True, slots=True)
class StopProcess:
    """Supervisor -> owner: SIGTERM the program, SIGKILL it after the shutdown timeout."""

    id: str


@dataclass(frozen=True, slots=True)
class ProcessStarted:
    """Owner -> supervisor: the program was executed (``pid``), or could not be (``error``)."""

    id: str
    pid: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessExited:
    """Owner -> supervisor: the program exited by itself; ``code`` as ``Popen.returncode``."""

    id: str
    pid: int
    code: int


@dataclass(frozen=True, slots=True)
class ProcessStopped:
    """Owner -> supervisor: the program is gone after a :class:`StopProcess`."""

    id: str
    pid: int | None
    code: int | None
    killed: bool


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Make the kernel SIGKILL the program if its owner process dies (Linux ``prctl``)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ProcessOwnerActor(ThespianActor):  # type: ignore[misc]
    """Owns one OS process: starts it, reports its exit, stops it; never outlives it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spec: ProcessSpec | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfd: int | None = None
        self._last: tuple[int | None, int | None] = (None, None)
        self._supervisor: Any = None

    def receiveMessage(self, message: object, sender: Any) -> object:
        if isinstance(message, StartProcess):
            self._supervisor = sender
            self.send(sender, self._start(message.spec))
        elif isinstance(message, WatchMessage):
            exited = self._reap()
            if exited is not None and self._supervisor is not None:
                self.send(self._supervisor, exited)
        elif isinstance(message, StopProcess):
            self.send(sender, self._stop(message.id))
        elif isinstance(message, ActorExitRequest):
            self._stop()  # the actor system is going down: the program goes first
            return None
        # thespian forgets the watch unless every receiveMessage returns it again.
        return ThespianWatch([self._pidfd]) if self._pidfd is not None else None

    def _start(self, spec: ProcessSpec) -> ProcessStarted:
        if self._proc is not None and self._proc.poll() is None:
            return ProcessStarted(spec.id, self._proc.pid)
        self._spec = spec
        try:
            proc = subprocess.Popen(
                spec.argv,
                env={**os.environ, **spec.env},
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            return ProcessStarted(spec.id, None, f"{type(exc).__name__}: {exc}")
        self._proc = proc
        self._pidfd = os.pidfd_open(proc.pid)
        return ProcessStarted(spec.id, proc.pid)

    def _reap(self) -> ProcessExited | None:
        proc = self._proc
        if proc is None or self._spec is None or proc.poll() is None:
            return None
        self._forget(proc)
        return ProcessExited(self._spec.id, proc.pid, proc.returncode)

    def _stop(self, spec_id: str = "") -> ProcessStopped:
        proc = self._proc
        if proc is None:
            pid, code = self._last
            return ProcessStopped(spec_id, pid, code, killed=False)
        killed = False
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self._spec.shutdown if self._spec is not None else 0.0)
            except subprocess.TimeoutExpired:
                killed = True
                proc.kill()
                proc.wait()
        self._forget(proc)
        return ProcessStopped(spec_id, proc.pid, proc.returncode, killed)

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        self._proc = None
        self._last = (proc.pid, proc.returncode)


class _Phase(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    DONE = "done"


class _Child:
    __slots__ = ("owner", "pid", "restarts", "spec")

    def __init__(self, spec: ProcessSpec, owner: Any) -> None:
        self.spec = spec
        self.owner = owner
        self.pid: int | None = None
        self.restarts = 0


class ProcessSupervisorActor(ThespianActor):  # type: ignore[misc]
    """OTP ``one_for_one`` over OS processes, with restart types and restart intensity.

    Starts the children in order, each once the previous one was executed;
    restarts a child that exits by its restart type; when more than
    ``max_restarts`` restarts happen within ``max_seconds`` it stops every
    child in reverse order and reports ``gave_up``. Events go to the host as
    dicts with an ``event`` key.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._host: Any = None
        self._children: list[_Child] = []
        self._intensity: RestartIntensity | None = None
        self._phase = _Phase.STARTING
        self._to_start: list[_Child] = []
        self._to_stop: list[_Child] = []
        self._final: dict[str, Any] = {}

    def receiveMessage(self, message: object, sender: Any) -> None:
        if isinstance(message, Configure):
            self._configure(message, sender)
        elif isinstance(message, ProcessStarted):
            self._started(message)
        elif isinstance(message, ProcessExited):
            self._exited(message.id, message.pid, message.code)
        elif isinstance(message, ProcessStopped):
            self._stopped(message)
        elif isinstance(message, StopAll):
            self._stop_all({"event": "all_stopped"})
        elif isinstance(message, ChildActorExited):
            self._owner_lost(message.childAddress)

    def _emit(self, **event: Any) -> None:
        if self._host is not None:
            self.send(self._host, event)

    def _child(self, child_id: str) -> _Child | None:
        return next((c for c in self._children if c.spec.id == child_id), None)

    # -- starting ------------------------------------------------------------------------

    def _configure(self, message: Configure, host: Any) -> None:
        self._host = host
        self._intensity = RestartIntensity(message.max_restarts, message.max_seconds)
        for spec in message.children:
            owner = self.createActor(ProcessOwnerActor)
            self._children.append(_Child(spec, owner))
        self._to_start = list(self._children)
        self._start_next()

    def _start_next(self) -> None:
        if self._phase is not _Phase.STARTING:
            return
        if not self._to_start:
            self._phase = _Phase.RUNNING
            self._emit(event="ready")
            return
        self.send(self._to_start[0].owner, StartProcess(self._to_start[0].spec))

    def _started(self, message: ProcessStarted) -> None:
        entry = self._child(message.id)
        if entry is None:
            return
        initial = bool(self._to_start) and self._to_start[0] is entry
        if message.pid is None:
            self._emit(event="start_failed", id=entry.spec.id, error=message.error)
            if initial or self._phase is _Phase.STARTING:
                self._give_up(START_FAILED)
            elif self._phase is _Phase.RUNNING:
                self._restart(entry, pid=None, code=None)
            return
        entry.pid = message.pid
        self._emit(event="started", id=entry.spec.id, pid=message.pid, restarts=entry.restarts)
        if initial:
            self._to_start.pop(0)
            self._start_next()

    # -- exits and restarts ------------------------------------------------------------------

    def _exited(self, child_id: str, pid: int | None, code: int | None) -> None:
        entry = self._child(child_id)
        if entry is None:
            return
        entry.pid = None
        if self._phase in (_Phase.STOPPING, _Phase.DONE):
            self._emit(event="exited", id=child_id, pid=pid, code=code, action="none")
            return
        restart = entry.spec.restart
        if restart is Restart.TEMPORARY:
            self._children.remove(entry)
            self._emit(event="exited", id=child_id, pid=pid, code=code, action="removed")
        elif restart is Restart.TRANSIENT and code == 0:
            self._emit(event="exited", id=child_id, pid=pid, code=code, action="none")
        else:
            self._restart(entry, pid, code)

    def _restart(self, entry: _Child, pid: int | None, code: int | None) -> None:
        assert self._intensity is not None
        if not self._intensity.allow():
            self._emit(event="exited", id=entry.spec.id, pid=pid, code=code, action="give_up")
            self._give_up(REACHED_MAX_RESTART_INTENSITY)
            return
        entry.restarts += 1
        self._emit(event="exited", id=entry.spec.id, pid=pid, code=code, action="restart")
        self.send(entry.owner, StartProcess(entry.spec))

    def _owner_lost(self, address: Any) -> None:
        entry = next((c for c in self._children if c.owner == address), None)
        if entry is None or self._phase is _Phase.DONE:
            return
        # The owner's death killed its program too (PR_SET_PDEATHSIG): replace both.
        entry.owner = self.createActor(ProcessOwnerActor)
        if self._phase is _Phase.STOPPING:
            if self._to_stop and self._to_stop[0] is entry:
                self._stopped(ProcessStopped(entry.spec.id, entry.pid, None, killed=True))
            return
        if self._to_start and self._to_start[0] is entry:
            self.send(entry.owner, StartProcess(entry.spec))
            return
        pid = entry.pid
        self._exited(entry.spec.id, pid, None)

    # -- stopping ------------------------------------------------------------------------

    def _give_up(self, reason: str) -> None:
        self._stop_all({"event": "gave_up", "reason": reason})

    def _stop_all(self, final: dict[str, Any]) -> None:
        if self._phase in (_Phase.STOPPING, _Phase.DONE):
            return
        self._phase = _Phase.STOPPING
        self._final = final
        self._to_start = []
        self._to_stop = list(reversed(self._children))
        self._stop_next()

    def _stop_next(self) -> None:
        if not self._to_stop:
            self._phase = _Phase.DONE
            self._emit(**self._final)
            return
        self.send(self._to_stop[0].owner, StopProcess(self._to_stop[0].spec.id))

    def _stopped(self, message: ProcessStopped) -> None:
        if not self._to_stop or self._to_stop[0].spec.id != message.id:
            return
        entry = self._to_stop.pop(0)
        if message.pid is not None and entry.pid is not None:
            self._emit(
                event="stopped",
                id=message.id,
                pid=message.pid,
                code=message.code,
                killed=message.killed,
            )
        entry.pid = None
        self._stop_next()
