"""The production store adapter: CouchDB 3 over HTTP, through aiocouch.

A stored document is one CouchDB document ``{"_id", "_rev", "type", "body"}``:
the body is nested so that no user field can collide with CouchDB's reserved
``_`` members or with ``type``. ``find`` and ``list`` run Mango queries on
indexes this adapter creates, and page by id with ``$gte`` on ``_id`` plus
dropping the previous last row, because pouchdb-server answers ``_find``
without a ``bookmark`` and applies ``limit`` before it filters the exclusive
start of ``$gt``. See ``docs/store.md`` for what was checked where.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import aiocouch
import aiohttp
from aiocouch.exception import RemoteResponseError

from ._errors import (
    Conflict,
    InvalidDocument,
    InvalidQuery,
    NotFound,
    StoreError,
    StoreUnavailable,
)
from ._port import (
    DEFAULT_MAX_BODY_BYTES,
    AbstractStore,
    Change,
    Document,
    IndexValue,
    JsonValue,
    Page,
    check_id,
    check_limit,
    check_query,
    check_type,
    decode_cursor,
    encode_body,
    encode_cursor,
    index_entries,
)

__all__ = ["CouchDBStore"]

logger = logging.getLogger("enotime.store")

_DB_NAME_RE = re.compile(r"[a-z][a-z0-9_$()+/-]{0,237}")
_TYPE_INDEX = "enotime-type"
_FIND_PAGE = 1000
_CHANGES_BATCH = 500
_LONGPOLL_GRACE = 2.0  # seconds past the server-side long-poll timeout

_JsonRows: TypeAlias = list[dict[str, Any]]


async def _accept_json(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    # CouchDB and pouchdb-server answer text/plain unless JSON is asked for, and
    # aiohttp's resp.json() (which aiocouch calls) refuses text/plain.
    request.headers["Accept"] = "application/json"
    return await handler(request)


def _field_index(name: str) -> str:
    return f"enotime-field-{name}"


def _status(exc: BaseException) -> int | None:
    # aiocouch raises RemoteResponseError itself, or chains it under its own errors.
    for err in (exc, exc.__cause__):
        if isinstance(err, RemoteResponseError):
            return err.status
    return None


class CouchDBStore(AbstractStore):
    """The production adapter: one CouchDB 3 database (pouchdb-server works too).

    Create it with `CouchDBStore.open`. Index declarations live in this object:
    every node declares the indexes it uses at start (creating a Mango index
    that exists already is a no-op on the server).

    Args:
        couch: The aiocouch session; the store closes it.
        database: The aiocouch database.
        max_body_bytes: Largest body accepted, as compact UTF-8 JSON.
        longpoll_timeout: Seconds the server holds a follow-mode long poll
            open; keep it below the session's request timeout.
    """

    def __init__(
        self,
        couch: aiocouch.CouchDB,
        database: aiocouch.Database,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        longpoll_timeout: float = 20.0,
    ) -> None:
        super().__init__(max_body_bytes=max_body_bytes)
        self._couch = couch
        self._db = database
        self._longpoll_ms = int(longpoll_timeout * 1000)
        self._closed = asyncio.Event()

    @classmethod
    async def open(
        cls,
        url: str,
        database: str,
        *,
        user: str | None = None,
        password: str | None = None,
        create: bool = True,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        request_timeout: float = 30.0,
        longpoll_timeout: float = 20.0,
    ) -> CouchDBStore:
        """Connect to ``url``, open (or create) ``database``; the store is ready on return.

        Args:
            url: The server, e.g. ``http://127.0.0.1:5984``.
            database: The database name (CouchDB rules: ``[a-z][a-z0-9_$()+/-]*``).
            user: Basic-auth user, with ``password``.
            password: Basic-auth password.
            create: Create the database when it does not exist.
            max_body_bytes: Largest body accepted, as compact UTF-8 JSON.
            request_timeout: Seconds before a request counts as failed.
            longpoll_timeout: Seconds a follow-mode long poll waits on the server.

        Raises:
            ValueError: ``database`` is not a valid CouchDB database name, or
                ``longpoll_timeout`` is not 2 s below ``request_timeout``.
            StoreUnavailable: The server cannot be reached, rejects the
                credentials, or the database is missing and ``create`` is false.
        """
        if not _DB_NAME_RE.fullmatch(database):
            raise ValueError(f"invalid CouchDB database name {database!r}")
        if longpoll_timeout + _LONGPOLL_GRACE >= request_timeout:
            raise ValueError(
                f"longpoll_timeout ({longpoll_timeout} s) must be at least "
                f"{_LONGPOLL_GRACE} s below request_timeout ({request_timeout} s)"
            )
        couch = aiocouch.CouchDB(
            url.rstrip("/"),
            user=user,
            password=password,
            timeout=aiohttp.ClientTimeout(total=request_timeout),
            middlewares=(_accept_json,),
        )
        try:
            with _translated(f"CouchDB at {url}"):
                await couch.info()
                if create:
                    db = await couch.create(database, exists_ok=True)
                else:
                    try:
                        db = await couch[database]
                    except aiocouch.NotFoundError:
                        raise StoreUnavailable(
                            f"CouchDB database {database!r} does not exist at {url}"
                        ) from None
                store = cls(
                    couch, db, max_body_bytes=max_body_bytes, longpoll_timeout=longpoll_timeout
                )
                await store._ensure_index(_TYPE_INDEX, ["type", "_id"])
        except BaseException:
            await couch.close()
            raise
        logger.info("opened CouchDB store %s/%s", url, database)
        return store

    def __repr__(self) -> str:
        closed = " closed" if self._closed.is_set() else ""
        return f"<CouchDBStore {self._db.id!r}{closed}>"

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise StoreUnavailable(f"{self!r} is closed")

    async def _ensure_index(self, name: str, fields: Sequence[str]) -> None:
        await self._db.index({"fields": [*fields]}, name=name, ddoc=name, type="json")

    # -- writes ----------------------------------------------------------------------------

    async def _declare_index(
        self, doc_type: str, existing: frozenset[str], added: frozenset[str]
    ) -> None:
        self._check_open()
        # One Mango index per field, shared by every type: ["type", "body.<f>", "_id"]
        # answers equality on type and field in id order, which is what find pages on.
        with _translated(repr(self)):
            for name in sorted(added):
                await self._ensure_index(_field_index(name), ["type", f"body.{name}", "_id"])

    async def put(self, doc: Document, expected_rev: str | None) -> str:
        """Create or update a document; see `AbstractStore.put`."""
        check_id(doc.id)
        check_type(doc.type)
        encode_body(doc.body, self.max_body_bytes)
        index_entries(doc.id, doc.body, self.index_spec(doc.type).fields)
        self._check_open()
        data: dict[str, Any] = {"type": doc.type, "body": doc.body}
        if expected_rev is not None:
            data["_rev"] = expected_rev
        remote = aiocouch.Document(self._db, doc.id, data=data)
        with _translated(repr(self), bad_request=InvalidDocument):
            try:
                await remote.save()
            except aiocouch.ConflictError:
                raise Conflict(doc.id, expected_rev) from None
            except aiocouch.BadRequestError as exc:
                # A malformed revision is a revision the document does not have.
                if expected_rev is not None and "rev" in str(exc).lower():
                    raise Conflict(doc.id, expected_rev) from None
                raise
        rev = remote.rev
        assert rev is not None
        return rev

    async def delete(self, doc_id: str, rev: str) -> str:
        """Delete a document; see `AbstractStore.delete`."""
        check_id(doc_id)
        self._check_open()
        remote = aiocouch.Document(self._db, doc_id, data={"_rev": rev})
        with _translated(repr(self)):
            # CouchDB accepts a delete at the rev of a tombstone and extends it; so
            # that deleting twice is NotFound, as in SQLite, look first. A GET, not a
            # HEAD: pouchdb-server's ETag is not the revision.
            try:
                current = (await self._db.get(doc_id)).rev
            except aiocouch.NotFoundError:
                raise NotFound(doc_id) from None
            if current != rev:
                raise Conflict(doc_id, rev)
            try:
                await remote.delete(discard_changes=True)
            except aiocouch.NotFoundError:
                raise NotFound(doc_id) from None
            except (aiocouch.ConflictError, aiocouch.BadRequestError):
                # Changed or deleted since we looked: tell "gone" from "changed".
                try:
                    await self._db.get(doc_id)
                except aiocouch.NotFoundError:
                    raise NotFound(doc_id) from None
                raise Conflict(doc_id, rev) from None
        return str(remote["rev"])

    # -- reads -----------------------------------------------------------------------------

    async def get(self, doc_id: str) -> Document:
        """Return a document; see `AbstractStore.get`."""
        check_id(doc_id)
        self._check_open()
        with _translated(repr(self)):
            try:
                remote = await self._db.get(doc_id)
            except aiocouch.NotFoundError:
                raise NotFound(doc_id) from None
        assert remote.data is not None
        return _document(remote.data)

    async def find(self, doc_type: str, /, **equal: IndexValue) -> list[Document]:
        """Find documents by index fields; see `AbstractStore.find`."""
        query = check_query(self.index_spec(doc_type), equal)
        self._check_open()
        lead = sorted(query)[0]
        selector: dict[str, Any] = {"type": {"$eq": doc_type}}
        selector.update({f"body.{name}": {"$eq": value} for name, value in query.items()})
        sort = [{"type": "asc"}, {f"body.{lead}": "asc"}, {"_id": "asc"}]
        index = [_field_index(lead), _field_index(lead)]
        found: list[Document] = []
        after = ""
        while True:
            rows = await self._find_page(selector, sort, index, after, _FIND_PAGE)
            found += (_document(row) for row in rows)
            if len(rows) < _FIND_PAGE:
                return found
            after = found[-1].id

    async def list(self, doc_type: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Return a page of documents; see `AbstractStore.list`."""
        check_type(doc_type)
        check_limit(limit)
        after = "" if cursor is None else decode_cursor(doc_type, cursor)
        self._check_open()
        rows = await self._find_page(
            {"type": {"$eq": doc_type}},
            [{"type": "asc"}, {"_id": "asc"}],
            [_TYPE_INDEX, _TYPE_INDEX],
            after,
            limit + 1,
        )
        docs = [_document(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(docs, encode_cursor(doc_type, docs[-1].id) if more else None)

    async def _find_page(
        self,
        selector: Mapping[str, Any],
        sort: Sequence[Mapping[str, str]],
        index: Sequence[str],
        after: str,
        limit: int,
    ) -> _JsonRows:
        """Up to ``limit`` matching rows with ids after ``after``, in id order.

        ``$gte`` and not ``$gt``: pouchdb-server applies ``limit`` before it
        drops the start row of a ``$gt`` range, so a ``$gt`` page can come back
        one short. Asking one more and dropping ``after`` is right everywhere.
        """
        with _translated(repr(self), bad_request=InvalidQuery):
            response = await self._db._find(  # aiocouch's find() needs a bookmark
                {**selector, "_id": {"$gte": after}},
                sort=sort,
                use_index=index,
                limit=limit + 1,
            )
        rows: _JsonRows = [row for row in response["docs"] if row["_id"] != after]
        return rows[:limit]

    async def changes(
        self, since: str | None = None, *, follow: bool = False
    ) -> AsyncIterator[Change]:
        """Iterate over the changes feed; see `AbstractStore.changes`."""
        if since is not None and (not isinstance(since, str) or not since.strip()):
            raise InvalidQuery(f"invalid changes token {since!r}")
        position = "0" if since is None else since
        longpoll = False
        while True:
            if self._closed.is_set():
                return
            if longpoll:
                rows = await self._longpoll(position)
                if rows is None:  # the store was closed while waiting
                    return
            else:
                rows = await self._changes_batch(position, longpoll=False)
            for row in rows:
                position = str(row["seq"])
                if row["id"].startswith("_"):  # our own design documents (indexes)
                    continue
                yield Change(
                    position, row["id"], row["changes"][0]["rev"], bool(row.get("deleted"))
                )
            if not longpoll and len(rows) == _CHANGES_BATCH:
                continue
            if not follow:
                return
            longpoll = True

    async def _changes_batch(self, since: str, *, longpoll: bool) -> _JsonRows:
        params: dict[str, Any] = {"since": since, "limit": _CHANGES_BATCH}
        if longpoll:
            params.update(feed="longpoll", timeout=self._longpoll_ms)
        self._check_open()
        with _translated(repr(self), bad_request=InvalidQuery):
            return [event.json async for event in self._db.changes(**params)]

    async def _longpoll(self, since: str) -> _JsonRows | None:
        poll = asyncio.ensure_future(self._changes_batch(since, longpoll=True))
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            # pouchdb-server ignores the long poll's timeout and holds the request
            # until a change comes: give up a little after the server should have
            # answered (before the session's request timeout) and ask again.
            await asyncio.wait(
                {poll, closed},
                timeout=self._longpoll_ms / 1000 + _LONGPOLL_GRACE,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in (poll, closed):
                task.cancel()
            await asyncio.wait({poll, closed})
        if poll.cancelled():
            return None if self._closed.is_set() else []
        exc = poll.exception()
        if self._closed.is_set():
            return None
        if exc is not None:
            raise exc
        return poll.result()

    # -- teardown --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """End follow feeds and close the HTTP session; idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        await self._couch.close()
        logger.info("closed CouchDB store %s", self._db.id)


def _document(data: Mapping[str, Any]) -> Document:
    body: Mapping[str, JsonValue] = data.get("body", {})
    return Document(str(data["_id"]), str(data.get("type", "")), body, str(data["_rev"]))


@contextlib.contextmanager
def _translated(where: str, *, bad_request: type[StoreError] = InvalidQuery) -> Iterator[None]:
    """Turn aiocouch and aiohttp failures not handled by the caller into store errors."""
    try:
        yield
    except StoreError:
        raise
    except (aiocouch.UnauthorizedError, aiocouch.ForbiddenError) as exc:
        raise StoreUnavailable(f"{where}: access refused: {exc}") from exc
    except aiocouch.NotFoundError as exc:
        raise StoreUnavailable(f"{where}: database missing: {exc}") from exc
    except aiocouch.BadRequestError as exc:
        raise bad_request(f"{where}: rejected: {exc}") from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        status = _status(exc)
        if status == 413:
            raise InvalidDocument(f"{where}: document too large for the server") from exc
        detail = f"HTTP {status}" if status else f"{type(exc).__name__}: {exc}"
        raise StoreUnavailable(f"{where} unavailable: {detail}") from exc
    except (ValueError, RuntimeError) as exc:
        # aiocouch raises a bare ValueError or RuntimeError, chained to the response,
        # for some statuses it has no error class for (5xx on _index and _find).
        status = _status(exc)
        if status is None:
            raise
        if status == 413:
            raise InvalidDocument(f"{where}: document too large for the server") from exc
        raise StoreUnavailable(f"{where} unavailable: HTTP {status}") from exc
