"""Two tiny trees for ``enotime run --amqp``: one exposes a service, the other calls it.

``enotime run tests.system._connected_trees:server --amqp ...`` exposes the
actor ``echo`` as service ``echo``; ``...:client`` calls it through the
service queue and through the server node's own queue (its name in
``ENOTIME_TEST_SERVER``), and prints both answers. Neither tree opens a
transport: ``enotime run`` connects the node before the tree starts. Each
line is one ``write`` (processes sharing a pipe never interleave a line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from enotime import Actor, ExitReason, child, handler, supervisor
from enotime.messages import Request
from enotime.transport import message

SERVICE = "echo"
SERVER_ENV = "ENOTIME_TEST_SERVER"
CALL_TIMEOUT = 15.0


def say(line: str) -> None:
    """Print one whole line at once."""
    os.write(1, (line + "\n").encode())


@message("enotime.tests.Shout", version=1)
@dataclass(frozen=True)
class Shout(Request[str]):
    """Asks the echo actor for ``text`` in capitals, signed by its node and PID."""

    text: str


@dataclass(frozen=True)
class _Go:
    """The client's cue, sent to itself so that its calls do not hold up its start."""


class Echo(Actor):
    """Answers a :class:`Shout`."""

    @handler
    def shout(self, msg: Shout) -> str:
        return f"{msg.text.upper()} from {self.node.name} pid {os.getpid()}"


class Exposer(Actor):
    """Exposes ``echo`` as the service ``echo`` on the node's gateway, then says so."""

    async def on_start(self) -> None:
        gateway = self.node.gateway
        assert gateway is not None, "enotime run --amqp connects the node before the tree"
        await gateway.expose(SERVICE, "echo")
        say(f"serving {self.node.name} {os.getpid()}")

    async def on_stop(self, reason: ExitReason) -> None:
        say(f"stopping {self.node.name}")


class Caller(Actor):
    """Calls the service and the server's ``echo`` by node; prints the answers."""

    async def on_start(self) -> None:
        self.ref.send(_Go())

    @handler
    async def go(self, _: _Go) -> None:
        by_service = await self.node.service(SERVICE).call(Shout("hello"), timeout=CALL_TIMEOUT)
        say(f"service answered: {by_service}")
        server = os.environ[SERVER_ENV]
        by_node = await self.node.remote(server, "echo").call(Shout("again"), timeout=CALL_TIMEOUT)
        say(f"node answered: {by_node}")

    async def on_stop(self, reason: ExitReason) -> None:
        say(f"stopping {self.node.name}")


server = supervisor("server", [child(Echo, name="echo"), child(Exposer, name="exposer")])
client = supervisor("client", [child(Caller, name="caller")])
