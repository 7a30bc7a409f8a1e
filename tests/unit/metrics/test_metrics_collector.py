"""The node's statistics as metrics: names, labels, and counters that tell the truth."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from enotime import (
    Actor,
    ActorRef,
    DynamicSupervisor,
    Node,
    child,
    count_children,
    handler,
    start_child,
    supervisor,
    terminate_child,
    which_children,
)
from enotime.messages import Request
from enotime.metrics import NODE_METRICS, instrument, uninstrument

from ._support import key, scrape


@dataclass(frozen=True)
class Ping(Request[int]):
    n: int


@dataclass(frozen=True)
class Crash:
    pass


@dataclass(frozen=True)
class Hold:
    pass


class Echo(Actor):
    @handler
    def ping(self, msg: Ping) -> int:
        return msg.n


class MeteredEcho(Actor):
    metered = True

    @handler
    def ping(self, msg: Ping) -> int:
        return msg.n

    @handler
    async def crash(self, msg: Crash) -> None:
        raise RuntimeError("asked to crash")


class MeteredChild(MeteredEcho):
    pass


class Fragile(Actor):
    @handler
    def ping(self, msg: Ping) -> int:
        return msg.n

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("asked to crash")


class Blocker(Actor):
    """Holds its first message until released, so the rest wait in its mailbox."""

    def __init__(self, entered: asyncio.Event, release: asyncio.Event) -> None:
        self.entered = entered
        self.release = release

    @handler
    async def hold(self, msg: Hold) -> None:
        self.entered.set()
        await self.release.wait()

    @handler
    def ping(self, msg: Ping) -> int:
        return msg.n


@pytest.fixture
def registry(node: Node) -> CollectorRegistry:
    registry = CollectorRegistry()
    instrument(node, registry)
    return registry


EXPECTED_LABELS = {
    "enotime_node_info": {"node"},
    "enotime_actor_alive": {"actor_class"},
    "enotime_actor_spawned": set(),
    "enotime_actor_crashed": {"actor_class"},
    "enotime_actor_dead_letters": set(),
    "enotime_actor_messages_handled": {"actor_class"},
    "enotime_actor_mailbox_depth_messages": {"actor_class"},
    "enotime_actor_mailbox_depth_max_messages": {"actor_class"},
    "enotime_actor_handler_duration_seconds": {"actor_class", "handler", "le"},  # le: buckets
    "enotime_supervisor_restarts": {"supervisor", "child"},
}


async def test_every_metric_has_its_name_type_and_bounded_labels(
    node: Node, registry: CollectorRegistry
) -> None:
    sup = await node.start(supervisor("tree", [child(Fragile, id="fragile")], name="tree"))
    echo = await node.spawn(MeteredEcho)
    await echo.call(Ping(1))
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    assert set(families) == set(EXPECTED_LABELS)
    for name, family in families.items():
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == EXPECTED_LABELS[name] - {"le"}, sample
            for value in sample.labels.values():
                assert "#" not in value  # no actor ids: refs print as Class#pid
    exposed = {
        f"{f.name}_total" if f.type == "counter" else f.name: f.type for f in families.values()
    }
    assert exposed == NODE_METRICS
    for name in NODE_METRICS:
        assert name.startswith(("enotime_actor_", "enotime_supervisor_", "enotime_node_"))
    assert sup.is_alive


async def test_a_crash_and_a_restart_show_up_in_the_counters(
    node: Node, registry: CollectorRegistry
) -> None:
    sup = await node.start(supervisor("tree", [child(Fragile, name="fragile")], name="tree"))
    before = scrape(registry)
    assert before[key("enotime_supervisor_restarts_total", supervisor="tree", child="fragile")] == 0
    assert before[key("enotime_actor_crashed_total", actor_class="Fragile")] == 0
    for expected in (1, 2):
        fragile = node.lookup("fragile")
        fragile.send(Crash())
        await fragile.wait_stopped(timeout=5)
        stats = await count_children(sup)  # answered once the restart is done
        assert stats.restarts_total == expected
        after = scrape(registry)
        restarts = key("enotime_supervisor_restarts_total", supervisor="tree", child="fragile")
        assert after[restarts] == expected
        assert after[key("enotime_actor_crashed_total", actor_class="Fragile")] == expected
        assert after[key("enotime_actor_alive", actor_class="Fragile")] == 1
    assert node.statistics().restarts_by_child == {("tree", "fragile"): 2}


class Session(Fragile):
    """A second class of dynamic children."""


def restart_series(registry: CollectorRegistry, supervisor: str) -> dict[str, float]:
    """``child`` label -> value of every restart series of ``supervisor``."""
    return {
        dict(labels)["child"]: value
        for (name, labels), value in scrape(registry).items()
        if name == "enotime_supervisor_restarts_total" and ("supervisor", supervisor) in labels
    }


async def test_dynamic_children_are_counted_by_class_whatever_their_ids(
    node: Node, registry: CollectorRegistry
) -> None:
    """Ids chosen at run time (``session-<uid>``) make no series of their own."""
    sup = await node.spawn(DynamicSupervisor, max_restarts=1_000, name="sessions")
    for generation in range(2):
        ids = [f"session-{generation}-{uid}" for uid in range(60)]
        for n, child_id in enumerate(ids):
            await start_child(sup, child(Session if n % 2 else Fragile, id=child_id))
        assert restart_series(registry, "sessions") == {
            "Fragile": 30.0 * generation,
            "Session": 30.0 * generation,
        }
        running = [c.ref for c in await which_children(sup) if c.ref is not None]
        assert len(running) == len(ids)
        for ref in running:
            ref.send(Crash())
        for ref in running:
            await ref.wait_stopped(timeout=5)
        assert (await count_children(sup)).restarts_total == len(ids) * (generation + 1)
        assert restart_series(registry, "sessions") == {
            "Fragile": 30.0 * (generation + 1),
            "Session": 30.0 * (generation + 1),
        }
        for child_id in ids:
            await terminate_child(sup, child_id)
    # The node's own counts are bounded the same way: nothing per child id is kept.
    counted = {key for key in node.statistics().restarts_by_child if key[0] == "sessions"}
    assert counted == {("sessions", "Fragile"), ("sessions", "Session")}


async def test_static_children_keep_their_id_as_label(
    node: Node, registry: CollectorRegistry
) -> None:
    """Two children of one class under a static supervisor: told apart by id."""
    tree = supervisor("pool", [child(Fragile, id="left"), child(Fragile, id="right")], name="pool")
    sup = await node.start(tree)
    [left, _] = [c.ref for c in await which_children(sup)]
    assert left is not None
    left.send(Crash())
    await left.wait_stopped(timeout=5)
    await count_children(sup)
    assert restart_series(registry, "pool") == {"left": 1.0, "right": 0.0}


async def test_restarts_are_kept_when_the_supervisor_itself_restarts(
    node: Node, registry: CollectorRegistry
) -> None:
    inner = supervisor("inner", [child(Fragile, name="fragile")], name="inner")
    outer = await node.start(supervisor("outer", [inner], name="outer"))
    fragile = node.lookup("fragile")
    fragile.send(Crash())
    await fragile.wait_stopped(timeout=5)
    await count_children(node.lookup("inner"))
    first_inner = node.lookup("inner")
    node.kill(first_inner)
    await first_inner.wait_stopped(timeout=5)
    await count_children(outer)  # answered once inner is restarted
    await count_children(node.lookup("inner"))
    samples = scrape(registry)
    assert (
        samples[key("enotime_supervisor_restarts_total", supervisor="inner", child="fragile")] == 1
    )
    assert samples[key("enotime_supervisor_restarts_total", supervisor="outer", child="inner")] == 1


async def test_messages_handled_survive_the_actors_that_handled_them(
    node: Node, registry: CollectorRegistry
) -> None:
    for _ in range(2):
        echo = await node.spawn(Echo)
        for n in range(3):
            await echo.call(Ping(n))
        await node.stop(echo)
    samples = scrape(registry)
    assert samples[key("enotime_actor_messages_handled_total", actor_class="Echo")] == 6
    assert samples[key("enotime_actor_alive", actor_class="Echo")] == 0
    assert samples[key("enotime_actor_spawned_total")] == 2


async def test_mailbox_depth_is_summed_and_maxed_by_class(
    node: Node, registry: CollectorRegistry
) -> None:
    release = asyncio.Event()
    backlog: dict[ActorRef[Blocker], int] = {}
    for waiting in (3, 1):
        entered = asyncio.Event()
        ref = await node.spawn(Blocker, entered, release)
        ref.send(Hold())
        await asyncio.wait_for(entered.wait(), 5)
        for _ in range(waiting):
            ref.send(Hold())
        backlog[ref] = waiting
    samples = scrape(registry)
    assert samples[key("enotime_actor_mailbox_depth_messages", actor_class="Blocker")] == 4
    assert samples[key("enotime_actor_mailbox_depth_max_messages", actor_class="Blocker")] == 3
    assert samples[key("enotime_actor_messages_handled_total", actor_class="Blocker")] == 2
    release.set()
    for ref in backlog:
        await ref.call(Ping(0))  # answered once the backlog before it is handled
    samples = scrape(registry)
    assert samples[key("enotime_actor_mailbox_depth_messages", actor_class="Blocker")] == 0
    assert samples[key("enotime_actor_messages_handled_total", actor_class="Blocker")] == 8


async def test_dead_letters_are_counted(node: Node, registry: CollectorRegistry) -> None:
    echo = await node.spawn(Echo)
    await node.stop(echo)
    echo.send(Ping(1))
    echo.send(Ping(2))
    assert scrape(registry)[key("enotime_actor_dead_letters_total")] == 2


async def test_metered_classes_get_a_latency_histogram_and_others_pay_nothing(
    node: Node, registry: CollectorRegistry
) -> None:
    metered, plain, heir = (
        await node.spawn(MeteredEcho),
        await node.spawn(Echo),
        await node.spawn(MeteredChild),
    )
    for n in range(5):
        await metered.call(Ping(n))
        await plain.call(Ping(n))
    await heir.call(Ping(0))
    heir.send(Crash())
    await heir.wait_stopped(timeout=5)
    samples = scrape(registry)
    count = "enotime_actor_handler_duration_seconds_count"
    assert samples[key(count, actor_class="MeteredEcho", handler="ping")] == 5
    assert samples[key(count, actor_class="MeteredChild", handler="ping")] == 1
    assert samples[key(count, actor_class="MeteredChild", handler="crash")] == 1  # raised: timed
    inf = key(
        "enotime_actor_handler_duration_seconds_bucket",
        actor_class="MeteredEcho",
        handler="ping",
        le="+Inf",
    )
    assert samples[inf] == 5
    plain_series = [
        k
        for k in samples
        if k[0].startswith("enotime_actor_handler") and ("actor_class", "Echo") in k[1]
    ]
    assert plain_series == []
    plain_entry, metered_entry = Echo._enotime_handlers[Ping], MeteredEcho._enotime_handlers[Ping]
    assert plain_entry is not None
    assert plain_entry.function is Echo.ping
    assert metered_entry is not None
    assert metered_entry.function is not MeteredEcho.ping


async def test_a_registry_exposes_one_node(node: Node) -> None:
    registry = CollectorRegistry()
    first = instrument(node, registry)
    assert instrument(node, registry) is first  # idempotent for the same node
    async with Node("other") as other:
        with pytest.raises(ValueError, match="already exposes node 'test'"):
            instrument(other, registry)
    uninstrument(node, registry)
    assert scrape(registry)  # still there: one instrument() call is left
    uninstrument(node, registry)
    assert scrape(registry) == {}
    uninstrument(node, registry)  # a no-op once gone
