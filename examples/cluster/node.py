"""The tree every node process runs: a worker and the actor that connects the node.

``enotime run examples.cluster.node:tree --procs 3 --name demo`` runs it as
nodes ``demo-1``..``demo-3``. The environment says where and how to connect:

- ``ENOTIME_AMQP_URL``: the broker (default: guest on 127.0.0.1:5672);
- ``ENOTIME_CLUSTER_EXCHANGE``: the exchange of this run (all names derive from it);
- ``ENOTIME_WIRE_KEYS``: the wire key every node of the run shares (``Keyring.from_env``).

Each node prints one line per event (one ``write`` each, so processes sharing
the pipe never interleave a line): ``serving``, ``started job``, ``finished job``.
"""

from __future__ import annotations

import asyncio
import os

from enotime import Actor, ExitReason, child, handler, supervisor
from enotime.transport import AmqpTransport, Keyring
from examples.cluster.jobs import Done, Job

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
EXCHANGE_ENV = "ENOTIME_CLUSTER_EXCHANGE"
SERVICE = "jobs"
WORKER = "worker"


def say(line: str) -> None:
    """Print one whole line at once."""
    os.write(1, (line + "\n").encode())


class Worker(Actor):
    """Serves the jobs service: one job at a time per node (prefetch 1)."""

    @handler
    async def job(self, msg: Job) -> Done:
        say(f"{self.node.name} pid {os.getpid()} started job {msg.job}")
        await asyncio.sleep(msg.seconds)  # the job's simulated work -- noqa: sleep-ok
        say(f"{self.node.name} pid {os.getpid()} finished job {msg.job}")
        return Done(msg.job, self.node.name, os.getpid(), msg.n * msg.n)


class Connector(Actor):
    """Opens the transport, connects the node, exposes the worker as service ``jobs``.

    Started after the worker (so the name it exposes is registered), stopped
    before it: the node has stopped consuming by then, so closing the transport
    here loses nothing (unacked jobs go back to the queue for another node).
    """

    transport: AmqpTransport | None = None

    async def on_start(self) -> None:
        self.transport = AmqpTransport(
            os.environ.get("ENOTIME_AMQP_URL", DEFAULT_URL),
            self.node.name,
            keyring=Keyring.from_env(),
            exchange=os.environ[EXCHANGE_ENV],
            prefetch=1,
        )
        await self.transport.open()
        gateway = await self.node.connect(self.transport)
        await gateway.expose(SERVICE, WORKER)
        say(f"{self.node.name} pid {os.getpid()} serving {SERVICE}")

    async def on_stop(self, reason: ExitReason) -> None:
        if self.transport is not None:
            await self.transport.aclose()
        say(f"{self.node.name} pid {os.getpid()} stopped")


tree = supervisor(
    "cluster-node",
    [child(Worker, name=WORKER), child(Connector, name="connector")],
)
