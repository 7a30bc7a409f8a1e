"""Actors and a tree for the isolation tests: the isolated processes import this module.

``Cruncher`` runs in its own OS process (``isolated(Cruncher, ...)``); every
answer carries the PID of the process that computed it. ``Die`` makes that
process end the hard way: ``os._exit`` or a segfault. ``Bystander`` stays in
the parent node, to show it is untouched. ``tree`` is what ``enotime run
tests.system._isolated_trees:tree --amqp`` runs in the end-to-end test; it
says ``tree ready <node> <pid>`` once every child started. Each line is one
``write`` (processes sharing a pipe never interleave a line).
"""

from __future__ import annotations

import os
import resource
import signal
from dataclasses import dataclass

from enotime import Actor, child, current_context, handler, supervisor
from enotime.messages import Request
from enotime.process import isolated
from enotime.transport import message


def say(line: str) -> None:
    """Print one whole line at once."""
    os.write(1, (line + "\n").encode())


@message("enotime.tests.isolated.Crunch", version=1)
@dataclass(frozen=True)
class Crunch(Request[str]):
    """Sum ``range(n)``; the answer names the process and the request id."""

    n: int


@message("enotime.tests.isolated.Pid", version=1)
@dataclass(frozen=True)
class Pid(Request[int]):
    """Which process answers?"""


@message("enotime.tests.isolated.Note", version=1)
@dataclass(frozen=True)
class Note:
    """A send: the cruncher keeps ``text`` in order."""

    text: str


@message("enotime.tests.isolated.Notes", version=1)
@dataclass(frozen=True)
class Notes(Request[list[str]]):
    """The notes kept so far."""


@message("enotime.tests.isolated.Die", version=1)
@dataclass(frozen=True)
class Die(Request[None]):
    """End the process: ``exit`` (``os._exit(1)``) or ``segv`` (SIGSEGV, no core file)."""

    how: str


@message("enotime.tests.isolated.Unhandled", version=1)
@dataclass(frozen=True)
class Unhandled(Request[None]):
    """A wire message the cruncher has no handler for."""


class Cruncher(Actor):
    """CPU-bound and crash-prone work, meant to run isolated."""

    def __init__(self, label: str = "sum") -> None:
        self.label = label
        self.notes: list[str] = []

    @handler
    def crunch(self, msg: Crunch) -> str:
        context = current_context()
        request = context.request_id if context is not None else "-"
        return f"{self.label} {sum(range(msg.n))} pid {os.getpid()} request {request}"

    @handler
    def pid(self, _: Pid) -> int:
        return os.getpid()

    @handler
    def note(self, msg: Note) -> None:
        self.notes.append(msg.text)

    @handler
    def read_notes(self, _: Notes) -> list[str]:
        return list(self.notes)

    @handler
    def die(self, msg: Die) -> None:
        if msg.how == "segv":
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            os.kill(os.getpid(), signal.SIGSEGV)
        os._exit(1)


class Bystander(Actor):
    """An in-node neighbour of the isolated child."""

    @handler
    def pid(self, _: Pid) -> int:
        return os.getpid()


class Announcer(Actor):
    """Started last: says that the tree before it is up."""

    async def on_start(self) -> None:
        say(f"tree ready {self.node.name} {os.getpid()}")


tree = supervisor(
    "tree",
    [
        child(Bystander, name="bystander"),
        isolated(Cruncher, "sum", name="cruncher", shutdown=2.0),
        child(Announcer, name="announcer"),
    ],
)
