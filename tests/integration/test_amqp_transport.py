"""RabbitMQ only: what a tap on the broker sees, broken links, consumers that die.

The contract suite (``tests/contract/test_transport.py``) covers the rules both
adapters share; these tests need a real broker and a real TCP connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import pytest

from enotime import RequestContext, request_context
from enotime.transport import (
    Address,
    Delivery,
    MessageRegistry,
    PublishFailed,
    RemoteError,
    TransportError,
    message,
)
from enotime.transport._amqp import _raw
from enotime.transport._envelope import EnvelopeCodec, RawMessage
from tests.contract.test_transport import (
    AMQP_URL,
    WAIT,
    Blob,
    Cluster,
    Crash,
    Echo,
    Inbox,
    Inner,
    NotAllowed,
    _amqp_answers,
    collect_dead_letters,
    next_dead,
)

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

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


SECRET = "4111-1111-1111-1111 alice@example.com"
CONTEXT = RequestContext("req-secret-id", {"email": "alice@example.com"})
PLAINTEXTS = (SECRET, "alice", "req-secret-id", "test.transport", "4111-")
"""What a tap must never read: payload, request context, message types, handler errors."""
SECRET_BLOB = Blob("n", 1, True, None, Inner(SECRET.encode(), 0.5), [], {"k": 1})


def assert_ciphertext_only(raw: AbstractIncomingMessage) -> None:
    """Nothing of what ``raw`` carries is readable on the broker: body, headers, properties."""
    visible = raw.body + json.dumps(raw.headers, default=str).encode()
    visible += json.dumps(raw.info(), default=str).encode()
    for plaintext in PLAINTEXTS:
        assert plaintext.encode() not in visible, (plaintext, raw.headers)
    assert base64.b64encode(SECRET.encode())[:16] not in visible
    assert raw.headers["enotime-kid"] == "test-key"


@contextlib.asynccontextmanager
async def open_tap() -> AsyncIterator[AbstractChannel]:
    """A channel of the tapper's own, on a connection of its own, closed afterwards."""
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


async def tapped(queue: AbstractQueue, count: int) -> list[AbstractIncomingMessage]:
    """The next ``count`` messages the tap queue got."""
    seen = []
    async with asyncio.timeout(WAIT), queue.iterator() as messages:
        async for raw in messages:
            seen.append(raw)
            await raw.ack()
            if len(seen) == count:
                break
    return seen


async def test_a_tap_on_the_exchange_sees_routing_keys_and_ciphertext_only(amqp: Cluster) -> None:
    a, b = await amqp.node("a"), await amqp.node("b")
    await a.serve_node(Inbox(lambda d: _identity(d)))
    await a.serve_service("svc", Inbox())
    async with open_tap() as channel:
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        exchange = await channel.get_exchange(amqp.exchange)
        for key in ("node.a", "service.svc"):
            await tap.bind(exchange, key)

        with request_context(CONTEXT):
            await b.send(Address.service("svc"), Echo(SECRET))
            vault = Address.actor_on("a", "vault")
            assert await b.call(vault, SECRET_BLOB, timeout=WAIT) == SECRET_BLOB
        seen = await tapped(tap, 2)

    assert {m.routing_key for m in seen} == {"node.a", "service.svc"}
    for raw in seen:
        assert_ciphertext_only(raw)


async def _answer_or_fail(delivery: Delivery) -> object:
    """Answers with the message itself; refuses or crashes with the secret in the error."""
    if isinstance(delivery.message, Echo):
        raise NotAllowed(f"not for you: {delivery.message.text}")
    if isinstance(delivery.message, Crash):
        raise RuntimeError(f"cannot handle {delivery.message.label}")
    return delivery.message


async def test_a_tap_on_replies_and_dead_letters_sees_ciphertext_only(amqp: Cluster) -> None:
    # Replies go through the default exchange to the caller's reply queue, which is
    # exclusive to the caller; so here the caller is a hand-written client whose reply
    # queue is a tap queue. Dead letters go to the fanout <exchange>.dlx: a tap binds there.
    foreign = MessageRegistry()

    @message("test.transport.Unknown", registry=foreign)
    @dataclass(frozen=True)
    class Unknown:
        secret: str

    a = await amqp.node("a", max_deliveries=1)  # a crash dead-letters at once
    caller = await amqp.node("caller")  # seals the calls; opens what the tap read
    sender_of_unknown = EnvelopeCodec(amqp.keyring, foreign, caller.codec.max_message_bytes)
    await a.serve_node(_answer_or_fail)
    calls: list[tuple[object, str]] = [  # the call, and the kind of answer it gets
        (SECRET_BLOB, "reply"),
        (Echo(SECRET), "NotAllowed"),  # refused
        (Crash(SECRET), "enotime.DeadLettered"),  # crashed: dead-lettered too
        (Unknown(SECRET), "enotime.UnknownMessageType"),  # undecodable: dead-lettered too
    ]
    async with open_tap() as channel:
        dead_tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await dead_tap.bind(await channel.get_exchange(a.dead_letter_exchange), "")
        replies = await channel.declare_queue(exclusive=True, auto_delete=True)
        for i, (call, _) in enumerate(calls):
            codec = sender_of_unknown if isinstance(call, Unknown) else caller.codec
            out = caller.codec.seal(
                codec.request_document(call, CONTEXT),
                kind="call",
                exchange=amqp.exchange,
                routing_key="node.a",
                to="vault",
                deadline_ms=int((time.time() + WAIT) * 1000),
                correlation_id=str(i),
                reply_to=replies.name,
            )
            await amqp.publish_raw(
                "node.a",
                out.body,
                dict(out.headers),
                out.message_id,
                correlation_id=str(i),
                reply_to=replies.name,
            )
        answers = await tapped(replies, len(calls))
        dead = await tapped(dead_tap, 2)

    for raw in (*answers, *dead):
        assert_ciphertext_only(raw)
    # The tap read real answers: the caller, who holds the key, opens them.
    got: dict[str, str] = {}
    for raw in answers:
        opened = caller.codec.open(_raw(raw, replies.name))
        if opened.kind == "reply":
            assert caller.codec.load_reply(opened) == SECRET_BLOB
            got[str(raw.correlation_id)] = "reply"
            continue
        with pytest.raises(RemoteError) as error:
            caller.codec.load_reply(opened)
        assert SECRET in error.value.text or "test.transport.Unknown" in error.value.text
        got[str(raw.correlation_id)] = error.value.error_type
    assert got == {str(i): kind for i, (_, kind) in enumerate(calls)}
    assert {raw.headers["enotime-dead-reason"] for raw in dead} == {
        "crashed",
        "unknown_message_type",
    }


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

    @property
    def url(self) -> str:
        """The broker's URL through the proxy."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

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


@pytest.fixture
async def proxy(amqp: Cluster) -> AsyncIterator[Proxy]:
    """A proxy in front of the broker, for the test's nodes to connect through."""
    made = Proxy()
    await made.start()
    try:
        yield made
    finally:
        await amqp.aclose()  # while the proxy still forwards: the nodes close through it
        await made.aclose()


async def test_a_cut_link_recovers_and_no_accepted_message_is_lost(
    amqp: Cluster, proxy: Proxy
) -> None:
    from enotime.transport import AmqpTransport

    consumer = await amqp.node("a", url=proxy.url)
    sender = await amqp.node("b", url=proxy.url)
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


async def test_a_message_its_consumer_dies_on_every_time_is_dead_lettered_by_the_broker(
    amqp: Cluster, proxy: Proxy
) -> None:
    # The node never settles the message: its connection drops in the middle of the
    # handler, each time (as when its process dies on that message). The broker puts the
    # message back each time; the quorum queue's x-delivery-limit dead-letters it in the
    # end, with the reason, instead of handing it out forever.
    limit = 2
    dying = await amqp.node(
        "dying",
        url=proxy.url,
        max_deliveries=limit,
        reconnect_interval=0.1,
        close_timeout=0.1,
    )
    sender = await amqp.node("sender", max_deliveries=limit)  # direct to the broker
    dead = await collect_dead_letters(sender)
    counts: list[int] = []
    ids: set[str] = set()

    async def die(delivery: Delivery) -> object:
        counts.append(delivery.delivery_count)
        ids.add(delivery.message_id)
        proxy.cut()  # the connection is gone before any ack or reject
        await asyncio.Event().wait()  # a dead node answers nothing
        return None

    await dying.serve_service("fatal", die)
    await sender.send(Address.service("fatal"), Echo("poison"))
    letter = await next_dead(dead)
    assert letter.reason == "broker: delivery_limit"
    assert letter.headers["x-first-death-reason"] == "delivery_limit"
    assert letter.queue == f"{amqp.exchange}.service.fatal"
    assert letter.routing_key == "service.fatal"
    assert counts == list(range(limit + 1))  # the first delivery and `limit` more
    assert ids == {letter.message_id}  # one message, delivered again and again
    assert dying.statistics().dead_lettered == 0  # the broker did it, not the node
    # Not lost: the dead letter is the message as sent, which a key holder still opens.
    original = RawMessage(
        exchange=amqp.exchange,  # where it was published: its body is bound to it
        routing_key=letter.routing_key,
        headers=letter.headers,
        body=letter.body,
        message_id=letter.message_id,
        correlation_id="",
        reply_to="",
        queue=letter.queue,
        delivery_count=0,
    )
    opened = sender.codec.open(original)
    assert sender.codec.load_request(opened.document)[0] == Echo("poison")
