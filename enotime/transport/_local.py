"""The embedded adapter: a broker inside the process, with RabbitMQ's delivery rules.

Several :class:`LocalTransport` (nodes) share one :class:`LocalBroker`. Bytes
go through the same envelope as on RabbitMQ — sealed, then opened — so the
contract suite means the same thing for both adapters.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from enotime.transport._base import TransportBase
from enotime.transport._envelope import Outbound, RawMessage
from enotime.transport._errors import TransportClosed, Unroutable
from enotime.transport._keys import Keyring
from enotime.transport._port import DeadLetterHandler, Handler, Subscription

__all__ = ["LocalBroker", "LocalTransport"]

_Callback = Callable[[RawMessage, "_Settle"], Awaitable[None]]


class _Settle:
    __slots__ = ("_consumer", "_done", "_message")

    def __init__(self, consumer: _Consumer, message: RawMessage) -> None:
        self._consumer = consumer
        self._message = message
        self._done = False

    async def ack(self) -> None:
        self._settled(None)

    async def requeue(self) -> None:
        self._settled(
            dataclasses.replace(self._message, delivery_count=self._message.delivery_count + 1)
        )

    def _settled(self, again: RawMessage | None) -> None:
        if self._done:
            return
        self._done = True
        queue = self._consumer.queue
        if again is not None:
            queue.pending.append(again)
        self._consumer.credit += 1
        queue.dispatch()


class _Consumer(Subscription):
    """One consumer of a queue with ``prefetch`` credit, as in AMQP's basic.qos."""

    def __init__(self, queue: _Queue, callback: _Callback, prefetch: int) -> None:
        self.queue = queue
        self.callback = callback
        self.credit = prefetch
        self.tasks: set[asyncio.Task[None]] = set()

    async def _run(self, message: RawMessage) -> None:
        settle = _Settle(self, message)
        try:
            await self.callback(message, settle)
        except Exception:  # a bug in a callback must not stop the queue
            logging.getLogger("enotime.transport").exception("local consumer failed")
        finally:
            await settle.requeue()  # a no-op once settled; put back if the consumer died

    def cancel(self) -> None:
        """Take no more messages (AMQP's basic.cancel); those being handled still settle."""
        if self in self.queue.consumers:
            self.queue.consumers.remove(self)

    async def aclose(self) -> None:
        self.cancel()
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.queue.dispatch()


class _Queue:
    """A FIFO dispatched round-robin to consumers that have credit left, like RabbitMQ."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending: collections.deque[RawMessage] = collections.deque()
        self.consumers: list[_Consumer] = []
        self._next = 0

    def put(self, message: RawMessage) -> None:
        self.pending.append(dataclasses.replace(message, queue=self.name))
        self.dispatch()

    def dispatch(self) -> None:
        while self.pending and self.consumers:
            for offset in range(len(self.consumers)):
                consumer = self.consumers[(self._next + offset) % len(self.consumers)]
                if consumer.credit > 0:
                    self._next = (self._next + offset + 1) % len(self.consumers)
                    break
            else:
                return
            consumer.credit -= 1
            task = asyncio.get_running_loop().create_task(
                consumer._run(self.pending.popleft()), name=f"enotime-local:{self.name}"
            )
            consumer.tasks.add(task)
            task.add_done_callback(consumer.tasks.discard)


class LocalBroker:
    """In-process exchanges and queues; share one between the transports that talk.

    Attributes:
        keyring: The keyring its transports use unless given their own.
    """

    def __init__(self, keyring: Keyring | None = None) -> None:
        self.keyring = Keyring.generate() if keyring is None else keyring
        self._queues: dict[str, _Queue] = {}
        self._bindings: dict[tuple[str, str], set[str]] = {}

    def declare_queue(self, name: str) -> _Queue:
        """The queue ``name``, created if need be."""
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue(name)
        return queue

    def delete_queue(self, name: str) -> None:
        """Remove a queue and its bindings (its messages are gone)."""
        self._queues.pop(name, None)
        for bound in self._bindings.values():
            bound.discard(name)

    def bind(self, queue: str, exchange: str, routing_key: str) -> None:
        """Route ``routing_key`` on ``exchange`` to ``queue`` (fanout: bind with ``"#"``)."""
        self._bindings.setdefault((exchange, routing_key), set()).add(queue)

    def publish_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        headers: Mapping[str, object] | None = None,
        message_id: str = "",
        correlation_id: str = "",
        reply_to: str = "",
        mandatory: bool = True,
    ) -> None:
        """Publish bytes as they are, like a hand-written publisher on the broker.

        The empty exchange routes to the queue named by ``routing_key``, as in AMQP.

        Raises:
            Unroutable: ``mandatory`` and no queue is bound.
        """
        if exchange == "":
            names = {routing_key} if routing_key in self._queues else set()
        else:
            names = self._bindings.get((exchange, routing_key), set()) | self._bindings.get(
                (exchange, "#"), set()
            )
        if not names:
            if mandatory:
                raise Unroutable(f"{exchange}/{routing_key}")
            return
        message = RawMessage(
            exchange=exchange,
            routing_key=routing_key,
            headers=dict(headers or {}),
            body=bytes(body),
            message_id=message_id,
            correlation_id=correlation_id,
            reply_to=reply_to,
            queue="",
            delivery_count=0,
        )
        for name in names:
            self._queues[name].put(message)

    def consume(self, queue: str, callback: _Callback, prefetch: int) -> _Consumer:
        """Hand the queue's messages to ``callback``, at most ``prefetch`` unsettled at once."""
        target = self.declare_queue(queue)
        consumer = _Consumer(target, callback, prefetch)
        target.consumers.append(consumer)
        target.dispatch()
        return consumer


class LocalTransport(TransportBase):
    """The embedded transport: nodes in one process, through a :class:`LocalBroker`.

    Args:
        broker: The broker shared by the nodes that talk to each other.
        node_id: This node's id.
        keyring: Defaults to the broker's.
        prefetch: Messages handled at once per consumer.
        **options: As for :class:`~enotime.transport.AmqpTransport` (``exchange``,
            ``max_deliveries``, ``max_message_bytes``, ``observer``, ...).
    """

    def __init__(
        self,
        broker: LocalBroker,
        node_id: str,
        *,
        keyring: Keyring | None = None,
        prefetch: int = 64,
        **options: Any,
    ) -> None:
        super().__init__(node_id, keyring=broker.keyring if keyring is None else keyring, **options)
        self.broker = broker
        self.prefetch = prefetch
        self._subscriptions: list[_Consumer] = []
        self._reply_subscription: _Consumer | None = None

    def __repr__(self) -> str:
        return f"<LocalTransport node={self.node_id!r} exchange={self.exchange!r}>"

    async def open(self) -> None:
        if self._open:
            return
        broker = self.broker
        broker.declare_queue(self.dead_letter_queue)
        broker.bind(self.dead_letter_queue, self.dead_letter_exchange, "#")
        node_queue = f"{self.exchange}.node.{self.node_id}"
        broker.declare_queue(node_queue)
        broker.bind(node_queue, self.exchange, f"node.{self.node_id}")
        self._reply_to = f"{self.exchange}.reply.{self.node_id}.{uuid.uuid4().hex[:12]}"
        broker.declare_queue(self._reply_to)

        async def on_reply(raw: RawMessage, settle: _Settle) -> None:
            await settle.ack()
            self._on_reply(raw)

        self._reply_subscription = broker.consume(self._reply_to, on_reply, 1)
        self._open = True

    async def aclose(self) -> None:
        if not self._open:
            return
        self._open = False
        # As on RabbitMQ: stop consuming first, so that a message a handler puts back
        # while the transport closes goes to another consumer, not to this one again.
        for subscription in self._subscriptions:
            subscription.cancel()
        await self._drain()
        for subscription in self._subscriptions:
            await subscription.aclose()
        self._subscriptions.clear()
        if self._reply_subscription is not None:  # kept until now: draining handlers' calls
            await self._reply_subscription.aclose()
            self._reply_subscription = None
        self.broker.delete_queue(self._reply_to)
        self._fail_pending(TransportClosed(f"transport of node {self.node_id!r} closed"))

    async def _publish(self, out: Outbound, *, mandatory: bool) -> None:
        self._check_open()
        self.broker.publish_raw(
            out.exchange,
            out.routing_key,
            out.body,
            headers=out.headers,
            message_id=out.message_id,
            correlation_id=out.correlation_id or "",
            reply_to=out.reply_to or "",
            mandatory=mandatory,
        )

    async def _publish_dead_letter(self, raw: RawMessage, headers: dict[str, object]) -> None:
        self.broker.publish_raw(
            self.dead_letter_exchange,
            raw.routing_key,
            raw.body,
            headers=headers,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            reply_to=raw.reply_to,
        )

    def _serve(self, queue: str, kind: Literal["node", "service"], handler: Handler) -> _Consumer:
        async def on_message(raw: RawMessage, settle: _Settle) -> None:
            await self._process(raw, settle, kind, handler)

        subscription = self.broker.consume(queue, on_message, self.prefetch)
        self._subscriptions.append(subscription)
        return subscription

    async def serve_node(self, handler: Handler) -> Subscription:
        self._check_open()
        return self._serve(f"{self.exchange}.node.{self.node_id}", "node", handler)

    async def serve_service(self, name: str, handler: Handler) -> Subscription:
        self._check_open()
        queue = f"{self.exchange}.service.{name}"
        self.broker.declare_queue(queue)
        self.broker.bind(queue, self.exchange, f"service.{name}")
        return self._serve(queue, "service", handler)

    async def serve_dead_letters(self, handler: DeadLetterHandler) -> Subscription:
        self._check_open()

        async def on_message(raw: RawMessage, settle: _Settle) -> None:
            await handler(self._read_dead_letter(raw))
            await settle.ack()

        subscription = self.broker.consume(self.dead_letter_queue, on_message, 1)
        self._subscriptions.append(subscription)
        return subscription
