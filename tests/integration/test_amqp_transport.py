"""RabbitMQ only: what a tap on the broker sees, and a broken link mid-test.

The contract suite (``tests/contract/test_transport.py``) covers the rules both
adapters share; these tests need a real broker and a real TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import NoReturn

import pytest

from enotime import RequestContext, request_context
from enotime.transport import Address, Delivery, PublishFailed, TransportError
from tests.contract.test_transport import (
    AMQP_URL,
    WAIT,
    Blob,
    Cluster,
    Echo,
    Inbox,
    Inner,
    _amqp_answers,
)

pytestmark = pytest.mark.services


@pytest.fixture
async def amqp(require_service: Callable[[str], NoReturn]) -> AsyncIterator[Cluster]:
    """Nodes on RabbitMQ on a fresh exchange; everything deleted afterwards."""
    if (reason := _amqp_answers()) is not None:
        require_service(reason)
    cluster = Cluster("amqp")
    try:
        yield cluster
    finally:
        await cluster.aclose()


async def test_a_tap_on_the_exchange_sees_routing_keys_and_ciphertext_only(amqp: Cluster) -> None:
    import aio_pika

    a, b = await amqp.node("a"), await amqp.node("b")
    await a.serve_node(Inbox(lambda d: _identity(d)))
    await a.serve_service("svc", Inbox())
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        exchange = await channel.get_exchange(amqp.exchange)
        for key in ("node.a", "service.svc"):
            await tap.bind(exchange, key)

        secret = "4111-1111-1111-1111 alice@example.com"
        context = RequestContext("req-secret-id", {"email": "alice@example.com"})
        with request_context(context):
            await b.send(Address.service("svc"), Echo(secret))
            blob = Blob("n", 1, True, None, Inner(secret.encode(), 0.5), [], {"k": 1})
            assert await b.call(Address.actor_on("a", "vault"), blob, timeout=WAIT) == blob

        seen = []
        async with asyncio.timeout(WAIT):
            async with tap.iterator() as messages:
                async for raw in messages:
                    seen.append(raw)
                    await raw.ack()
                    if len(seen) == 2:
                        break
    finally:
        await connection.close()

    assert {m.routing_key for m in seen} == {"node.a", "service.svc"}
    for raw in seen:
        visible = raw.body + json.dumps(raw.headers, default=str).encode()
        visible += json.dumps(raw.info(), default=str).encode()
        for plaintext in (secret, "alice", "req-secret-id", "test.transport", "4111"):
            assert plaintext.encode() not in visible, plaintext
        import base64

        assert base64.b64encode(secret.encode())[:16] not in visible
        assert raw.headers["enotime-kid"] == "test-key"


async def _identity(delivery: Delivery) -> object:
    return delivery.message


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of the broker that can cut every link at once."""

    def __init__(self, target_port: int = 5672) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def cut(self) -> None:
        """Close every proxied connection (the listener stays: clients reconnect)."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def aclose(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def test_a_cut_link_recovers_and_no_accepted_message_is_lost(
    amqp: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.contract import test_transport

    proxy = Proxy()
    await proxy.start()
    try:
        monkeypatch.setattr(
            test_transport, "AMQP_URL", f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        )
        from enotime.transport import AmqpTransport

        consumer = await amqp.node("a")
        sender = await amqp.node("b")
        assert isinstance(sender, AmqpTransport)
        assert isinstance(consumer, AmqpTransport)
        assert (sender.statistics().connected, sender.statistics().reconnects) == (True, 0)
        back = {name: asyncio.Event() for name in ("a", "b")}
        seen_down: list[tuple[str, bool]] = []
        for transport in (consumer, sender):
            # Registered after the transport's own: all are called in one go, so once this
            # one ran, the transport has counted the reconnection.
            event = back[transport.node_id]
            transport.connection.reconnect_callbacks.add(lambda *_, event=event: event.set())
            # Called once the link is down (aio-pika clears `connected` first).
            transport.connection.close_callbacks.add(
                lambda *_, t=transport: seen_down.append((t.node_id, t.statistics().connected))
            )
        received: set[str] = set()
        all_in = asyncio.Event()
        total = 40
        accepted: set[str] = set()

        async def record(delivery: Delivery) -> object:
            assert isinstance(delivery.message, Echo)
            received.add(delivery.message.text)  # a set: redeliveries are expected
            if len(received) == total:
                all_in.set()
            return None

        await consumer.serve_service("durable", record)
        async with asyncio.timeout(60):
            for i in range(total):
                if i == total // 2:
                    proxy.cut()  # both nodes lose their connection mid-stream
                while True:
                    try:
                        await sender.send(Address.service("durable"), Echo(str(i)))
                    except (PublishFailed, TransportError):
                        # Not accepted: the sender retries once the robust connection is back.
                        await asyncio.sleep(0.05)  # retry back-off -- noqa: sleep-ok
                        await sender.connection.connected.wait()
                        continue
                    accepted.add(str(i))
                    break
            await all_in.wait()
            for event in back.values():
                await event.wait()
        assert accepted <= received
        assert len(accepted) == total
        assert set(seen_down) == {("a", False), ("b", False)}  # each saw itself down
        for transport in (consumer, sender):
            stats = transport.statistics()
            assert stats.reconnects == 1, transport
            assert stats.connected, transport
    finally:
        await amqp.aclose()  # while the proxy still forwards: topology deleted through it
        monkeypatch.undo()
        await proxy.aclose()
