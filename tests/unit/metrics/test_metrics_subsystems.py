"""The transport, store and crypto actors of a node as metrics: names, labels, true counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from enotime import Actor, Node, RemoteRef, handler
from enotime.crypto import (
    CryptoClient,
    CryptoService,
    EmbeddedCryptoEngine,
    InvalidCiphertext,
    KeyNotFound,
    Sealed,
)
from enotime.crypto._port import SealStatus
from enotime.crypto._service import crypto_statistics
from enotime.messages import Request
from enotime.metrics import (
    CRYPTO_METRICS,
    NODE_METRICS,
    STORE_METRICS,
    TRANSPORT_METRICS,
    instrument,
    uninstrument,
)
from enotime.store import (
    DocumentType,
    NotFound,
    Record,
    SQLiteStore,
    StoreClient,
    StoreService,
)
from enotime.store._service import store_statistics
from enotime.transport import (
    Address,
    Delivery,
    LocalBroker,
    LocalTransport,
    RemoteError,
    TransportEvent,
    Unroutable,
    message,
)

from ._support import key, scrape

WAIT = 10.0
"""Seconds any wait here may take."""


@message("test.metrics.Double", version=1)
@dataclass(frozen=True)
class Double(Request[int]):
    n: int


class Doubler(Actor):
    @handler
    def double(self, msg: Double) -> int:
        return 2 * msg.n


def exposed(registry: CollectorRegistry) -> dict[str, tuple[str, set[str]]]:
    """Every family's exposed name -> (type, label names of its samples, ``le`` aside)."""
    found = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels = {label for sample in family.samples for label in sample.labels} - {"le"}
        found[name] = (family.type, labels)
    return found


# -- transport ---------------------------------------------------------------------------


@pytest.fixture
async def connected() -> AsyncIterator[tuple[Node, LocalTransport, asyncio.Queue[TransportEvent]]]:
    """A node connected to an in-process transport, serving a Doubler as ``doubler``."""
    events: asyncio.Queue[TransportEvent] = asyncio.Queue()
    broker = LocalBroker()
    transport = LocalTransport(broker, "metrics", max_deliveries=2, observer=events.put_nowait)
    async with transport, Node("metrics", shutdown_timeout=2.0) as node:
        await node.connect(transport)
        await node.spawn(Doubler, name="doubler")
        yield node, transport, events


async def test_a_connected_node_exposes_its_transport_with_bounded_labels(
    connected: tuple[Node, LocalTransport, asyncio.Queue[TransportEvent]],
) -> None:
    node, transport, _ = connected
    registry = CollectorRegistry()
    instrument(node, registry)
    assert await node.remote("metrics", "doubler").call(Double(21), timeout=WAIT) == 42
    with pytest.raises(RemoteError):
        await node.remote("metrics", "nobody").call(Double(1), timeout=WAIT)
    with pytest.raises(Unroutable):
        await transport.send(Address.service("nobody"), Double(1))
    families = exposed(registry)
    transport_families = {n: f for n, f in families.items() if n.startswith("enotime_transport_")}
    assert {n: t for n, (t, _) in transport_families.items()} == TRANSPORT_METRICS
    assert families["enotime_transport_messages_published_total"][1] == {"kind"}
    assert families["enotime_transport_messages_consumed_total"][1] == {"queue"}
    assert families["enotime_transport_messages_dead_lettered_total"][1] == {"reason"}
    assert families["enotime_transport_call_failures_total"][1] == {"error"}
    assert families["enotime_transport_send_failures_total"][1] == {"error"}
    assert families["enotime_transport_call_duration_seconds"][1] == set()
    samples = scrape(registry)
    published = "enotime_transport_messages_published_total"
    assert samples[key(published, kind="call")] == 2
    assert samples[key(published, kind="reply")] == 2  # an error answer is a reply too
    assert samples[key(published, kind="send")] == 0
    consumed = "enotime_transport_messages_consumed_total"
    assert samples[key(consumed, queue="node")] == 2
    assert samples[key(consumed, queue="reply")] == 2
    assert samples[key("enotime_transport_call_duration_seconds_count")] == 2
    assert samples[key("enotime_transport_call_failures_total", error="RemoteError")] == 1
    assert samples[key("enotime_transport_send_failures_total", error="Unroutable")] == 1
    assert samples[key("enotime_transport_unknown_actor_deliveries_total")] == 1
    assert samples[key("enotime_transport_messages_dead_lettered_total", reason="crashed")] == 0
    assert samples[key("enotime_transport_connected")] == 1
    assert samples[key("enotime_transport_calls_pending")] == 0
    uninstrument(node, registry)


class Watcher(Actor):
    """Monitors the actor its ref names as soon as it starts."""

    def __init__(self, watched: RemoteRef) -> None:
        self.watched = watched

    async def on_start(self) -> None:
        self.monitor(self.watched)


async def test_monitors_held_and_held_on_this_node_are_gauged(
    connected: tuple[Node, LocalTransport, asyncio.Queue[TransportEvent]],
) -> None:
    node, _, _ = connected
    gateway = node.gateway
    assert gateway is not None
    registry = CollectorRegistry()
    instrument(node, registry)
    # A monitor through the transport, even to this node: both halves of the watch show.
    await node.spawn(Watcher, node.remote("metrics", "doubler"))
    await gateway.settled()
    samples = scrape(registry)
    assert samples[key("enotime_transport_remote_monitors")] == 1
    assert samples[key("enotime_transport_remote_watches")] == 1
    assert samples[key("enotime_transport_watches_dropped_total")] == 0
    uninstrument(node, registry)


async def test_requeues_redeliveries_and_dead_letters_are_counted_by_reason(
    connected: tuple[Node, LocalTransport, asyncio.Queue[TransportEvent]],
) -> None:
    node, transport, events = connected
    registry = CollectorRegistry()
    instrument(node, registry)

    async def crash(delivery: Delivery) -> object:
        raise RuntimeError("crashes on every delivery")

    await transport.serve_service("fragile", crash)
    with pytest.raises(RemoteError):  # dead-lettered on its second delivery (max_deliveries=2)
        await transport.call(Address.service("fragile"), Double(1), timeout=WAIT)
    transport.broker.publish_raw(
        transport.exchange, "node.metrics", b"not an envelope", message_id="garbage"
    )
    dead_letters = 0
    async with asyncio.timeout(WAIT):
        while dead_letters < 2:  # the crash's, then the garbage's
            dead_letters += (await events.get()).kind == "dead_lettered"
    samples = scrape(registry)
    dead = "enotime_transport_messages_dead_lettered_total"
    assert samples[key(dead, reason="crashed")] == 1
    assert samples[key(dead, reason="malformed_message")] == 1
    assert samples[key("enotime_transport_messages_requeued_total")] == 1
    assert samples[key("enotime_transport_messages_redelivered_total")] == 1
    stats = transport.statistics()
    assert stats.dead_lettered == 2
    assert stats.dead_lettered_by_reason == {"crashed": 1, "malformed_message": 1}
    uninstrument(node, registry)


async def test_a_closed_gateway_takes_the_transport_metrics_away() -> None:
    registry = CollectorRegistry()
    async with LocalTransport(LocalBroker(), "metrics") as transport:
        async with Node("metrics") as node:
            instrument(node, registry)
            assert not any(n.startswith("enotime_transport_") for n in exposed(registry))
            await node.connect(transport)
            assert "enotime_transport_connected" in exposed(registry)
            uninstrument(node, registry)
        assert transport.statistics().connected
    assert not transport.statistics().connected


# -- store and crypto --------------------------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> EmbeddedCryptoEngine:
    engine = EmbeddedCryptoEngine(tmp_path / "keyring")
    for share in await engine.initialize(shares=1, threshold=1):
        await engine.submit_unseal_share(share)
    return engine


NOTES = DocumentType("note", public=frozenset({"n"}), indexed=frozenset({"owner"}))


async def test_store_and_crypto_operations_are_timed_and_their_errors_counted(
    engine: EmbeddedCryptoEngine, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    async with (
        await SQLiteStore.open(tmp_path / "store.sqlite") as store,
        Node("metrics") as node,
    ):
        instrument(node, registry)
        subsystems = ("enotime_store_", "enotime_crypto_")
        assert not any(name.startswith(subsystems) for name in exposed(registry))
        crypto = CryptoClient(await node.spawn(CryptoService, engine))
        records = StoreClient(await node.spawn(StoreService, store, crypto, [NOTES]))
        rev = await records.put(Record("a", "note", {"n": 1, "owner": "ann"}))
        assert (await records.get("a")).fields["owner"] == "ann"
        assert len(await records.find("note", owner="ann")) == 1
        with pytest.raises(NotFound):
            await records.get("missing")
        await records.delete("a", rev)
        with pytest.raises(KeyNotFound):
            await crypto.encrypt("no-such-key", b"x")
        with pytest.raises(InvalidCiphertext) as invalid:
            await crypto.decrypt("store", "enotime:v1:garbage")

        families = exposed(registry)
        for expected in (STORE_METRICS, CRYPTO_METRICS):
            prefix = next(iter(expected)).split("_")[1]
            found = {n: t for n, (t, _) in families.items() if n.startswith(f"enotime_{prefix}_")}
            assert found == expected
        assert families["enotime_store_operation_errors_total"][1] == {"operation", "error"}
        assert families["enotime_crypto_operation_duration_seconds"][1] == {"operation"}
        assert {n for n in families if n in NODE_METRICS} == set(NODE_METRICS)

        samples = scrape(registry)
        count = "enotime_store_operation_duration_seconds_count"
        for operation, times in (("put", 1), ("get", 2), ("find", 1), ("delete", 1)):
            assert samples[key(count, operation=operation)] == times, operation
        errors = "enotime_store_operation_errors_total"
        assert samples[key(errors, operation="get", error="NotFound")] == 1
        crypto_errors = "enotime_crypto_operation_errors_total"
        assert samples[key(crypto_errors, operation="encrypt", error="KeyNotFound")] == 1
        error_class = type(invalid.value).__name__  # a subclass may say more
        assert samples[key(crypto_errors, operation="decrypt", error=error_class)] == 1
        # put seals with one batch (an HMAC for the private index, then the encryption).
        assert samples[key("enotime_crypto_batches_total")] == 1
        assert samples[key("enotime_crypto_batched_operations_total")] == 2
        assert samples[key("enotime_crypto_sealed")] == 0
        stats = store_statistics(node)
        assert stats is not None
        assert [op.operation for op in stats.operations] == ["delete", "find", "get", "put"]
        uninstrument(node, registry)


async def test_the_sealed_gauge_follows_the_engine(engine: EmbeddedCryptoEngine) -> None:
    registry = CollectorRegistry()
    async with Node("metrics") as node:
        instrument(node, registry)
        service = await node.spawn(CryptoService, engine, status_interval=None)
        crypto = CryptoClient(service)
        await crypto.create_key("k")
        assert scrape(registry)[key("enotime_crypto_sealed")] == 0
        await crypto.seal()  # break glass through the actor
        assert scrape(registry)[key("enotime_crypto_sealed")] == 1
        with pytest.raises(Sealed):
            await crypto.encrypt("k", b"x")
        assert scrape(registry)[key("enotime_crypto_sealed")] == 1
        uninstrument(node, registry)


class WatchedEngine(EmbeddedCryptoEngine):
    """An embedded engine that reports every seal-state read, as it returns it."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.reads: asyncio.Queue[SealStatus] = asyncio.Queue()

    async def status(self) -> SealStatus:
        status = await super().status()
        self.reads.put_nowait(status)  # the crypto actor notes it before it next yields
        return status


async def test_an_engine_sealed_behind_the_actors_back_shows_within_the_interval(
    tmp_path: Path,
) -> None:
    engine = WatchedEngine(tmp_path / "keyring")
    for share in await engine.initialize(shares=1, threshold=1):
        await engine.submit_unseal_share(share)
    async with Node("metrics") as node:
        await node.spawn(CryptoService, engine, status_interval=0.01)
        async with asyncio.timeout(WAIT):
            assert not (await engine.reads.get()).sealed  # read as the actor starts
            stats = crypto_statistics(node)
            assert stats is not None
            assert stats.sealed is False
            await engine.seal()  # as `enotime crypto seal` does, through the control socket
            while not (await engine.reads.get()).sealed:
                pass
        stats = crypto_statistics(node)
        assert stats is not None
        assert stats.sealed is True
        assert stats.operations == ()  # its own reads are not operations
