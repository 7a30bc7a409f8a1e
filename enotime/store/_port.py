"""The store port: documents with an id, a revision and a type.

Every adapter subclasses `AbstractStore` and passes the one contract suite in
``tests/contract/test_store.py``. The checks that must behave the same on every
adapter (id policy, JSON bodies, size limit, index values, cursors) live here.
"""

from __future__ import annotations

import abc
import base64
import binascii
import json
import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias, TypeGuard

from enotime._closing import AsyncClosing

from ._errors import InvalidDocument, InvalidQuery

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "AbstractStore",
    "Change",
    "Document",
    "IndexSpec",
    "IndexValue",
    "JsonValue",
    "Page",
]

JsonValue: TypeAlias = (
    "str | int | float | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)
"""A JSON-compatible value. Bodies are checked at run time as well."""

IndexValue: TypeAlias = str | int | bool | None
"""What an index field may hold and ``find`` may match: JSON scalars but floats.

Floats are left out on purpose: ``1`` and ``1.0`` compare equal in CouchDB and
not as stored JSON text, and equality on floats is rarely what a lookup wants.
"""

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Default limit on a body, measured as compact UTF-8 JSON: 1 MiB."""

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+=-]{0,199}")
_TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
_FIELD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class Document:
    """A stored document: an id, a type, a JSON body and, once stored, a revision.

    Attributes:
        id: 1-200 characters of ``A-Z a-z 0-9 _ . : @ + = -``, starting with a
            letter or digit (so never ``_design/...`` or another reserved id).
        type: The document type, 1-64 characters of ``A-Z a-z 0-9 _ . : -``
            starting with a letter; ``list`` and ``find`` select by it.
        body: A JSON object. Its top-level fields named in the type's
            `IndexSpec` are indexed for ``find``.
        rev: ``None`` for a document not read from a store; otherwise the
            revision it was read at, ``"<generation>-<hash>"`` as in CouchDB.
            ``put`` ignores it and takes ``expected_rev`` explicitly.
    """

    id: str
    type: str
    body: Mapping[str, JsonValue] = field(default_factory=dict)
    rev: str | None = None


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """The index fields a document type declared, for ``find``.

    Attributes:
        doc_type: The document type the fields belong to.
        fields: Top-level body field names, each 1-64 characters of
            ``A-Z a-z 0-9 _`` starting with a letter.
    """

    doc_type: str
    fields: frozenset[str]


class Change(NamedTuple):
    """One entry of the changes feed.

    Attributes:
        seq: An opaque token; pass it as ``since`` to resume after this entry.
        id: The document that changed.
        rev: Its revision after the change.
        deleted: Whether the change deleted it.
    """

    seq: str
    id: str
    rev: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class Page:
    """One page of ``list``.

    Attributes:
        documents: Up to ``limit`` documents of the type, ordered by id.
        cursor: Pass it back to ``list`` to continue right after the last
            document of this page; ``None`` when there is nothing after it.
    """

    documents: list[Document]
    cursor: str | None


# -- checks shared by every adapter ---------------------------------------------------------


def check_id(doc_id: object) -> str:
    """Return ``doc_id`` if it follows the id policy, else raise `InvalidDocument`."""
    if not isinstance(doc_id, str) or not _ID_RE.fullmatch(doc_id):
        raise InvalidDocument(
            f"invalid document id {doc_id!r}: 1-200 characters of A-Z a-z 0-9 _ . : @ + = -, "
            "starting with a letter or digit"
        )
    return doc_id


def check_type(doc_type: object) -> str:
    """Return ``doc_type`` if it is a valid type name, else raise `InvalidDocument`."""
    if not isinstance(doc_type, str) or not _TYPE_RE.fullmatch(doc_type):
        raise InvalidDocument(
            f"invalid document type {doc_type!r}: 1-64 characters of A-Z a-z 0-9 _ . : -, "
            "starting with a letter"
        )
    return doc_type


def check_field(name: object) -> str:
    """Return ``name`` if it is a valid index field name, else raise `InvalidQuery`."""
    if not isinstance(name, str) or not _FIELD_RE.fullmatch(name):
        raise InvalidQuery(
            f"invalid index field name {name!r}: 1-64 characters of A-Z a-z 0-9 _, "
            "starting with a letter"
        )
    return name


def is_index_value(value: object) -> TypeGuard[IndexValue]:
    """Whether ``value`` can be indexed and matched by ``find`` (see `IndexValue`)."""
    return value is None or isinstance(value, str | int | bool)


def _check_json(value: object, path: str) -> None:
    # json.dumps alone is too lenient: it turns tuples into lists and int keys into
    # strings, so a body would not read back as it was written.
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidDocument(f"body{path} is {value!r}, which JSON cannot carry")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidDocument(f"body{path} has a non-string key {key!r}")
            _check_json(item, f"{path}[{key!r}]")
        return
    raise InvalidDocument(f"body{path} is a {type(value).__name__}, which is not JSON")


def encode_body(body: object, max_bytes: int) -> str:
    """Check that ``body`` is a JSON object within ``max_bytes`` and return its JSON text.

    Raises:
        InvalidDocument: The body is not a JSON object, or too large.
    """
    if not isinstance(body, dict):
        raise InvalidDocument(f"body must be a JSON object (dict), not {type(body).__name__}")
    _check_json(body, "")
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidDocument(f"body holds a string that is not valid Unicode: {exc}") from None
    if size > max_bytes:
        raise InvalidDocument(f"body is {size} bytes as JSON, over the limit of {max_bytes}")
    return text


def index_entries(
    doc_id: str, body: Mapping[str, JsonValue], fields: Iterable[str]
) -> dict[str, IndexValue]:
    """Return the declared index fields present in ``body``, checking their values.

    Raises:
        InvalidDocument: A declared field holds a value `IndexValue` excludes.
    """
    entries: dict[str, IndexValue] = {}
    for name in fields:
        if name not in body:
            continue
        value = body[name]
        if not is_index_value(value):
            raise InvalidDocument(
                f"document {doc_id!r}: index field {name!r} holds {type(value).__name__}; "
                "index fields hold strings, integers, booleans or null"
            )
        entries[name] = value  # checked just above
    return entries


def check_query(spec: IndexSpec, equal: Mapping[str, object]) -> dict[str, IndexValue]:
    """Check the ``find`` arguments against ``spec`` and return them typed.

    Raises:
        InvalidQuery: No field given, a field not declared, or a value that cannot match.
    """
    if not equal:
        raise InvalidQuery(f"find on {spec.doc_type!r} needs at least one index field")
    query: dict[str, IndexValue] = {}
    for name, value in equal.items():
        if name not in spec.fields:
            declared = ", ".join(sorted(spec.fields)) or "none"
            raise InvalidQuery(
                f"{name!r} is not a declared index field of {spec.doc_type!r} "
                f"(declared: {declared}); call declare_index first"
            )
        if not is_index_value(value):
            raise InvalidQuery(
                f"find on {spec.doc_type!r}.{name}: {type(value).__name__} values are never "
                "indexed; match strings, integers, booleans or null"
            )
        query[name] = value  # checked just above
    return query


def encode_cursor(doc_type: str, last_id: str) -> str:
    """Return the opaque cursor that continues ``list(doc_type)`` after ``last_id``."""
    raw = json.dumps({"t": doc_type, "after": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(doc_type: str, cursor: str) -> str:
    """Return the id a cursor continues after; `InvalidQuery` if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        cursor_type, after = data["t"], data["after"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise InvalidQuery(f"malformed list cursor {cursor!r}") from None
    if cursor_type != doc_type or not isinstance(after, str):
        raise InvalidQuery(f"cursor {cursor!r} was issued for type {cursor_type!r}")
    return after


def check_limit(limit: int) -> int:
    """Return ``limit`` if it is a positive int, else raise `InvalidQuery`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidQuery(f"limit must be a positive integer, not {limit!r}")
    return limit


# -- the port -------------------------------------------------------------------------------


class AbstractStore(AsyncClosing, abc.ABC):
    """A document store: the port every store adapter implements.

    Documents have an id, a type, a JSON body and a CouchDB-style revision.
    Writes are optimistic: each names the revision it expects, and a stale one
    raises `Conflict`, so of several concurrent writers from one revision
    exactly one wins. Use as an async context manager, or call `aclose`.

    Args:
        max_body_bytes: Largest body accepted, as compact UTF-8 JSON.
    """

    def __init__(self, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.max_body_bytes = max_body_bytes
        self._specs: dict[str, IndexSpec] = {}

    def index_spec(self, doc_type: str) -> IndexSpec:
        """Return the index fields declared for ``doc_type`` (possibly none)."""
        return self._specs.get(doc_type, IndexSpec(doc_type, frozenset()))

    async def declare_index(self, doc_type: str, fields: Iterable[str]) -> IndexSpec:
        """Declare top-level body fields of ``doc_type`` that ``find`` may match on.

        Declarations add up and are idempotent; documents stored before the
        declaration are indexed too. Each node declares the indexes it uses
        when it starts, before its first ``find``.

        Args:
            doc_type: The document type.
            fields: Field names, each usable alone or together in ``find``.

        Returns:
            Every field now declared for the type.

        Raises:
            InvalidDocument: ``doc_type`` is not a valid type name.
            InvalidQuery: A field name is not valid.
            StoreUnavailable: The store cannot be reached.
        """
        check_type(doc_type)
        if isinstance(fields, str):
            raise InvalidQuery("fields must be a collection of names, not one string")
        new = frozenset(check_field(name) for name in fields)
        spec = self.index_spec(doc_type)
        added = new - spec.fields
        if added:
            await self._declare_index(doc_type, spec.fields, added)
            spec = IndexSpec(doc_type, spec.fields | added)
            self._specs[doc_type] = spec
        return spec

    @abc.abstractmethod
    async def _declare_index(
        self, doc_type: str, existing: frozenset[str], added: frozenset[str]
    ) -> None:
        """Create the backend indexes for ``added`` fields of ``doc_type``."""

    @abc.abstractmethod
    async def get(self, doc_id: str) -> Document:
        """Return the current revision of a document.

        Raises:
            NotFound: No such document, or it was deleted.
            InvalidDocument: ``doc_id`` breaks the id policy.
            StoreUnavailable: The store cannot be reached.
        """

    @abc.abstractmethod
    async def put(self, doc: Document, expected_rev: str | None) -> str:
        """Create or update a document, atomically checking its current revision.

        Args:
            doc: The document to write; its ``rev`` is ignored.
            expected_rev: ``None`` to create, else the revision being replaced.
                A deleted document may be created again from ``None`` or from
                the revision its deletion returned, as in CouchDB.

        Returns:
            The new revision.

        Raises:
            Conflict: ``expected_rev`` is not the current revision; nothing written.
            InvalidDocument: Bad id, type, body or index value; nothing written.
            StoreUnavailable: The store cannot be reached.
        """

    @abc.abstractmethod
    async def delete(self, doc_id: str, rev: str) -> str:
        """Delete a document at its current revision.

        Returns:
            The revision of the deletion, as the changes feed reports it.

        Raises:
            NotFound: No such document, or it is already deleted.
            Conflict: ``rev`` is not the current revision; nothing deleted.
            InvalidDocument: ``doc_id`` breaks the id policy.
            StoreUnavailable: The store cannot be reached.
        """

    @abc.abstractmethod
    async def find(self, doc_type: str, /, **equal: IndexValue) -> list[Document]:
        """Return every document of ``doc_type`` whose index fields equal ``equal``, by id.

        A document lacking one of the fields does not match; ``field=None``
        matches documents where it is ``null``.

        Raises:
            InvalidQuery: No field given, one not declared with `declare_index`,
                or a value that is never indexed.
            StoreUnavailable: The store cannot be reached.
        """

    @abc.abstractmethod
    async def list(self, doc_type: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Return a page of documents of ``doc_type`` ordered by id.

        Pages are stable: following cursors lists every document that existed
        throughout exactly once, whatever is inserted or deleted in between;
        documents inserted after the cursor's position appear on a later page.
        Ids are ordered by the backend's collation, which agrees across
        adapters for ids of lowercase letters, digits and ``-``.

        Args:
            doc_type: The document type.
            limit: Most documents on the page.
            cursor: The ``cursor`` of the previous page, or ``None`` to start.

        Raises:
            InvalidQuery: A bad limit, or a cursor that is malformed or was
                issued for another type.
            StoreUnavailable: The store cannot be reached.
        """

    @abc.abstractmethod
    def changes(self, since: str | None = None, *, follow: bool = False) -> AsyncIterator[Change]:
        """Iterate over changes after the token ``since`` (``None``: from the start).

        Each document appears at most once per pass, at its latest change:
        intermediate revisions may be skipped, as in CouchDB. Resume by passing
        the ``seq`` of the last change handled.

        Args:
            since: A ``Change.seq`` token, or ``None``.
            follow: Keep waiting for new changes instead of stopping at the end.
                The wait is a server-side long poll or an in-process signal,
                never a hot loop. Cancel the consuming task (or close the
                iterator) to stop; iteration ends when the store is closed.

        Raises:
            InvalidQuery: ``since`` is not a token of this store.
            StoreUnavailable: The store cannot be reached.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections and threads; idempotent. Later calls raise `StoreUnavailable`."""
