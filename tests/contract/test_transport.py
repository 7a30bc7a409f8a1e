"""The transport contract: every adapter, the same rules.

Parametrised over the embedded adapter and RabbitMQ (``ENOTIME_AMQP_URL``,
default ``amqp://guest:guest@127.0.0.1:5672/``; skipped with the reason on a
laptop without a broker, failed in CI). Each test gets its own exchange, so
its queues are its own; they are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest

from enotime import RequestContext, current_context, request_context
from enotime.errors import CallTimeout, Refused
from enotime.messages import Request
from enotime.transport import (
    Address,
    DeadLetter,
    DecryptionFailed,
    Delivery,
    Keyring,
    LocalBroker,
    LocalTransport,
    MalformedMessage,
    MessageRegistry,
    MessageTooLarge,
    RemoteError,
    TransportClosed,
    TransportEvent,
    UnknownKey,
    UnknownMessageType,
    Unroutable,
    message,
)
from enotime.transport._base import TransportBase

AMQP_URL = os.environ.get("ENOTIME_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
WAIT = 15.0  # every wait has a timeout; generous for a loaded broker


@message("test.transport.Echo", version=1)
@dataclass(frozen=True)
class Echo(Request[str]):
    text: str


@message("test.transport.Inner", version=1)
@dataclass(frozen=True)
class Inner:
    data: bytes
    ratio: float


@message("test.transport.Blob", version=2)
@dataclass(frozen=True)
class Blob(Request["Blob"]):
    name: str
    count: int
    flag: bool
    nothing: None
    inner: Inner
    items: list[Inner]
    meta: dict[str, int | None] = field(default_factory=dict)


@message("test.transport.Crash", version=1)
@dataclass(frozen=True)
class Crash(Request[None]):
    label: str


class NotAllowed(Refused):
    """A handler's refusal: answers the call with an error."""


# -- the adapters ------------------------------------------------------------------------


def _amqp_answers() -> str | None:
    """None when a broker answers the AMQP handshake, else the reason."""
    from urllib.parse import urlsplit

    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2):
            pass
    except OSError as exc:
        return f"no RabbitMQ at {AMQP_URL} ({exc}); run scripts/services/rabbitmq start"
    try:
        import aio_pika  # noqa: F401
    except ImportError:
        return 'aio-pika is not installed: pip install "enotime[amqp]"'
    return None


class Cluster:
    """Transports of one test on one exchange, the events they report, raw publishing."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.exchange = f"enotime-test-{uuid.uuid4().hex[:12]}"
        self.keyring = Keyring.generate("test-key")
        self.broker = LocalBroker(self.keyring)
        self.events: asyncio.Queue[TransportEvent] = asyncio.Queue()
        self.transports: list[TransportBase] = []
        self._raw_connection: Any = None
        self.cleanup_url = AMQP_URL  # direct to the broker, even when a test proxies its nodes

    async def node(self, node_id: str, *, url: str | None = None, **options: Any) -> TransportBase:
        """A new open transport ``node_id`` (on RabbitMQ: at ``url``, default the broker's)."""
        options.setdefault("observer", self.events.put_nowait)
        options.setdefault("keyring", self.keyring)
        transport: TransportBase
        if self.backend == "local":
            transport = LocalTransport(self.broker, node_id, exchange=self.exchange, **options)
        else:
            from enotime.transport import AmqpTransport

            transport = AmqpTransport(url or AMQP_URL, node_id, exchange=self.exchange, **options)
        await transport.open()
        self.transports.append(transport)
        return transport

    async def publish_raw(
        self,
        routing_key: str,
        body: bytes,
        headers: dict[str, Any] | None,
        message_id: str,
        *,
        correlation_id: str = "",
        reply_to: str = "",
    ) -> None:
        """Publish bytes by hand on the test's exchange, as a foreign publisher would."""
        if self.backend == "local":
            self.broker.publish_raw(
                self.exchange,
                routing_key,
                body,
                headers=headers,
                message_id=message_id,
                correlation_id=correlation_id,
                reply_to=reply_to,
            )
            return
        import aio_pika

        channel = await self._raw_channel()
        exchange = await channel.get_exchange(self.exchange)
        published = aio_pika.Message(
            body,
            headers=headers,
            message_id=message_id,
            correlation_id=correlation_id or None,
            reply_to=reply_to or None,
        )
        await exchange.publish(published, routing_key)
        await channel.close()

    async def _raw_channel(self) -> Any:
        """A new channel on the test's own connection to the broker (not the nodes')."""
        import aio_pika

        if self._raw_connection is None:
            self._raw_connection = await aio_pika.connect(self.cleanup_url)
        return await self._raw_connection.channel()

    async def ready(self, queue: str) -> int:
        """How many messages wait in ``queue`` on the broker, not yet delivered to a consumer."""
        if self.backend == "local":
            return len(self.broker._queues[queue].pending)
        channel = await self._raw_channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
            count = declared.declaration_result.message_count
            return 0 if count is None else count
        finally:
            await channel.close()

    async def event(self, kind: str) -> TransportEvent:
        """The next reported event of ``kind`` (others are skipped)."""
        async with asyncio.timeout(WAIT):
            while True:
                event = await self.events.get()
                if event.kind == kind:
                    return event

    async def aclose(self) -> None:
        transports, self.transports = self.transports, []
        for transport in transports:
            await transport.aclose()
        if self.backend == "amqp":
            await self._delete_topology(transports)

    async def _delete_topology(self, transports: list[TransportBase]) -> None:
        """Delete every queue and exchange of this test, on a direct connection of its own."""
        import aio_pika

        from enotime.transport import AmqpTransport

        names = {f"{self.exchange}.dead"}
        for transport in transports:
            assert isinstance(transport, AmqpTransport)
            names.add(f"{self.exchange}.node.{transport.node_id}")
            names.update(transport._service_queues)
        connection = self._raw_connection or await aio_pika.connect(self.cleanup_url)
        self._raw_connection = None
        try:
            async with asyncio.timeout(WAIT):
                channel = await connection.channel()
                for name in sorted(names):
                    await channel.queue_delete(name)
                for exchange in (self.exchange, f"{self.exchange}.dlx"):
                    await channel.exchange_delete(exchange)
        finally:
            await connection.close()


@pytest.fixture(params=["local", "amqp"])
async def cluster(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Cluster]:
    """A fresh set of nodes on the adapter under test; everything deleted afterwards."""
    backend: str = request.param
    if backend == "amqp" and (reason := _amqp_answers()) is not None:
        require_service(reason)
    cluster = Cluster(backend)
    try:
        yield cluster
    finally:
        await cluster.aclose()


class Inbox:
    """A handler that records deliveries and answers with ``answer(delivery)``."""

    def __init__(self, answer: Callable[[Delivery], Awaitable[object]] | None = None) -> None:
        self.deliveries: asyncio.Queue[Delivery] = asyncio.Queue()
        self.contexts: list[RequestContext | None] = []
        self._answer = answer

    async def __call__(self, delivery: Delivery) -> object:
        self.contexts.append(current_context())
        self.deliveries.put_nowait(delivery)
        return None if self._answer is None else await self._answer(delivery)

    async def next(self) -> Delivery:
        async with asyncio.timeout(WAIT):
            return await self.deliveries.get()


async def _echo(delivery: Delivery) -> object:
    msg = delivery.message
    if isinstance(msg, Echo):
        if msg.text == "refuse":
            raise NotAllowed("not for you")
        return f"echo:{msg.text}"
    return msg


async def collect_dead_letters(transport: TransportBase) -> asyncio.Queue[DeadLetter]:
    dead: asyncio.Queue[DeadLetter] = asyncio.Queue()

    async def on_dead(letter: DeadLetter) -> None:
        dead.put_nowait(letter)

    await transport.serve_dead_letters(on_dead)
    return dead


async def next_dead(dead: asyncio.Queue[DeadLetter]) -> DeadLetter:
    async with asyncio.timeout(WAIT):
        return await dead.get()


# -- send, call, reply -------------------------------------------------------------------------


async def test_send_reaches_the_actor_on_its_node_with_the_request_context(
    cluster: Cluster,
) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    inbox = Inbox()
    await a.serve_node(inbox)
    context = RequestContext("req-1", {"sub": "user-1", "roles": ["admin"]})
    with request_context(context):
        await b.send(Address.actor_on("a", "counter"), Echo("hello"))
    delivery = await inbox.next()
    assert delivery.message == Echo("hello")
    assert delivery.kind == "send"
    assert delivery.address == Address.actor_on("a", "counter")
    assert delivery.context == context
    assert inbox.contexts == [context]  # current while the handler ran
    assert delivery.delivery_count == 0
    assert delivery.message_id


async def test_call_returns_the_reply_and_typed_messages_round_trip(cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    await a.serve_node(Inbox(_echo))
    to = Address.actor_on("a", "echo")
    assert await b.call(to, Echo("hi"), timeout=WAIT) == "echo:hi"
    blob = Blob(
        name="ü-名",
        count=-3,
        flag=True,
        nothing=None,
        inner=Inner(b"\x00\xffbinary", 0.25),
        items=[Inner(b"", 1.0), Inner(b"x", -2.5)],
        meta={"a": 1, "b": None},
    )
    assert await b.call(to, blob, timeout=WAIT) == blob
    assert b.statistics().calls_pending == 0


async def test_a_refusal_answers_the_call_with_a_remote_error(cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    await a.serve_node(Inbox(_echo))
    with pytest.raises(RemoteError) as caught:
        await b.call(Address.actor_on("a", "echo"), Echo("refuse"), timeout=WAIT)
    assert caught.value.error_type == "NotAllowed"
    assert caught.value.text == "not for you"
    assert await b.call(Address.actor_on("a", "echo"), Echo("still"), timeout=WAIT) == "echo:still"


async def test_a_service_balances_calls_across_competing_consumers(cluster: Cluster) -> None:
    a, b, client = await cluster.node("a"), await cluster.node("b"), await cluster.node("c")
    seen: dict[str, int] = {"a": 0, "b": 0}
    both = asyncio.Event()

    def serving(node: str) -> Callable[[Delivery], Awaitable[object]]:
        async def handle(delivery: Delivery) -> object:
            seen[node] += 1
            if seen["a"] and seen["b"]:
                both.set()
            # Hold the first message of each consumer until both have one: proves
            # the second consumer gets work while the first is busy.
            async with asyncio.timeout(WAIT):
                await both.wait()
            return node

        return handle

    await a.serve_service("billing", serving("a"))
    await b.serve_service("billing", serving("b"))
    answers = await asyncio.gather(
        *(client.call(Address.service("billing"), Echo(str(i)), timeout=WAIT) for i in range(20))
    )
    assert set(answers) == {"a", "b"}
    assert seen["a"] + seen["b"] == 20


async def test_a_call_past_its_deadline_is_dropped_and_reported(cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    with pytest.raises(CallTimeout):  # nobody consumes a's queue yet
        await b.call(Address.actor_on("a", "slow"), Echo("late"), timeout=0.3)
    inbox = Inbox(_echo)
    await a.serve_node(inbox)
    event = await cluster.event("expired")
    assert "deadline passed" in event.reason
    assert event.routing_key == "node.a"
    assert inbox.deliveries.empty()
    assert a.statistics().expired == 1
    # ...and the node goes on serving.
    assert await b.call(Address.actor_on("a", "x"), Echo("on"), timeout=WAIT) == "echo:on"


async def test_a_crashing_handler_requeues_then_dead_letters_with_the_reason(
    cluster: Cluster,
) -> None:
    a, b = await cluster.node("a", max_deliveries=3), await cluster.node("b", max_deliveries=3)
    counts: list[int] = []

    async def crash(delivery: Delivery) -> object:
        counts.append(delivery.delivery_count)
        raise RuntimeError("boom in handler")

    await a.serve_service("fragile", crash)
    dead = await collect_dead_letters(a)
    with pytest.raises(RemoteError) as caught:
        await b.call(Address.service("fragile"), Crash("x"), timeout=WAIT)
    assert caught.value.error_type == "enotime.DeadLettered"
    assert counts == [0, 1, 2]
    letter = await next_dead(dead)
    assert "handler crashed on delivery 3 of 3" in letter.reason
    assert "boom in handler" in letter.reason
    assert letter.headers["enotime-dead-reason"] == "crashed"  # in the clear: the label only
    assert letter.queue == f"{cluster.exchange}.service.fragile"
    assert letter.routing_key == "service.fragile"
    stats = a.statistics()
    assert (stats.requeued, stats.dead_lettered) == (2, 1)


class Holding:
    """A handler that holds each message until released, counting how many it holds at once.

    ``full`` is set once it holds ``at_once`` at the same time, ``finished`` once
    ``finish_after`` were released and handled; the task of each delivery is in
    ``tasks``, so a test can cancel one.
    """

    def __init__(self, *, at_once: int = 1, finish_after: int = 1) -> None:
        self.at_once = at_once
        self.finish_after = finish_after
        self.running = self.peak = self.done = 0
        self.counts: list[int] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.full = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> object:
        self.counts.append(delivery.delivery_count)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if self.running == self.at_once:
                self.full.set()
            await self.release.wait()
        finally:
            self.running -= 1
        self.done += 1
        if self.done == self.finish_after:
            self.finished.set()
        return None

    async def wait(self, event: asyncio.Event) -> None:
        async with asyncio.timeout(WAIT):
            await event.wait()


async def test_a_cancelled_handler_puts_its_message_back_to_be_delivered_again(
    cluster: Cluster,
) -> None:
    # Cancellation is not a crash: the message is requeued (not rejected, which would
    # dead-letter it), the cancellation propagates, and the next delivery handles it.
    a, b = await cluster.node("a"), await cluster.node("b")
    holding = Holding()
    await a.serve_service("work", holding)
    await b.send(Address.service("work"), Echo("cancel me"))
    await holding.wait(holding.full)
    first = holding.tasks[0]
    holding.release.set()  # the next delivery goes through at once
    first.cancel()
    await holding.wait(holding.finished)
    await asyncio.wait([first], timeout=WAIT)
    assert first.cancelled()  # the cancellation was not swallowed
    assert holding.counts == [0, 1]  # the same message, delivered a second time
    assert a.statistics().dead_lettered == 0
    assert await cluster.ready(a.dead_letter_queue) == 0


async def test_a_handler_running_when_its_transport_closes_is_redelivered_to_the_next_consumer(
    cluster: Cluster,
) -> None:
    leaving = await cluster.node("leaving", close_timeout=0.1)
    sender = await cluster.node("sender")
    holding = Holding()
    await leaving.serve_service("work", holding)
    await sender.send(Address.service("work"), Echo("in flight"))
    await holding.wait(holding.full)
    await leaving.aclose()  # waits close_timeout for the handler, then cancels it
    assert [task.cancelled() for task in holding.tasks] == [True]  # not handed to it again

    staying = await cluster.node("staying")
    inbox = Inbox()
    await staying.serve_service("work", inbox)
    delivery = await inbox.next()
    assert delivery.message == Echo("in flight")
    assert delivery.delivery_count == 1
    assert await cluster.ready(staying.dead_letter_queue) == 0


async def test_a_consumer_holds_at_most_prefetch_messages_in_its_handlers_at_once(
    cluster: Cluster,
) -> None:
    prefetch, total = 3, 10
    a, b = await cluster.node("a", prefetch=prefetch), await cluster.node("b")
    holding = Holding(at_once=prefetch, finish_after=total)
    await a.serve_service("work", holding)
    for i in range(total):
        await b.send(Address.service("work"), Echo(str(i)))  # each one confirmed: on the queue
    await holding.wait(holding.full)
    # The broker's side of it: the rest wait in the queue, undelivered. (A bounded poll:
    # the count is the broker's, nothing here is told when it changes.)
    queue = a.queue_name(Address.service("work"))
    async with asyncio.timeout(WAIT):
        while (ready := await cluster.ready(queue)) != total - prefetch:
            assert ready > total - prefetch, "more messages delivered than the prefetch"
            await asyncio.sleep(0.05)  # polling the broker -- noqa: sleep-ok
    assert holding.running == prefetch
    holding.release.set()
    await holding.wait(holding.finished)
    assert holding.peak == prefetch
    assert holding.done == total


async def test_a_dead_letter_read_without_its_key_gives_the_reason_label_only(
    cluster: Cluster,
) -> None:
    a, b = await cluster.node("a", max_deliveries=1), await cluster.node("b")
    stranger = await cluster.node("stranger", keyring=Keyring.generate("other-key"))

    async def crash(delivery: Delivery) -> object:
        raise RuntimeError("the detail only key holders read")

    await a.serve_service("fragile", crash)
    dead = await collect_dead_letters(stranger)  # the only reader of the dead letters
    await b.send(Address.service("fragile"), Crash("x"))
    letter = await next_dead(dead)
    assert letter.reason == "crashed (detail unreadable here: UnknownKey)"


async def test_unknown_and_malformed_messages_are_dead_lettered_and_the_node_keeps_running(
    cluster: Cluster,
) -> None:
    # The sender knows classes the receiver does not, or knows them differently.
    foreign = MessageRegistry()

    @message("test.transport.Unknown", registry=foreign)
    @dataclass(frozen=True)
    class Unknown:
        x: int

    @message("test.transport.Echo", version=1, registry=foreign)
    @dataclass(frozen=True)
    class EchoWithAnInt:
        text: int

    a = await cluster.node("a")
    sender = await cluster.node("b", registry=foreign)
    friend = await cluster.node("c")
    inbox = Inbox(_echo)
    await a.serve_node(inbox)
    dead = await collect_dead_letters(a)

    await sender.send(Address.actor_on("a", "x"), Unknown(1))
    assert "UnknownMessageType" in (await next_dead(dead)).reason
    with pytest.raises(RemoteError) as caught:
        await sender.call(Address.actor_on("a", "x"), EchoWithAnInt(5), timeout=WAIT)
    assert caught.value.error_type == "enotime.MalformedMessage"
    letter = await next_dead(dead)
    assert "MalformedMessage" in letter.reason
    assert "text" in letter.reason
    assert letter.headers["enotime-dead-reason"] == "malformed_message"
    assert inbox.deliveries.empty()
    assert await friend.call(Address.actor_on("a", "x"), Echo("alive"), timeout=WAIT) == (
        "echo:alive"
    )


async def test_hand_published_garbage_is_dead_lettered_without_crashing_the_consumer(
    cluster: Cluster,
) -> None:
    a, b = await cluster.node("a", max_message_bytes=4096), await cluster.node("b")
    await a.serve_node(Inbox(_echo))
    dead = await collect_dead_letters(a)
    good = {"enotime-wire": 1, "enotime-kind": "send", "enotime-kid": "test-key"}
    garbage: list[tuple[dict[str, Any] | None, bytes, str]] = [
        (None, b"not an envelope", "MalformedMessage"),
        ({**good, "enotime-wire": 9}, b"x" * 40, "enotime-wire"),
        ({**good, "enotime-kind": "shout"}, b"x" * 40, "enotime-kind"),
        (good, b"short", "too short"),
        (good, os.urandom(64), "DecryptionFailed"),
        ({**good, "enotime-kid": "nobody"}, os.urandom(64), "UnknownKey"),
        (good, b"\x00" * 5000, "MessageTooLarge"),
        ({**good, "enotime-deadline": "soon"}, os.urandom(64), "enotime-deadline"),
    ]
    for headers, body, _ in garbage:
        await cluster.publish_raw("node.a", body, headers, message_id=uuid.uuid4().hex)
    reasons = [(await next_dead(dead)).reason for _ in garbage]
    for (_, _, expected), reason in zip(garbage, reasons, strict=True):
        assert expected in reason, (expected, reason)
    assert await b.call(Address.actor_on("a", "x"), Echo("fine"), timeout=WAIT) == "echo:fine"


async def test_a_body_replayed_under_another_routing_key_fails_authentication(
    cluster: Cluster,
) -> None:
    a, _ = await cluster.node("a"), await cluster.node("b")
    inbox = Inbox(_echo)
    await a.serve_node(inbox)
    dead = await collect_dead_letters(a)
    # A genuine envelope for node b, moved by someone on the broker to node a's queue.
    out = a.codec.seal(
        a.codec.request_document(Echo("for b only"), None),
        kind="send",
        exchange=cluster.exchange,
        routing_key="node.b",
    )
    headers = {k: v for k, v in out.headers.items()}
    await cluster.publish_raw("node.a", out.body, headers, message_id=out.message_id)
    assert "DecryptionFailed" in (await next_dead(dead)).reason
    assert inbox.deliveries.empty()


async def test_publishing_where_nobody_listens_raises_unroutable(cluster: Cluster) -> None:
    a = await cluster.node("a")
    with pytest.raises(Unroutable):
        await a.send(Address.service("nobody"), Echo("lost?"))
    with pytest.raises(Unroutable):
        await a.call(Address.actor_on("ghost", "x"), Echo("lost?"), timeout=WAIT)
    assert a.statistics().published == 0
    assert a.statistics().calls_pending == 0


async def test_what_cannot_be_encoded_is_refused_before_publishing(cluster: Cluster) -> None:
    a = await cluster.node("a", max_message_bytes=1024)
    await a.serve_service("svc", Inbox())

    @dataclass(frozen=True)
    class Plain:
        x: int

    with pytest.raises(UnknownMessageType):
        await a.send(Address.service("svc"), Plain(1))
    with pytest.raises(MessageTooLarge):
        await a.send(Address.service("svc"), Echo("x" * 2000))
    with pytest.raises(MalformedMessage):
        await a.send(Address.service("svc"), Echo(123))  # type: ignore[arg-type]
    assert a.statistics().published == 0


async def test_a_closed_transport_refuses_and_fails_pending_calls(cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    held = asyncio.Event()

    async def hold(delivery: Delivery) -> object:
        held.set()
        await asyncio.Event().wait()  # never answers; cancelled when a closes
        return None

    await a.serve_node(hold)
    call = asyncio.create_task(b.call(Address.actor_on("a", "x"), Echo("wait"), timeout=WAIT))
    async with asyncio.timeout(WAIT):
        await held.wait()
    await b.aclose()
    with pytest.raises(TransportClosed):
        await call
    with pytest.raises(TransportClosed):
        await b.send(Address.actor_on("a", "x"), Echo("after"))


# -- the codec alone -------------------------------------------------------------------------


def test_registration_rules() -> None:
    registry = MessageRegistry()

    @dataclass
    class Mutable:
        x: int

    with pytest.raises(TypeError):
        message("test.Mutable", registry=registry)(Mutable)

    @dataclass(frozen=True)
    class One:
        x: int

    @dataclass(frozen=True)
    class Two:
        x: int

    message("test.One", registry=registry)(One)
    with pytest.raises(ValueError, match="already registered"):
        message("test.One", registry=registry)(Two)
    with pytest.raises(ValueError, match="invalid message tag"):
        message("not a tag", registry=registry)(Two)
    with pytest.raises(ValueError, match="version"):
        message("test.Two", version=0, registry=registry)(Two)
    message("test.One", version=2, registry=registry)(Two)  # a new version beside the old
    assert registry.lookup("test.One", 1) is One
    assert registry.lookup("test.One", 2) is Two
    with pytest.raises(UnknownMessageType):
        registry.lookup("test.One", True)


def test_the_keyring_rotates_and_refuses_tampering() -> None:
    old = Keyring.generate("k1")
    both = Keyring.parse(
        f"k2:{Keyring.generate('x').key('x').encoded().split(':')[1]},{old.key('k1').encoded()}"
    )
    assert both.current == "k2"
    kid, sealed = old.seal(b"aad", b"secret")
    assert both.open(kid, b"aad", sealed) == b"secret"  # old messages still open
    with pytest.raises(DecryptionFailed):
        both.open(kid, b"other aad", sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        both.open(kid, b"aad", tampered)
    with pytest.raises(UnknownKey):
        old.open("k2", b"aad", sealed)


async def test_wire_keys_from_the_crypto_port(tmp_path: Any) -> None:
    from enotime.crypto import EmbeddedCryptoEngine

    engine = EmbeddedCryptoEngine(tmp_path / "keys")
    shares = await engine.initialize(shares=1, threshold=1)
    await engine.submit_unseal_share(shares[0])
    await engine.create_key("wire")
    key, wrapped = await Keyring.new_data_key(engine, "wire")
    again = await Keyring.data_key(engine, "wire", wrapped)  # what another node does
    assert again == key
    assert key.kid.startswith("dk-")
    kid, sealed = Keyring([key]).seal(b"", b"hello")
    assert Keyring([again]).open(kid, b"", sealed) == b"hello"
