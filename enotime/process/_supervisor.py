"""The OS-process supervisor's public face: start, watch, stop -- and leave nothing behind."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Final

from enotime._reason import ExitReason
from enotime._supervisor import Restart
from enotime.errors import StartFailed
from enotime.process._hygiene import free_port, new_marker, reap_marked, with_marker
from enotime.process._spec import ProcessSpec, node_process

__all__ = ["ChildProcess", "ProcessEvent", "ProcessSupervisor", "spawn_process"]

log = logging.getLogger("enotime.process")

HOST_GRACE: Final = 10.0
"""Seconds the host gets beyond the children's shutdown timeouts to report it closed."""
REAP_GRACE: Final = 2.0
"""Seconds marked processes get to end by themselves after the host closed."""


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    """One thing that happened to the supervised processes.

    ``kind`` is one of ``started``, ``exited``, ``stopped``, ``start_failed``,
    ``ready`` (every child started), ``gave_up`` (restart intensity exceeded
    or a first start failed; ``detail`` says which), ``all_stopped``,
    ``error`` and ``closed`` (the supervisor is gone). For ``exited``,
    ``code`` is the exit status, or minus the signal number, and ``action``
    is ``restart``, ``none``, ``removed`` (temporary) or ``give_up``.
    """

    kind: str
    id: str | None = None
    pid: int | None = None
    code: int | None = None
    action: str | None = None
    restarts: int = 0
    killed: bool = False
    detail: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessEvent:
        """The event the host relayed as one JSON object."""
        return cls(
            kind=str(data["event"]),
            id=data.get("id"),
            pid=data.get("pid"),
            code=data.get("code"),
            action=data.get("action"),
            restarts=int(data.get("restarts", 0)),
            killed=bool(data.get("killed", False)),
            detail=data.get("reason") or data.get("error") or data.get("detail"),
        )


@dataclass(frozen=True, slots=True)
class ChildProcess:
    """One supervised child as :meth:`ProcessSupervisor.children` reports it."""

    id: str
    pid: int | None
    """None while it is not running."""
    restarts: int


class ProcessSupervisor:
    """Supervise OS processes with thespian actors, by OTP's ``one_for_one`` rules.

    Each child runs under its own thespian owner actor (an OS process of its
    own), and a thespian supervisor actor applies the restart types and the
    restart intensity: more than ``max_restarts`` restarts within
    ``max_seconds`` and it stops every child in reverse order and gives up.
    thespian runs in a host process this object starts; every process of the
    run carries a marker in its environment, and :meth:`stop` kills by PID
    any that outlived the orderly shutdown.

    Example:
        >>> specs = [node_process("app:tree", name=f"app-{i}") for i in (1, 2)]
        >>> with ProcessSupervisor(specs, max_restarts=3, max_seconds=5) as supervisor:
        ...     supervisor.children()
    """

    def __init__(
        self,
        children: Sequence[ProcessSpec],
        *,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        admin_port: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        ids = [spec.id for spec in children]
        if len(set(ids)) != len(ids):
            raise ValueError(f"child ids must be unique: {ids}")
        if max_restarts < 0 or max_seconds <= 0:
            raise ValueError("max_restarts must be >= 0 and max_seconds > 0")
        self.specs = tuple(children)
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.admin_port = admin_port
        self.start_timeout = start_timeout
        self.marker = new_marker()
        """Carried in ``ENOTIME_PROCESS_RUN`` by every process of this run."""
        self.gave_up = False
        """True once the supervisor gave up (its exit code is then 1)."""
        self.leftovers: list[int] = []
        """PIDs :meth:`stop` had to kill because they outlived the orderly shutdown."""
        self._host: subprocess.Popen[bytes] | None = None
        self._host_fd: int | None = None
        self._events_fd: int | None = None
        self._buffer = b""
        self._children = {spec.id: ChildProcess(spec.id, None, 0) for spec in children}
        self._closed = False

    # -- starting ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the host, thespian and every child in order; return once all were started.

        Raises:
            StartFailed: a child could not be executed, the supervisor gave up
                while starting, or nothing was ready within ``start_timeout``
                (everything started is stopped first).
        """
        if self._host is not None:
            raise RuntimeError("this ProcessSupervisor was already started")
        env = with_marker(os.environ, self.marker)
        read_end, write_end = os.pipe()
        try:
            self._host = subprocess.Popen(
                [sys.executable, "-m", "enotime.process._host", str(write_end)],
                stdin=subprocess.PIPE,
                pass_fds=(write_end,),
                env=env,
                start_new_session=True,  # Ctrl-C reaches us, and we stop the children in order
            )
        finally:
            os.close(write_end)
        self._events_fd = read_end
        self._host_fd = os.pidfd_open(self._host.pid)
        config = {
            "children": [spec.to_json() for spec in self.specs],
            "max_restarts": self.max_restarts,
            "max_seconds": self.max_seconds,
            "admin_port": self.admin_port or free_port(),
        }
        self._command(json.dumps(config))
        deadline = time.monotonic() + self.start_timeout
        while True:
            event = self.next_event(max(deadline - time.monotonic(), 0.0))
            if event is not None and event.kind == "ready":
                return
            if event is None or event.kind in ("gave_up", "closed", "error"):
                why = "nothing ready in time" if event is None else event.detail or event.kind
                self.stop()
                raise StartFailed("ProcessSupervisor", ExitReason.shutdown(why))

    # -- observing -----------------------------------------------------------------------

    def next_event(
        self, timeout: float | None = None, *, wake: Iterable[int] = ()
    ) -> ProcessEvent | None:
        """The next event, or None after ``timeout`` seconds or when a ``wake`` fd is readable.

        When the host process is gone, returns a ``closed`` event (once
        whatever it reported before has been returned).
        """
        if self._events_fd is None or self._host_fd is None:
            return ProcessEvent("closed")
        deadline = None if timeout is None else time.monotonic() + timeout
        watched = [self._events_fd, self._host_fd, *wake]
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            ready, _, _ = select.select(watched, [], [], left)
            if self._events_fd in ready:
                chunk = os.read(self._events_fd, 65536)
                if chunk:
                    self._buffer += chunk
                    continue
            if self._host_fd in ready and self._events_fd not in ready:
                # Anything the host wrote before it died is readable now, or never.
                drained, _, _ = select.select([self._events_fd], [], [], 0)
                if drained and (chunk := os.read(self._events_fd, 65536)):
                    self._buffer += chunk
                    continue
                code = self._host.poll() if self._host is not None else None
                return self._note(ProcessEvent("closed", detail=f"host exited ({code})"))
            if not ready or set(ready) - {self._events_fd, self._host_fd}:
                return None
        line, _, self._buffer = self._buffer.partition(b"\n")
        return self._note(ProcessEvent.from_json(json.loads(line)))

    def children(self) -> list[ChildProcess]:
        """The children in start order, with their PIDs as of the last event read."""
        return [self._children[spec.id] for spec in self.specs if spec.id in self._children]

    def _note(self, event: ProcessEvent) -> ProcessEvent:
        """Update the children table and log one event."""
        child_id = event.id or "?"
        if event.kind == "started":
            self._children[child_id] = ChildProcess(child_id, event.pid, event.restarts)
            log.info(
                "process %s started (pid %s, restarts %d)", child_id, event.pid, event.restarts
            )
        elif event.kind in ("exited", "stopped"):
            previous = self._children.get(child_id)
            if event.action == "removed":
                self._children.pop(child_id, None)
            elif previous is not None:
                restarts = previous.restarts + (event.action == "restart")
                self._children[child_id] = ChildProcess(child_id, None, restarts)
            self._log_exit(event)
        elif event.kind == "start_failed":
            log.error("process %s could not start: %s", child_id, event.detail)
        elif event.kind == "gave_up":
            self.gave_up = True
            if event.detail == "reached_max_restart_intensity":
                log.error(
                    "more than %d process restarts in %g s, giving up",
                    self.max_restarts,
                    self.max_seconds,
                )
            else:
                log.error("giving up: %s", event.detail)
        elif event.kind == "error":
            log.error("process supervisor: %s", event.detail)
        return event

    @staticmethod
    def _log_exit(event: ProcessEvent) -> None:
        how = _describe_status(event.code)
        if event.kind == "stopped":
            if event.killed:
                log.warning("process %s (pid %s) ignored SIGTERM, killed", event.id, event.pid)
            else:
                log.info("process %s (pid %s) stopped (%s)", event.id, event.pid, how)
        elif event.action == "restart":
            log.warning("process %s (pid %s) exited (%s), restarting", event.id, event.pid, how)
        elif event.action == "give_up":
            log.error("process %s (pid %s) exited (%s)", event.id, event.pid, how)
        else:
            log.info("process %s (pid %s) exited (%s), not restarted", event.id, event.pid, how)

    # -- stopping ------------------------------------------------------------------------

    def stop(self) -> int:
        """Stop every child in reverse order (SIGTERM, then SIGKILL), then thespian.

        Idempotent. Afterwards no process of this run is alive: stragglers
        are killed by PID (and listed in :attr:`leftovers`). Returns the exit
        code of the run: 1 if the supervisor gave up or its host died, else 0.
        """
        if self._closed:
            return self.exit_code
        self._closed = True
        host = self._host
        try:
            if host is not None and host.poll() is None:
                self._command("stop", close=True)
                budget = sum(spec.shutdown for spec in self.specs) + HOST_GRACE
                deadline = time.monotonic() + budget
                while (left := deadline - time.monotonic()) > 0:
                    event = self.next_event(left)
                    if event is None or event.kind == "closed":
                        break
                try:
                    host.wait(max(deadline - time.monotonic(), 1.0))
                except subprocess.TimeoutExpired:
                    log.error("the process supervisor's host did not exit; killing it")
                    host.kill()
                    host.wait()
            elif host is not None:
                while (event := self.next_event(0)) is not None and event.kind != "closed":
                    pass
        finally:
            if host is not None:
                self.leftovers = reap_marked(self.marker, grace=REAP_GRACE)
                if self.leftovers:
                    log.warning("killed %d leftover processes by PID", len(self.leftovers))
                host.poll()
            for fd in (self._events_fd, self._host_fd):
                if fd is not None:
                    os.close(fd)
            self._events_fd = self._host_fd = None
            if host is not None and host.stdin is not None:
                with contextlib.suppress(OSError):
                    host.stdin.close()
        return self.exit_code

    @property
    def exit_code(self) -> int:
        """1 if the supervisor gave up or its host died abnormally, else 0."""
        host_failed = self._host is not None and self._host.returncode not in (None, 0)
        return 1 if self.gave_up or host_failed else 0

    def run(self) -> int:
        """Start, then supervise until SIGTERM/SIGINT (exit code 0) or until it gives up (1).

        Must be called from the main thread (it installs signal handlers,
        and puts the previous ones back on return).
        """
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            with contextlib.suppress(BlockingIOError):
                os.write(wake_write, b"!")

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            try:
                self.start()
            except StartFailed as failure:
                log.error("%s", failure)
                return 1
            while True:
                event = self.next_event(wake=[wake_read])
                if event is None:
                    log.info("stop requested, stopping the processes")
                    break
                if event.kind in ("gave_up", "closed", "error"):
                    break
            return self.stop()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_read)
            os.close(wake_write)

    def _command(self, line: str, *, close: bool = False) -> None:
        stdin = self._host.stdin if self._host is not None else None
        if stdin is None:
            return
        with contextlib.suppress(OSError):  # a dead host: stop() reaps by marker
            stdin.write(line.encode() + b"\n")
            stdin.flush()
            if close:
                stdin.close()

    def __enter__(self) -> ProcessSupervisor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ProcessSupervisor children={[c.id for c in self.children()]}>"


def spawn_process(
    tree: str,
    *,
    name: str,
    restart: Restart = Restart.PERMANENT,
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    options: Sequence[str] = (),
) -> ProcessSupervisor:
    """Run one actor (or tree) ``module:attribute`` as a node in its own supervised OS process.

    For CPU-bound or crash-prone work: a segfault or the OOM killer takes
    only that process, which is restarted by ``restart`` within the
    intensity. Returns the started supervisor; call :meth:`~ProcessSupervisor.stop`
    (or use it as a context manager's ``with`` target) to stop it.
    """
    supervisor = ProcessSupervisor(
        [node_process(tree, name=name, restart=restart, options=options)],
        max_restarts=max_restarts,
        max_seconds=max_seconds,
    )
    supervisor.start()
    return supervisor


def _describe_status(code: int | None) -> str:
    if code is None:
        return "its owner process died"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"
