"""Cast, link and monitor between nodes in separate OS processes; ``kill -9`` of one.

This test's process is one node (an ``AmqpTransport`` and a ``Node`` here, so
that a :class:`~enotime.testing.Probe` can wait for what arrives); the other
is a real ``enotime run tests.system._peer_trees:peer --amqp`` process on the
real RabbitMQ (skipped with the reason on a laptop without one, failed in CI).
Casts go both ways; monitors and links, made from either side, fire with
``noconnection`` within the gateway's bound (``noconnection_after``) once the
other process is killed with ``kill -9``: nothing of it is left to say goodbye.

Every wait is on an output line, a probe or an exit status, with a deadline.
Each test has an exchange and a wire key of its own (the ``cluster`` fixture);
only the process the test started is killed, by its PID, and the marker in
its environment reaps anything it left.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest

from enotime import Node
from enotime.messages import Down, Exit
from enotime.testing import Probe
from enotime.transport import AmqpTransport, Keyring
from enotime.transport._keys import ENV_VAR as WIRE_KEYS_ENV
from tests.integration._nodes import gateway, settled
from tests.system._peer_trees import PEER, LinkBack, Note
from tests.system.test_run_connected import WAIT, Cluster, NodeProcess

TREE = "tests.system._peer_trees:peer"
HEARTBEAT: dict[str, Any] = {
    "heartbeat_interval": 0.5,
    "heartbeat_misses": 3,
    "heartbeat_timeout": 0.5,
}
"""This node's connect options: a vanished peer is noticed within 2 s."""
SLACK = 2.0
"""Seconds beyond the bound for the signals to be handled on a loaded machine."""


@pytest.fixture
async def here(cluster: Cluster) -> AsyncIterator[Node]:
    """This process's node, on the test's exchange, with the test's wire key."""
    name = cluster.name("here")
    cluster.node_names.append(name)  # its durable queue is deleted with the topology
    async with (
        AmqpTransport(
            cluster.url,
            name,
            keyring=Keyring.parse(cluster.env[WIRE_KEYS_ENV]),
            exchange=cluster.exchange,
        ) as transport,
        Node(name) as node,
    ):
        await node.connect(transport, **HEARTBEAT)
        yield node


async def start_peer(cluster: Cluster) -> tuple[NodeProcess, str]:
    """An ``enotime run`` of the peer tree, once its actor is up; and its node's name."""
    name = cluster.name("peer")
    cluster.node_names.append(name)
    process = await NodeProcess.start(
        TREE,
        "--name",
        name,
        "--amqp",
        cluster.url,
        "--amqp-exchange",
        cluster.exchange,
        env=cluster.env,
    )
    cluster.processes.append(process)  # killed and reaped by the fixture, whatever happens
    started = await process.expect(rf"^peer {name} (\d+)$")
    assert int(started[1]) == process.process.pid  # one node, in the process we started
    return process, name


async def test_casts_travel_both_ways_between_node_processes(cluster: Cluster, here: Node) -> None:
    process, name = await start_peer(cluster)
    inbox = await Probe.start(here, name="inbox")
    here.remote(name, PEER).send(Note("hello", here.name, "inbox"))
    await process.expect(r"^peer got hello$")  # our cast reached the other process
    assert await inbox.expect(Note, timeout=WAIT) == Note("HELLO", name, PEER)  # and its, ours
    assert await process.stop() == 0, process.output()


async def test_kill_9_of_a_node_process_fires_its_monitors_and_links_with_noconnection(
    cluster: Cluster, here: Node
) -> None:
    process, name = await start_peer(cluster)
    remote = here.remote(name, PEER)
    watcher = await Probe.start(here)
    watcher.monitor(remote)
    trapping = await Probe.start(here, trap_exit=True)
    trapping.link(remote)
    doomed = await Probe.start(here)  # does not trap exits: the signal stops it
    doomed.link(remote)
    watcher.monitor(doomed.ref)
    linked_by_peer = await Probe.start(here, trap_exit=True, name="linked-by-peer")
    await remote.call(LinkBack(here.name, "linked-by-peer"), timeout=WAIT)  # a link made there
    await settled(here)
    seen = gateway(here).statistics()
    assert (seen.remote_monitors, seen.remote_links) == (1, 3)

    loop = asyncio.get_running_loop()
    bound = gateway(here).noconnection_after + SLACK
    killed_at = loop.time()
    os.kill(process.process.pid, signal.SIGKILL)
    downs = {down.ref: down for down in [await watcher.expect(Down, timeout=bound) for _ in "12"]}
    exits = [await probe.expect(Exit, timeout=bound) for probe in (trapping, linked_by_peer)]
    assert loop.time() - killed_at <= bound

    assert set(downs) == {remote, doomed.ref}
    assert {down.reason.kind for down in downs.values()} == {"noconnection"}
    for exit_ in exits:
        assert exit_.sender == remote
        assert exit_.reason.kind == "noconnection"
    # Those that trap exits live on; the one that does not was stopped (its Down above).
    assert trapping.ref.is_alive
    assert linked_by_peer.ref.is_alive
    assert not doomed.ref.is_alive
    seen = gateway(here).statistics()
    assert (seen.remote_monitors, seen.remote_links, seen.nodes_lost) == (0, 0, 1)
    assert await process.wait() == -signal.SIGKILL
