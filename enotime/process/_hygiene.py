"""Process hygiene: mark every process a run starts, find the marked ones, reap them by PID.

thespian's multiproc admin daemonizes (setsid, double fork) and outlives its
parent unless shut down, so a parent's PID tree is not enough to find what a
run started. An environment variable is: it is inherited through ``fork`` and
``exec``, so even a daemon that double-forked away still carries it, and
``/proc/<pid>/environ`` shows it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Final

__all__ = [
    "MARKER_ENV",
    "free_port",
    "free_ports",
    "marked_pids",
    "new_marker",
    "reap_marked",
    "with_marker",
]

MARKER_ENV: Final = "ENOTIME_PROCESS_RUN"
"""The variable that carries the markers of every run a process descends from."""

_SEPARATOR: Final = ":"


def new_marker() -> str:
    """A fresh, unique marker for one run."""
    return uuid.uuid4().hex


def with_marker(env: Mapping[str, str], marker: str, var: str = MARKER_ENV) -> dict[str, str]:
    """A copy of ``env`` whose ``var`` also carries ``marker``.

    Markers accumulate (``a:b``), so a run nested in another run's process is
    found by both runs' scans.
    """
    markers = [m for m in env.get(var, "").split(_SEPARATOR) if m]
    if marker not in markers:
        markers.append(marker)
    return {**env, var: _SEPARATOR.join(markers)}


def marked_pids(marker: str, var: str = MARKER_ENV) -> list[int]:
    """PIDs of the live processes (this one excepted) whose environment carries ``marker``.

    Zombies read as an empty environment, so they are not counted.
    """
    prefix = f"{var}=".encode()
    wanted = marker.encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                variables = environ.read().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        for variable in variables:
            if variable.startswith(prefix) and wanted in variable[len(prefix) :].split(b":"):
                found.append(int(entry))
                break
    return found


def reap_marked(marker: str, grace: float = 5.0, var: str = MARKER_ENV) -> list[int]:
    """Wait up to ``grace`` seconds for the marked processes to end, then kill them by PID.

    SIGTERM first, then SIGKILL; the PIDs are read again before each signal so
    that a PID reused by an unrelated process is never signalled. Returns the
    PIDs that had to be signalled (empty when everything stopped by itself).
    """
    deadline = time.monotonic() + grace
    while (pids := marked_pids(marker, var)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not pids:
        return []
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0)):
        for pid in marked_pids(marker, var):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while marked_pids(marker, var) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not marked_pids(marker, var):
            break
    return pids


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picked it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that were free on ``host`` a moment ago.

    All are held open until the last is picked, so the OS cannot hand out one twice.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            probe = stack.enter_context(socket.socket())
            probe.bind((host, 0))
            ports.append(int(probe.getsockname()[1]))
        return ports
