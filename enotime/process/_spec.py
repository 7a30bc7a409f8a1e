"""What an OS-process supervisor starts: process specs, and OTP's restart intensity."""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from enotime._clock import Clock, SystemClock
from enotime._supervisor import Restart

__all__ = ["ProcessSpec", "RestartIntensity", "node_process", "process_child"]


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """How a :class:`~enotime.process.ProcessSupervisor` starts and stops one OS process.

    Build one with :func:`node_process` or :func:`process_child`.

    Attributes:
        id: Unique among the supervisor's children; names it in logs and events.
        argv: The command, executed as is (no shell).
        restart: ``permanent`` (always restarted), ``transient`` (restarted
            unless it exits with status 0) or ``temporary`` (never).
        shutdown: Seconds between SIGTERM and SIGKILL when it is stopped.
        env: Variables added to the supervisor's environment.
        cwd: Working directory, or None for the supervisor's.
    """

    id: str
    argv: tuple[str, ...]
    restart: Restart = Restart.PERMANENT
    shutdown: float = 10.0
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a process spec needs a non-empty id")
        if not self.argv:
            raise ValueError(f"process {self.id!r}: argv is empty")
        if self.shutdown < 0:
            raise ValueError(f"process {self.id!r}: shutdown seconds must be >= 0")

    def to_json(self) -> dict[str, Any]:
        """The spec as plain JSON types (it travels to the supervisor's host process)."""
        return {
            "id": self.id,
            "argv": list(self.argv),
            "restart": self.restart.value,
            "shutdown": self.shutdown,
            "env": dict(self.env),
            "cwd": self.cwd,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessSpec:
        """The inverse of :meth:`to_json`."""
        return cls(
            id=str(data["id"]),
            argv=tuple(str(a) for a in data["argv"]),
            restart=Restart(data["restart"]),
            shutdown=float(data["shutdown"]),
            env={str(k): str(v) for k, v in data["env"].items()},
            cwd=data["cwd"],
        )


def process_child(
    *argv: str,
    id: str,
    restart: Restart = Restart.PERMANENT,
    shutdown: float = 10.0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> ProcessSpec:
    """A spec for any command: ``process_child("redis-server", id="cache")``."""
    return ProcessSpec(id, tuple(argv), restart, shutdown, dict(env or {}), cwd)


def node_process(
    tree: str,
    *,
    name: str,
    id: str | None = None,
    restart: Restart = Restart.TRANSIENT,
    shutdown: float = 35.0,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> ProcessSpec:
    """A spec for an ENoTime node: ``python -m enotime run TREE --name NAME [OPTIONS]``.

    ``tree`` is ``module:attribute`` as for ``enotime run``: a supervision
    tree, or a single actor class to run it alone in its own OS process. The
    node exits 0 after SIGTERM and 1 when its root supervisor gave up, so the
    default restart type, ``transient``, restarts it after a crash, a kill
    or a give-up, not after a requested stop. ``shutdown`` should exceed the
    node's own ``--shutdown-timeout`` (30 s by default).
    """
    return ProcessSpec(
        id=id or name,
        argv=(sys.executable, "-m", "enotime", "run", tree, "--name", name, *options),
        restart=restart,
        shutdown=shutdown,
        env=dict(env or {}),
        cwd=cwd if cwd is not None else os.getcwd(),
    )


class RestartIntensity:
    """OTP's restart intensity: at most ``max_restarts`` restarts within ``max_seconds``.

    Example:
        >>> intensity = RestartIntensity(3, 5.0)
        >>> intensity.allow()  # record a restart; False once the limit is exceeded
        True
    """

    def __init__(self, max_restarts: int, max_seconds: float, clock: Clock | None = None) -> None:
        if max_restarts < 0 or max_seconds <= 0:
            raise ValueError("max_restarts must be >= 0 and max_seconds > 0")
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._clock: Clock = clock or SystemClock()
        self._times: collections.deque[float] = collections.deque()

    def allow(self) -> bool:
        """Record one restart now; False if that makes more than allowed in the window."""
        now = self._clock.monotonic()
        self._times.append(now)
        while now - self._times[0] > self.max_seconds:
            self._times.popleft()
        return len(self._times) <= self.max_restarts
