"""The envelope: visible AMQP headers, AES-256-GCM body, and the JSON document inside.

Exactly what ``docs/wire.md`` specifies, in one place, so both adapters (and
any other language) build and read the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from enotime._context import RequestContext
from enotime.transport._errors import MalformedMessage, MessageTooLarge, RemoteError
from enotime.transport._keys import NONCE_BYTES, TAG_BYTES, Keyring
from enotime.transport._message import MessageRegistry, message_type

__all__ = [
    "HEADER_DEADLINE",
    "HEADER_DEAD_DETAIL",
    "HEADER_DEAD_KID",
    "HEADER_DEAD_QUEUE",
    "HEADER_DEAD_REASON",
    "HEADER_KID",
    "HEADER_KIND",
    "HEADER_TO",
    "HEADER_WIRE",
    "WIRE_VERSION",
    "EnvelopeCodec",
    "Kind",
    "Opened",
    "Outbound",
    "RawMessage",
    "associated_data",
]

WIRE_VERSION = 1
HEADER_WIRE = "enotime-wire"
HEADER_KIND = "enotime-kind"
HEADER_TO = "enotime-to"
HEADER_DEADLINE = "enotime-deadline"
HEADER_KID = "enotime-kid"
HEADER_DEAD_REASON = "enotime-dead-reason"
HEADER_DEAD_QUEUE = "enotime-dead-queue"
HEADER_DEAD_DETAIL = "enotime-dead-detail"
HEADER_DEAD_KID = "enotime-dead-kid"
MAX_DEAD_DETAIL = 1000
"""Characters of a dead letter's detail kept (a header: it must stay small)."""

Kind = Literal["send", "call", "reply", "error"]
_KINDS: frozenset[str] = frozenset(("send", "call", "reply", "error"))
_AAD_LABEL = b"enotime-wire-1"
_DEAD_AAD_LABEL = b"enotime-dead-1"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _dumps(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _loads(data: bytes) -> Any:
    return json.loads(data, parse_constant=_reject_constant)


def associated_data(
    *,
    kind: str,
    exchange: str,
    routing_key: str,
    to: str,
    deadline_ms: int,
    correlation_id: str,
    reply_to: str,
    message_id: str,
    kid: str,
) -> bytes:
    """The AES-GCM associated data: every routing field, length-prefixed.

    Each field is its UTF-8 bytes preceded by their length as a 4-byte
    big-endian unsigned integer, in this order: the label ``enotime-wire-1``,
    kind, exchange, routing key, to, deadline (decimal), correlation id,
    reply-to, message id, key id.
    """
    return _framed(
        _AAD_LABEL,
        kind,
        exchange,
        routing_key,
        to,
        str(deadline_ms),
        correlation_id,
        reply_to,
        message_id,
        kid,
    )


_length = struct.Struct(">I").pack


def _framed(label: bytes, *fields: str) -> bytes:
    """``label`` and each field's UTF-8 bytes, each preceded by its 4-byte big-endian length."""
    parts = [_length(len(label)), label]  # on every message, both ways: kept lean
    for value in fields:
        data = value.encode()
        parts.append(_length(len(data)))
        parts.append(data)
    return b"".join(parts)


def _dead_letter_data(message_id: str, queue: str, reason: str, kid: str) -> bytes:
    """The associated data of a dead letter's sealed detail (docs/wire.md)."""
    return _framed(_DEAD_AAD_LABEL, message_id, queue, reason, kid)


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message ready for the broker: where it goes, its visible headers, its sealed body."""

    exchange: str
    routing_key: str
    headers: dict[str, str | int]
    body: bytes
    message_id: str
    correlation_id: str | None
    reply_to: str | None
    persistent: bool


@dataclass(frozen=True, slots=True)
class RawMessage:
    """What a consumer received, whatever the adapter: nothing decoded yet.

    Attributes:
        queue: The queue it was consumed from.
        delivery_count: Earlier deliveries of this message (``x-delivery-count``; 0 first).
    """

    exchange: str
    routing_key: str
    headers: Mapping[str, object]
    body: bytes
    message_id: str
    correlation_id: str
    reply_to: str
    queue: str
    delivery_count: int


@dataclass(frozen=True, slots=True)
class Opened:
    """A decrypted envelope: its routing fields and the JSON document inside."""

    kind: Kind
    to: str
    deadline_ms: int
    document: dict[str, Any]


def _text(headers: Mapping[str, object], name: str) -> str:
    value = headers.get(name, "")
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise MalformedMessage(f"header {name!r} is not UTF-8") from None
    if not isinstance(value, str):
        raise MalformedMessage(f"header {name!r} must be a string, not {type(value).__name__}")
    return value


def _integer(headers: Mapping[str, object], name: str) -> int:
    value = headers.get(name, 0)
    if isinstance(value, bytes | str):
        try:
            value = int(value)
        except ValueError:
            raise MalformedMessage(f"header {name!r} is not an integer") from None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedMessage(f"header {name!r} must be a non-negative integer")
    return value


class EnvelopeCodec:
    """Seals documents into envelopes and opens them, with one keyring and registry."""

    def __init__(self, keyring: Keyring, registry: MessageRegistry, max_message_bytes: int) -> None:
        self.keyring = keyring
        self.registry = registry
        self.max_message_bytes = max_message_bytes

    # -- sealing ---------------------------------------------------------------------

    def seal(
        self,
        document: Mapping[str, Any],
        *,
        kind: Kind,
        exchange: str,
        routing_key: str,
        to: str = "",
        deadline_ms: int = 0,
        correlation_id: str = "",
        reply_to: str = "",
        persistent: bool = True,
    ) -> Outbound:
        """Encrypt ``document`` into an envelope bound to its routing fields.

        Raises:
            MessageTooLarge: The sealed body would exceed ``max_message_bytes``.
        """
        plaintext = _dumps(document)
        size = len(plaintext) + NONCE_BYTES + TAG_BYTES
        if size > self.max_message_bytes:
            raise MessageTooLarge(
                f"{kind} to {routing_key!r} is {size} bytes sealed; "
                f"the limit is {self.max_message_bytes}"
            )
        message_id = os.urandom(16).hex()  # 32 hex digits (docs/wire.md); no UUID object
        kid = self.keyring.current
        aad = associated_data(
            kind=kind,
            exchange=exchange,
            routing_key=routing_key,
            to=to,
            deadline_ms=deadline_ms,
            correlation_id=correlation_id,
            reply_to=reply_to,
            message_id=message_id,
            kid=kid,
        )
        kid, body = self.keyring.seal(aad, plaintext)
        headers: dict[str, str | int] = {
            HEADER_WIRE: WIRE_VERSION,
            HEADER_KIND: kind,
            HEADER_KID: kid,
        }
        if to:
            headers[HEADER_TO] = to
        if deadline_ms:
            headers[HEADER_DEADLINE] = deadline_ms
        return Outbound(
            exchange=exchange,
            routing_key=routing_key,
            headers=headers,
            body=body,
            message_id=message_id,
            correlation_id=correlation_id or None,
            reply_to=reply_to or None,
            persistent=persistent,
        )

    def open(self, raw: RawMessage) -> Opened:
        """Check the visible headers, authenticate and decrypt, parse the JSON document.

        Raises:
            MessageTooLarge: The body is above ``max_message_bytes``.
            MalformedMessage: Headers or JSON are not the wire format.
            DecryptionFailed: Authentication failed (see :class:`DecryptionFailed`).
        """
        if len(raw.body) > self.max_message_bytes:
            raise MessageTooLarge(
                f"body of {len(raw.body)} bytes is above the limit of {self.max_message_bytes}"
            )
        headers = raw.headers
        wire = _integer(headers, HEADER_WIRE)
        if wire != WIRE_VERSION:
            raise MalformedMessage(f"unsupported {HEADER_WIRE} {wire!r} (this node speaks 1)")
        kind = _text(headers, HEADER_KIND)
        if kind not in _KINDS:
            raise MalformedMessage(f"unknown {HEADER_KIND} {kind!r}")
        to = _text(headers, HEADER_TO)
        deadline_ms = _integer(headers, HEADER_DEADLINE)
        kid = _text(headers, HEADER_KID)
        aad = associated_data(
            kind=kind,
            exchange=raw.exchange,
            routing_key=raw.routing_key,
            to=to,
            deadline_ms=deadline_ms,
            correlation_id=raw.correlation_id,
            reply_to=raw.reply_to,
            message_id=raw.message_id,
            kid=kid,
        )
        plaintext = self.keyring.open(kid, aad, raw.body)
        try:
            document = _loads(plaintext)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
            raise MalformedMessage(f"the decrypted document is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise MalformedMessage("the decrypted document is not a JSON object")
        return Opened(kind, to, deadline_ms, document)  # type: ignore[arg-type]

    # -- documents ---------------------------------------------------------------------

    def request_document(self, message: object, context: RequestContext | None) -> dict[str, Any]:
        """``{"type", "v", "body", "ctx"}`` for a send or a call."""
        document = self.registry.dump(message)
        document["ctx"] = (
            None
            if context is None
            else {"request_id": context.request_id, "claims": dict(context.claims)}
        )
        return document

    def load_request(self, document: Mapping[str, Any]) -> tuple[object, RequestContext | None]:
        """The message and request context of a send or call document."""
        message = self.registry.load(document.get("type"), document.get("v"), document.get("body"))
        ctx = document.get("ctx")
        if ctx is None:
            return message, None
        if (
            not isinstance(ctx, dict)
            or not isinstance(ctx.get("request_id"), str)
            or not isinstance(ctx.get("claims", {}), dict)
        ):
            raise MalformedMessage('"ctx" must be null or {"request_id": str, "claims": object}')
        claims = MappingProxyType(dict(ctx.get("claims", {})))
        return message, RequestContext(ctx["request_id"], claims)

    def reply_document(self, value: object) -> dict[str, Any]:
        """A reply: a registered message as in a request, anything else as a plain JSON value."""
        if message_type(type(value)) is not None:
            return self.registry.dump(value)
        return {"type": None, "v": None, "body": value}

    def load_reply(self, opened: Opened) -> object:
        """The value of a reply document; an error document raises :class:`RemoteError`."""
        document = opened.document
        if opened.kind == "error":
            error_type, text = document.get("error"), document.get("message")
            if not isinstance(error_type, str) or not isinstance(text, str):
                raise MalformedMessage('an error needs {"error": str, "message": str}')
            raise RemoteError(error_type, text)
        if document.get("type") is None:
            return document.get("body")
        return self.registry.load(document.get("type"), document.get("v"), document.get("body"))

    # -- dead letters ------------------------------------------------------------------

    def dead_letter_headers(
        self, *, message_id: str, queue: str, reason: str, detail: str
    ) -> dict[str, str]:
        """The headers that say why a message was dead-lettered, visible and sealed.

        ``reason`` is a bounded label (``crashed``, ``malformed_message``...), in the
        clear for operators; ``detail`` (the handler's error, the decoding error) may
        quote the message, its type or user data, so it travels sealed like a body.
        """
        kid = self.keyring.current
        aad = _dead_letter_data(message_id, queue, reason, kid)
        _, sealed = self.keyring.seal(aad, detail[:MAX_DEAD_DETAIL].encode())
        return {
            HEADER_DEAD_REASON: reason,
            HEADER_DEAD_QUEUE: queue,
            HEADER_DEAD_KID: kid,
            HEADER_DEAD_DETAIL: base64.b64encode(sealed).decode(),
        }

    def open_dead_letter_detail(self, headers: Mapping[str, object], message_id: str) -> str | None:
        """The detail :meth:`dead_letter_headers` sealed; None if the headers carry none.

        Raises:
            MalformedMessage: The detail headers are not the wire format.
            UnknownKey: The detail was sealed under a key this keyring does not hold.
            DecryptionFailed: Authentication failed (tampered, or moved to another letter).
        """
        if HEADER_DEAD_DETAIL not in headers:
            return None
        kid = _text(headers, HEADER_DEAD_KID)
        try:
            sealed = base64.b64decode(_text(headers, HEADER_DEAD_DETAIL), validate=True)
        except binascii.Error:
            raise MalformedMessage(f"header {HEADER_DEAD_DETAIL!r} is not base64") from None
        aad = _dead_letter_data(
            message_id, _text(headers, HEADER_DEAD_QUEUE), _text(headers, HEADER_DEAD_REASON), kid
        )
        return self.keyring.open(kid, aad, sealed).decode(errors="replace")

    @staticmethod
    def error_document(error_type: str, text: str) -> dict[str, Any]:
        """``{"error": type, "message": text}``: how errors answer a call."""
        return {"error": error_type, "message": text}
