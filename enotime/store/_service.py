"""The store actor: every private field is encrypted before it reaches the adapter.

A :class:`DocumentType` declares which fields are public (stored as they are)
and which are indexed. Everything not public is sealed together as one
ciphertext made by the crypto actor (transit encryption: no key material ever
leaves the engine, so sealing it stops every read and write at once). A
private indexed field is stored only as a keyed HMAC -- a blind index -- that
carries its key version. The ciphertext also binds the document's id and type,
so a body copied onto another document is refused.

Stored body::

    {"sealed": "enotime:v2:...", "bix_email": "enotime:v1:...", "<public>": ...}

Every operation of the store actor is timed, end to end (crypto round trip and
adapter included), and its errors counted by class, into the node's
:func:`store_statistics`, which ``enotime.metrics`` reads at scrape time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from enotime._actor import Actor, ActorRef
from enotime._handler import handler
from enotime._per_node import PerNode
from enotime.crypto._errors import CryptoError
from enotime.crypto._port import AbstractCryptoEngine, parse_versioned
from enotime.crypto._service import CryptoClient, OperationCounts, OperationStatistics
from enotime.messages import Request
from enotime.store._errors import Conflict, InvalidDocument, StoreError
from enotime.store._port import (
    AbstractStore,
    Document,
    IndexValue,
    JsonValue,
    check_field,
    check_type,
    is_index_value,
)

if TYPE_CHECKING:
    from enotime._node import Node
    from enotime._reason import ExitReason

__all__ = [
    "DocumentType",
    "Record",
    "StoreClient",
    "StoreService",
    "StoreStatistics",
    "TamperedDocument",
    "store_statistics",
]

log = logging.getLogger("enotime.store")

SEALED = "sealed"
BLIND_PREFIX = "bix_"


class TamperedDocument(InvalidDocument):
    """A stored document's sealed body does not belong to it (copied or altered).

    Not :class:`~enotime.crypto.InvalidCiphertext`, which the engine raises for
    a ciphertext it cannot open at all: this one opened, but names another
    document.
    """


@dataclass(frozen=True, slots=True)
class DocumentType:
    """How the store actor keeps one type of document.

    Attributes:
        name: The document type.
        public: Fields stored in plain text (for example timestamps, states).
        indexed: Fields ``find`` can match by equality. Public ones are
            indexed as they are; private ones only as blind indexes (HMACs).
        key: The crypto key that seals the private fields.
        index_key: The crypto key of the blind indexes. Rotating it changes
            every index value: run ``rewrap`` to re-index before relying on
            ``find`` again.
    """

    name: str
    public: frozenset[str] = frozenset()
    indexed: frozenset[str] = frozenset()
    key: str = "store"
    index_key: str = "store-index"

    def __post_init__(self) -> None:
        check_type(self.name)
        for name in self.public | self.indexed:
            check_field(name)
            if name == SEALED or name.startswith(BLIND_PREFIX):
                raise ValueError(f"field name {name!r} is reserved by the store")

    def stored_index_fields(self) -> set[str]:
        return {f if f in self.public else BLIND_PREFIX + f for f in self.indexed}


@dataclass(frozen=True, slots=True)
class Record:
    """A document as its owner sees it: plain fields, decrypted."""

    id: str
    type: str
    fields: Mapping[str, JsonValue] = field(default_factory=dict)
    rev: str | None = None


# -- statistics ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreStatistics:
    """What a node's store actors counted, for inspection and metrics.

    Attributes:
        operations: Latency and errors by operation: ``put``, ``get``,
            ``delete``, ``find``, ``list``, ``rewrap``.
    """

    operations: tuple[OperationStatistics, ...]


_counts: PerNode[OperationCounts] = PerNode(OperationCounts)


def store_statistics(node: Node) -> StoreStatistics | None:
    """What the store actors of ``node`` counted; None if none has run there."""
    counts = _counts.get(node)
    return None if counts is None else StoreStatistics(counts.snapshot())


# -- the protocol -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PutRecord(Request[str]):
    record: Record
    expected_rev: str | None


@dataclass(frozen=True, slots=True)
class GetRecord(Request[Record]):
    id: str


@dataclass(frozen=True, slots=True)
class DeleteRecord(Request[str]):
    id: str
    rev: str


@dataclass(frozen=True, slots=True)
class FindRecords(Request[list[Record]]):
    type: str
    equal: Mapping[str, IndexValue]


@dataclass(frozen=True, slots=True)
class ListRecords(Request[tuple[list[Record], str | None]]):
    type: str
    limit: int
    cursor: str | None


@dataclass(frozen=True, slots=True)
class RewrapRecords(Request[int]):
    type: str


StoreOpener: TypeAlias = Callable[[], Awaitable[AbstractStore]]
"""A function that opens a store adapter (``lambda: SQLiteStore.open(path)``)."""


class StoreService(Actor):
    """Owns a store adapter and seals private fields through the crypto actor.

    Args:
        store: The adapter (SQLite, CouchDB), which then outlives restarts of
            the actor; or a function opening one (``lambda:
            SQLiteStore.open(path)``): the actor opens it when it starts and
            closes it when it stops, as a supervision tree needs.
        crypto: The crypto port: the registered name of the crypto actor
            (looked up on each use, so its restarts are followed), a
            ``CryptoClient``, or an engine.
        types: The document types this store keeps; others are refused.

    Example:
        >>> child(StoreService, lambda: SQLiteStore.open("data.sqlite3"), "crypto",
        ...       [USERS], name="store")
    """

    refusals = (StoreError, CryptoError)

    store: AbstractStore
    """The adapter (set when the actor starts if it was given an opener)."""

    def __init__(
        self,
        store: AbstractStore | StoreOpener,
        crypto: AbstractCryptoEngine | str,
        types: Iterable[DocumentType],
    ) -> None:
        if isinstance(store, AbstractStore):
            self.store = store
            self._opener: StoreOpener | None = None
        else:
            self._opener = store
        self._crypto = crypto
        self.types = {t.name: t for t in types}
        self._counts: OperationCounts | None = None

    @property
    def crypto(self) -> AbstractCryptoEngine:
        """The crypto port (a client of the named crypto actor, looked up now)."""
        crypto = self._crypto
        if isinstance(crypto, str):
            return CryptoClient(self.node.lookup(crypto))
        return crypto

    def _statistics(self) -> OperationCounts:
        counts = self._counts
        if counts is None:
            counts = self._counts = _counts.of(self.node)
        return counts

    async def on_start(self) -> None:
        if self._opener is not None:
            self.store = await self._opener()
        crypto = self.crypto
        for doc_type in self.types.values():
            await crypto.create_key(doc_type.key)
            await crypto.create_key(doc_type.index_key)
            await self.store.declare_index(doc_type.name, doc_type.stored_index_fields())

    async def on_stop(self, reason: ExitReason) -> None:
        if self._opener is not None and hasattr(self, "store"):
            await self.store.aclose()  # opened by this actor: closed by it

    def _type(self, name: str) -> DocumentType:
        try:
            return self.types[name]
        except KeyError:
            raise InvalidDocument(f"document type {name!r} is not declared to this store") from None

    # -- sealing --------------------------------------------------------------------

    async def _seal(self, record: Record) -> Document:
        doc_type = self._type(record.type)
        fields = dict(record.fields)
        body: dict[str, JsonValue] = {k: v for k, v in fields.items() if k in doc_type.public}
        private = {k: v for k, v in fields.items() if k not in doc_type.public}
        blind: list[str] = []
        operations: list[tuple[str, tuple[Any, ...]]] = []
        for name in sorted(doc_type.indexed - doc_type.public):
            value = fields.get(name)
            if not is_index_value(value):
                raise InvalidDocument(f"indexed field {name!r} must be str, int, bool or None")
            blind.append(BLIND_PREFIX + name)
            operations.append(("hmac", (doc_type.index_key, _canonical(value))))
        for name in doc_type.indexed & doc_type.public:
            if not is_index_value(fields.get(name)):
                raise InvalidDocument(f"indexed field {name!r} must be str, int, bool or None")
        plaintext = _canonical({"id": record.id, "type": record.type, "fields": private})
        operations.append(("encrypt", (doc_type.key, plaintext)))
        *digests, sealed = await self.crypto.batch(operations)  # one crypto round trip
        body.update(zip(blind, digests, strict=True))
        body[SEALED] = sealed
        return Document(record.id, record.type, body)

    async def _open(self, document: Document) -> Record:
        doc_type = self._type(document.type)
        sealed = document.body.get(SEALED)
        if not isinstance(sealed, str):
            raise TamperedDocument(f"document {document.id!r} has no sealed body")
        opened = json.loads(await self.crypto.decrypt(doc_type.key, sealed))
        if opened.get("id") != document.id or opened.get("type") != document.type:
            raise TamperedDocument(
                f"the sealed body of {document.id!r} belongs to another document"
            )
        fields: dict[str, JsonValue] = dict(opened["fields"])
        fields.update({k: v for k, v in document.body.items() if k in doc_type.public})
        return Record(document.id, document.type, fields, document.rev)

    async def _blind(self, doc_type: DocumentType, value: IndexValue) -> str:
        return await self.crypto.hmac(doc_type.index_key, _canonical(value))

    # -- handlers --------------------------------------------------------------------

    @handler
    async def put(self, msg: PutRecord) -> str:
        with self._statistics().timed("put"):
            return await self.store.put(await self._seal(msg.record), msg.expected_rev)

    @handler
    async def get(self, msg: GetRecord) -> Record:
        with self._statistics().timed("get"):
            return await self._open(await self.store.get(msg.id))

    @handler
    async def delete(self, msg: DeleteRecord) -> str:
        with self._statistics().timed("delete"):
            return await self.store.delete(msg.id, msg.rev)

    @handler
    async def find(self, msg: FindRecords) -> list[Record]:
        with self._statistics().timed("find"):
            return await self._find(msg)

    async def _find(self, msg: FindRecords) -> list[Record]:
        doc_type = self._type(msg.type)
        query: dict[str, IndexValue] = {}
        for name, value in msg.equal.items():
            if name not in doc_type.indexed:
                raise InvalidDocument(f"{name!r} is not an indexed field of {doc_type.name!r}")
            if name in doc_type.public:
                query[name] = value
            else:
                query[BLIND_PREFIX + name] = await self._blind(doc_type, value)
        return [await self._open(d) for d in await self.store.find(doc_type.name, **query)]

    @handler
    async def list_(self, msg: ListRecords) -> tuple[list[Record], str | None]:
        with self._statistics().timed("list"):
            page = await self.store.list(
                self._type(msg.type).name, limit=msg.limit, cursor=msg.cursor
            )
            return [await self._open(d) for d in page.documents], page.cursor

    @handler
    async def rewrap(self, msg: RewrapRecords) -> int:
        """Bring every document of a type to the latest key versions; returns how many changed.

        Sealed bodies are rewrapped inside the engine (the plaintext never
        reaches this actor); blind indexes made with an older index key are
        recomputed. Documents written meanwhile already use the latest keys,
        so a conflict just means the document is up to date.
        """
        with self._statistics().timed("rewrap"):
            return await self._rewrap(msg)

    async def _rewrap(self, msg: RewrapRecords) -> int:
        doc_type = self._type(msg.type)
        latest = (await self.crypto.key_info(doc_type.key)).latest_version
        latest_index = (await self.crypto.key_info(doc_type.index_key)).latest_version
        changed, cursor = 0, None
        while True:
            page = await self.store.list(doc_type.name, limit=100, cursor=cursor)
            for document in page.documents:
                updated = await self._rewrapped(doc_type, document, latest, latest_index)
                if updated is None:
                    continue
                try:
                    await self.store.put(updated, document.rev)
                    changed += 1
                except Conflict:
                    log.info("rewrap: %s changed meanwhile; it is already current", document.id)
            if page.cursor is None:
                return changed
            cursor = page.cursor

    async def _rewrapped(
        self, doc_type: DocumentType, document: Document, latest: int, latest_index: int
    ) -> Document | None:
        body = dict(document.body)
        sealed = body.get(SEALED)
        if not isinstance(sealed, str):
            raise TamperedDocument(f"document {document.id!r} has no sealed body")
        stale_index = [
            name
            for name in doc_type.indexed - doc_type.public
            if _version(body.get(BLIND_PREFIX + name)) < latest_index
        ]
        if _version(sealed) >= latest and not stale_index:
            return None
        if stale_index:
            record = await self._open(document)
            for name in stale_index:
                value = record.fields.get(name)
                assert is_index_value(value)
                body[BLIND_PREFIX + name] = await self._blind(doc_type, value)
        if _version(sealed) < latest:
            body[SEALED] = await self.crypto.rewrap(doc_type.key, sealed)
        return Document(document.id, document.type, body)


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _version(value: object) -> int:
    if not isinstance(value, str):
        return 0
    return parse_versioned(value).version


class StoreClient:
    """The encrypted store, answered by a :class:`StoreService` actor.

    Args:
        service: The store actor's ref.
        timeout: Seconds each operation may take.
    """

    def __init__(self, service: ActorRef[StoreService], *, timeout: float = 10.0) -> None:
        self.service = service
        self.timeout = timeout

    async def put(self, record: Record, expected_rev: str | None = None) -> str:
        """Store ``record``; ``expected_rev`` None creates. Raises ``Conflict`` if stale."""
        return await self.service.call(PutRecord(record, expected_rev), timeout=self.timeout)

    async def get(self, doc_id: str) -> Record:
        """The record with ``doc_id``, decrypted; ``NotFound`` if there is none."""
        return await self.service.call(GetRecord(doc_id), timeout=self.timeout)

    async def delete(self, doc_id: str, rev: str) -> str:
        """Delete at revision ``rev``; returns the tombstone's revision."""
        return await self.service.call(DeleteRecord(doc_id, rev), timeout=self.timeout)

    async def find(self, doc_type: str, /, **equal: IndexValue) -> list[Record]:
        """Records whose indexed fields equal the given values (private ones via HMAC)."""
        request = FindRecords(doc_type, MappingProxyType(equal))
        return await self.service.call(request, timeout=self.timeout)

    async def list(
        self, doc_type: str, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[Record], str | None]:
        """One page of records by id, and the cursor of the next page (None at the end)."""
        return await self.service.call(ListRecords(doc_type, limit, cursor), timeout=self.timeout)

    async def rewrap(self, doc_type: str, *, timeout: float | None = None) -> int:
        """Bring stored documents to the latest key versions; returns how many changed."""
        return await self.service.call(RewrapRecords(doc_type), timeout=timeout)
