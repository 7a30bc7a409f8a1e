"""What both adapters share: calls and their replies, and the consumer's rules.

The consumer's rules, in order, for each message taken from a queue:

1. Open the envelope (size, headers, AES-GCM, JSON, schema). A
   :class:`WireError` dead-letters the message with the error as the reason
   (and answers a call with an error), then acks it: the node keeps running.
2. A call whose deadline passed is dropped (acked, logged, counted, reported).
3. The handler runs with the sender's request context current.
4. It returned: the reply is published (for a call), then the message is acked.
   It raised ``Refused``: the error is the answer, then ack. It raised
   anything else: requeue, unless this was delivery ``max_deliveries``, in
   which case dead-letter with the crash as the reason (and answer a call
   with ``enotime.DeadLettered``). Cancelled: requeue, re-raise.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

from enotime._context import RequestContext, current_context, request_context
from enotime._handler_timing import HandlerStatistics, HandlerTiming
from enotime.errors import CallTimeout, Refused
from enotime.transport._envelope import (
    HEADER_DEAD_QUEUE,
    HEADER_DEAD_REASON,
    HEADER_KIND,
    EnvelopeCodec,
    Kind,
    Outbound,
    RawMessage,
)
from enotime.transport._errors import (
    MalformedMessage,
    RemoteError,
    TransportClosed,
    TransportError,
    WireError,
)
from enotime.transport._keys import Keyring
from enotime.transport._message import MessageRegistry, default_registry
from enotime.transport._port import (
    AbstractTransport,
    Address,
    DeadLetter,
    Delivery,
    Handler,
    TransportEvent,
    TransportStatistics,
)

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "Settle", "TransportBase"]

logger = logging.getLogger("enotime.transport")

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024


class Settle(Protocol):
    """How an adapter settles one delivery with its queue."""

    async def ack(self) -> None:
        """Done with it: remove it from the queue."""

    async def requeue(self) -> None:
        """Put it back to be delivered again (its delivery count goes up)."""


class TransportBase(AbstractTransport):
    """Calls, replies and the consumer's rules; adapters add the moving of bytes."""

    def __init__(
        self,
        node_id: str,
        *,
        keyring: Keyring,
        exchange: str = "enotime",
        registry: MessageRegistry | None = None,
        max_deliveries: int = 5,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        close_timeout: float = 5.0,
        observer: Callable[[TransportEvent], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not node_id or "." in node_id:
            raise ValueError(f"invalid node id {node_id!r}: non-empty, without dots")
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self.node_id = node_id
        self.exchange = exchange
        self.max_deliveries = max_deliveries
        self.close_timeout = close_timeout
        self.codec = EnvelopeCodec(
            keyring, default_registry if registry is None else registry, max_message_bytes
        )
        self._observer = observer
        self._wall = wall_clock
        self._reply_to = ""
        self._open = False
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._inflight: set[asyncio.Task[Any]] = set()
        self._published = self._handled = self._replies = 0
        self._expired = self._requeued = self._dead_lettered = 0
        # For metrics (statistics()): plain ints, read at scrape time.
        self._sends = self._calls = self._redelivered = self._reconnects = 0
        self._consumed = {"node": 0, "service": 0, "reply": 0}
        self._dead_by_reason: collections.Counter[str] = collections.Counter()
        self._send_failures: collections.Counter[str] = collections.Counter()
        self._call_failures: collections.Counter[str] = collections.Counter()
        self._call_timing = HandlerTiming()

    # -- names ---------------------------------------------------------------------

    @property
    def dead_letter_exchange(self) -> str:
        """``<exchange>.dlx``: where dead letters are published."""
        return f"{self.exchange}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        """``<exchange>.dead``: the queue bound to the dead-letter exchange."""
        return f"{self.exchange}.dead"

    def queue_name(self, address: Address) -> str:
        """``<exchange>.node.<node>`` or ``<exchange>.service.<name>``."""
        return f"{self.exchange}.{address.routing_key}"

    # -- for adapters ----------------------------------------------------------------

    @abc.abstractmethod
    async def _publish(self, out: Outbound, *, mandatory: bool) -> None:
        """Publish and wait for the broker's confirm; raise Unroutable or PublishFailed."""

    @abc.abstractmethod
    async def _publish_dead_letter(self, raw: RawMessage, headers: dict[str, object]) -> None:
        """Publish ``raw``'s body with ``headers`` to the dead-letter exchange, confirmed."""

    def _check_open(self) -> None:
        if not self._open:
            raise TransportClosed(f"transport of node {self.node_id!r} is not open")

    # -- sending -------------------------------------------------------------------------

    async def send(
        self, to: Address, message: object, *, context: RequestContext | None = None
    ) -> None:
        try:
            self._check_open()
            ctx = context if context is not None else current_context()
            out = self.codec.seal(
                self.codec.request_document(message, ctx),
                kind="send",
                exchange=self.exchange,
                routing_key=to.routing_key,
                to=to.actor,
            )
            await self._publish(out, mandatory=True)
        except Exception as exc:
            self._send_failures[type(exc).__name__] += 1
            raise
        self._published += 1
        self._sends += 1

    async def call(
        self, to: Address, message: object, *, timeout: float, context: RequestContext | None = None
    ) -> Any:
        clock = time.perf_counter
        start = clock()
        try:
            result = await self._call(to, message, timeout, context)
        except asyncio.CancelledError:
            raise  # the caller gave up: neither a failure nor a latency of the transport
        except Exception as exc:
            self._call_failures[type(exc).__name__] += 1
            self._call_timing.observe(clock() - start)
            raise
        self._call_timing.observe(clock() - start)
        return result

    async def _call(
        self, to: Address, message: object, timeout: float, context: RequestContext | None
    ) -> Any:
        self._check_open()
        ctx = context if context is not None else current_context()
        correlation_id = os.urandom(16).hex()
        out = self.codec.seal(
            self.codec.request_document(message, ctx),
            kind="call",
            exchange=self.exchange,
            routing_key=to.routing_key,
            to=to.actor,
            deadline_ms=int((self._wall() + timeout) * 1000),
            correlation_id=correlation_id,
            reply_to=self._reply_to,
        )
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = reply
        try:
            async with asyncio.timeout(timeout):
                await self._publish(out, mandatory=True)
                self._published += 1
                self._calls += 1
                return await reply
        except TimeoutError:
            raise CallTimeout(to, message, timeout) from None
        finally:
            self._pending.pop(correlation_id, None)

    def _fail_pending(self, error: BaseException) -> None:
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(error)

    def _on_reply(self, raw: RawMessage) -> None:
        """Resolve the pending call a reply (or error answer) belongs to."""
        self._consumed["reply"] += 1
        reply = self._pending.get(raw.correlation_id)
        if reply is None or reply.done():
            logger.debug("discarding a reply nobody waits for (%s)", raw.correlation_id)
            return
        try:
            opened = self.codec.open(raw)
            if opened.kind not in ("reply", "error"):
                raise MalformedMessage(f"a {opened.kind!r} arrived on the reply queue")
            value = self.codec.load_reply(opened)
        except (RemoteError, WireError) as exc:
            if isinstance(exc, WireError):
                logger.warning("undecodable reply to call %s: %s", raw.correlation_id, exc)
            reply.set_exception(exc)
        else:
            reply.set_result(value)

    # -- consuming -----------------------------------------------------------------------

    async def _process(
        self,
        raw: RawMessage,
        settle: Settle,
        address_kind: Literal["node", "service"],
        handler: Handler,
    ) -> None:
        """Apply the consumer's rules (module docstring) to one message."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._process_one(raw, settle, address_kind, handler)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _process_one(
        self,
        raw: RawMessage,
        settle: Settle,
        address_kind: Literal["node", "service"],
        handler: Handler,
    ) -> None:
        self._consumed[address_kind] += 1
        if raw.delivery_count:
            self._redelivered += 1
        is_call = raw.headers.get(HEADER_KIND) in ("call", b"call")
        try:
            opened = self.codec.open(raw)
            if opened.kind not in ("send", "call"):
                raise MalformedMessage(f"a {opened.kind!r} arrived on a work queue")
            if opened.kind == "call" and not (raw.reply_to and raw.correlation_id):
                raise MalformedMessage("a call needs reply_to and correlation_id")
            message, ctx = self.codec.load_request(opened.document)
        except WireError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "dead-lettering undecodable message %s on %s: %s",
                raw.message_id or "(no id)",
                raw.routing_key,
                reason,
            )
            await self._dead_letter(raw, settle, reason, _snake(type(exc).__name__))
            if is_call and raw.reply_to and raw.correlation_id:
                await self._answer(
                    raw,
                    "error",
                    self.codec.error_document(f"enotime.{type(exc).__name__}", str(exc)),
                )
            return

        if opened.kind == "call" and opened.deadline_ms:
            late = self._wall() - opened.deadline_ms / 1000
            if late > 0:
                self._expired += 1
                reason = f"its deadline passed {late:.3f} s ago; the caller gave up"
                logger.warning(
                    "dropping call %s to %s: %s", raw.message_id, raw.routing_key, reason
                )
                self._report("expired", reason, raw)
                await settle.ack()
                return

        address = Address(address_kind, raw.routing_key.partition(".")[2], opened.to)
        delivery = Delivery(
            message=message,
            context=ctx,
            address=address,
            kind="call" if opened.kind == "call" else "send",
            deadline=opened.deadline_ms / 1000 if opened.deadline_ms else None,
            delivery_count=raw.delivery_count,
            message_id=raw.message_id,
        )
        try:
            if ctx is None:
                result = await handler(delivery)
            else:
                with request_context(ctx):
                    result = await handler(delivery)
        except Refused as exc:
            self._handled += 1
            if delivery.kind == "call":
                await self._answer(
                    raw, "error", self.codec.error_document(type(exc).__qualname__, str(exc))
                )
            await settle.ack()
            return
        except asyncio.CancelledError:
            # Put it back for another consumer; never swallow the cancellation.
            with contextlib.suppress(Exception):
                await asyncio.shield(settle.requeue())
            raise
        except Exception as exc:
            deliveries = raw.delivery_count + 1
            if deliveries < self.max_deliveries:
                self._requeued += 1
                reason = (
                    f"handler crashed on delivery {deliveries} of {self.max_deliveries}: {exc!r}"
                )
                logger.warning("requeueing %s on %s: %s", raw.message_id, raw.routing_key, reason)
                self._report("requeued", reason, raw)
                await settle.requeue()
                return
            reason = f"handler crashed on delivery {deliveries} of {self.max_deliveries}: {exc!r}"
            logger.error(
                "dead-lettering %s on %s: %s", raw.message_id, raw.routing_key, reason, exc_info=exc
            )
            await self._dead_letter(raw, settle, reason, "crashed")
            if delivery.kind == "call":
                await self._answer(
                    raw, "error", self.codec.error_document("enotime.DeadLettered", reason)
                )
            return

        self._handled += 1
        if delivery.kind == "call":
            try:
                document = self.codec.reply_document(result)
                await self._answer(raw, "reply", document)
            except (WireError, TypeError, ValueError) as exc:
                logger.error("cannot encode the reply to %s: %s", raw.message_id, exc)
                await self._answer(
                    raw, "error", self.codec.error_document("enotime.UnencodableReply", str(exc))
                )
        await settle.ack()

    async def _answer(self, raw: RawMessage, kind: Kind, document: Mapping[str, Any]) -> None:
        """Publish a reply or error answer to the caller's reply queue (mandatory=False)."""
        out = self.codec.seal(
            document,
            kind=kind,
            exchange="",
            routing_key=raw.reply_to,
            correlation_id=raw.correlation_id,
            persistent=False,
        )
        try:
            # Not mandatory: a caller that went away is not an error, and with RabbitMQ
            # 3.10 a mandatory reply can be delivered *and* returned (DESIGN.md pitfalls).
            await self._publish(out, mandatory=False)
        except TransportError as exc:
            logger.warning("could not answer call %s: %s", raw.correlation_id, exc)
        else:
            self._replies += 1

    async def _dead_letter(
        self, raw: RawMessage, settle: Settle, reason: str, reason_label: str
    ) -> None:
        """Publish to the dead-letter exchange with the reason, then ack; requeue if that fails.

        ``reason_label`` is the bounded form of ``reason`` the statistics count it
        under, and the only part of it the broker sees: ``reason`` may quote the
        message (a handler's error, a decoding error), so it travels sealed.
        """
        headers: dict[str, object] = dict(raw.headers)
        headers.update(
            self.codec.dead_letter_headers(
                message_id=raw.message_id, queue=raw.queue, reason=reason_label, detail=reason
            )
        )
        try:
            await self._publish_dead_letter(raw, headers)
        except TransportError as exc:
            logger.error("could not dead-letter %s (%s); requeueing it", raw.message_id, exc)
            await settle.requeue()
            return
        self._dead_lettered += 1
        self._dead_by_reason[reason_label] += 1
        self._report("dead_lettered", reason, raw)
        await settle.ack()

    def _read_dead_letter(self, raw: RawMessage) -> DeadLetter:
        headers = raw.headers
        reason: object = headers.get(HEADER_DEAD_REASON)
        queue = headers.get(HEADER_DEAD_QUEUE)
        if reason is None:  # dead-lettered by the broker itself (x-delivery-limit, ...)
            reason = f"broker: {_header_text(headers.get('x-first-death-reason', 'unknown'))}"
            queue = headers.get("x-first-death-queue", raw.queue)
        else:
            try:
                detail = self.codec.open_dead_letter_detail(headers, raw.message_id)
            except WireError as exc:
                detail = f"{_header_text(reason)} (detail unreadable here: {type(exc).__name__})"
            if detail is not None:  # else a plain reason, from a publisher that seals none
                reason = detail
        return DeadLetter(
            reason=_header_text(reason),
            queue=_header_text(queue),
            routing_key=raw.routing_key,
            headers=headers,
            body=raw.body,
            message_id=raw.message_id,
        )

    def _report(
        self, kind: Literal["expired", "dead_lettered", "requeued"], reason: str, raw: RawMessage
    ) -> None:
        if self._observer is not None:
            try:
                self._observer(TransportEvent(kind, reason, raw.routing_key, raw.message_id))
            except Exception:
                logger.exception("transport observer failed")

    async def _drain(self) -> None:
        """Wait for running handlers up to ``close_timeout``, then cancel the rest."""
        if not self._inflight:
            return
        _, pending = await asyncio.wait(set(self._inflight), timeout=self.close_timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self.close_timeout)

    def _connected(self) -> bool:
        """Whether messages can move now; adapters with a connection refine it."""
        return self._open

    def statistics(self) -> TransportStatistics:
        timing = HandlerStatistics.of(("", ""), self._call_timing)
        return TransportStatistics(
            published=self._published,
            handled=self._handled,
            replies=self._replies,
            expired=self._expired,
            requeued=self._requeued,
            dead_lettered=self._dead_lettered,
            calls_pending=len(self._pending),
            published_by_kind={"send": self._sends, "call": self._calls, "reply": self._replies},
            consumed_by_queue=dict(self._consumed),
            redelivered=self._redelivered,
            dead_lettered_by_reason=dict(self._dead_by_reason),
            send_failures=dict(self._send_failures),
            call_failures=dict(self._call_failures),
            call_seconds_count=timing.count,
            call_seconds_sum=timing.sum_seconds,
            call_seconds_buckets=timing.buckets,
            connected=self._connected(),
            reconnects=self._reconnects,
        )


def _header_text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _snake(name: str) -> str:
    """``DecryptionFailed`` -> ``decryption_failed``: a wire error as a bounded label value."""
    return _CAMEL.sub("_", name).lower()
