"""Supervised OS processes: OTP restart rules one level above the node, built on thespian.

Needs the ``procs`` extra: ``pip install "enotime[procs]"``.

- :class:`ProcessSupervisor` starts OS processes described by
  :class:`ProcessSpec` (:func:`node_process` for an ENoTime node,
  :func:`process_child` for any command), restarts one that dies by its
  restart type within the restart intensity, gives up (exit code 1) when the
  intensity is exceeded, and leaves no process behind when it stops.
- :func:`spawn_process` runs a single actor or tree in its own supervised OS
  process, for CPU-bound or crash-prone work.
- :func:`isolated` is the child spec that does it inside an in-node tree: a
  proxy actor owns the process and forwards to the actor, and the tree's
  supervisor restarts both by OTP's rules.
- ``enotime run MODULE:TREE --procs N`` is the command-line face.

See ``docs/processes.md``.
"""

try:
    import thespian.actors  # type: ignore[import-untyped]  # noqa: F401 - fail here, with the fix
except ImportError as exc:  # pragma: no cover - the extra is installed in development
    raise ImportError('enotime.process needs thespian: pip install "enotime[procs]"') from exc

from enotime.process._hygiene import (
    MARKER_ENV,
    free_port,
    free_ports,
    marked_pids,
    new_marker,
    reap_marked,
    with_marker,
)
from enotime.process._isolated import IsolatedProcess, IsolatedProxy, isolated, isolated_process
from enotime.process._spec import ProcessSpec, RestartIntensity, node_process, process_child
from enotime.process._supervisor import (
    ChildProcess,
    ProcessEvent,
    ProcessSupervisor,
    spawn_process,
)

__all__ = [
    "MARKER_ENV",
    "ChildProcess",
    "IsolatedProcess",
    "IsolatedProxy",
    "ProcessEvent",
    "ProcessSpec",
    "ProcessSupervisor",
    "RestartIntensity",
    "free_port",
    "free_ports",
    "isolated",
    "isolated_process",
    "marked_pids",
    "new_marker",
    "node_process",
    "process_child",
    "reap_marked",
    "spawn_process",
    "with_marker",
]
