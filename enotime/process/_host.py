"""The host process: runs thespian's ``multiprocTCPBase`` for one :class:`ProcessSupervisor`.

Started as ``python -m enotime.process._host EVENTS_FD`` with the run's marker
in its environment (so the admin thespian daemonizes, and every actor and
program below it, carry the marker too). It reads its configuration as one
JSON line on stdin, relays the supervisor actor's events as JSON lines on
``EVENTS_FD``, and stops everything when stdin says ``stop``, reaches EOF (the
parent died) or SIGTERM arrives -- then shuts the actor system down, the step
thespian's daemonized admin needs to end at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Final, TextIO

from thespian.actors import ActorSystem  # type: ignore[import-untyped]
from thespian.system.transport.IPBase import IPActorAddress  # type: ignore[import-untyped]

from enotime.process._actors import Configure, ProcessSupervisorActor, StopAll
from enotime.process._spec import ProcessSpec

__all__ = ["main"]

LOOPBACK: Final = "127.0.0.1"
LISTEN_SECONDS: Final = 0.1
"""How long one ``listen`` waits: the bound on how late a stop request is noticed."""
STOP_MARGIN: Final = 10.0
"""Seconds granted beyond the children's shutdown timeouts for the whole stop."""


def _bind_loopback_only() -> None:
    """Make thespian listen on 127.0.0.1 only, in this process and every process it forks.

    thespian binds each endpoint to all interfaces (``('', port)``) even when
    ``THESPIAN_BASE_IPADDR`` says loopback, and its wire is pickle: anyone who
    reaches the port could run code as us. Its admin and actors are forks of
    this process, so patching the address class here covers all of them.
    """
    init = IPActorAddress.__init__

    def loopback_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if self.sockname[0] == LOOPBACK:
            self.bindname = self.sockname

    IPActorAddress.__init__ = loopback_init


def _emit(events: TextIO, event: dict[str, Any]) -> None:
    # The parent may be gone (that is one way to be told to stop): keep stopping anyway.
    with contextlib.suppress(OSError):
        events.write(json.dumps(event) + "\n")
        events.flush()


def _watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()  # "stop", or EOF: the parent is gone and nobody else may stop us


def main(argv: Sequence[str]) -> int:
    """Run the actor system until the children are stopped or the supervisor gave up."""
    events = os.fdopen(int(argv[0]), "w", buffering=1)
    config = json.loads(sys.stdin.readline() or "null")
    if config is None:
        return 2
    children = tuple(ProcessSpec.from_json(spec) for spec in config["children"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    os.environ["THESPIAN_BASE_IPADDR"] = LOOPBACK
    _bind_loopback_only()
    system = ActorSystem(
        "multiprocTCPBase", {"Admin Port": config["admin_port"]}, transientUnique=True
    )
    # The reader thread starts after the admin was forked: no fork with a second thread.
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
    try:
        supervisor = system.createActor(ProcessSupervisorActor)
        system.tell(supervisor, Configure(children, config["max_restarts"], config["max_seconds"]))
        deadline: float | None = None
        while True:
            if stop.is_set() and deadline is None:
                system.tell(supervisor, StopAll())
                deadline = time.monotonic() + sum(c.shutdown for c in children) + STOP_MARGIN
            message = system.listen(LISTEN_SECONDS)
            if isinstance(message, dict):
                _emit(events, message)
                if message.get("event") in ("gave_up", "all_stopped"):
                    break
            if deadline is not None and time.monotonic() > deadline:
                _emit(events, {"event": "error", "detail": "the children did not stop in time"})
                break
    finally:
        system.shutdown()
        _emit(events, {"event": "closed"})
        with contextlib.suppress(OSError):
            events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
