"""The embedded store adapter: SQLite from the standard library.

All SQLite work runs off the event loop: writes on one dedicated writer thread
(so writes are serialised and each is one ``BEGIN IMMEDIATE`` transaction, which
makes the revision check atomic), reads on a small pool of reader threads, each
with its own connection. WAL mode lets readers run beside the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeAlias, TypeVar

from ._errors import Conflict, InvalidQuery, NotFound, StoreUnavailable
from ._port import (
    DEFAULT_MAX_BODY_BYTES,
    AbstractStore,
    Change,
    Document,
    IndexSpec,
    IndexValue,
    Page,
    check_id,
    check_limit,
    check_query,
    check_type,
    decode_cursor,
    encode_body,
    encode_cursor,
    index_entries,
    is_index_value,
)

__all__ = ["SQLiteStore"]

logger = logging.getLogger("enotime.store")

_P = ParamSpec("_P")
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id      TEXT PRIMARY KEY,
    type    TEXT NOT NULL,
    rev     TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    body    TEXT              -- JSON; NULL once deleted
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_by_type ON docs (type, id) WHERE deleted = 0;
CREATE TABLE IF NOT EXISTS index_fields (
    type  TEXT NOT NULL,
    field TEXT NOT NULL,
    PRIMARY KEY (type, field)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_entries (
    type  TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,      -- the value as JSON text: "a" and 1 and true stay distinct
    id    TEXT NOT NULL,
    PRIMARY KEY (type, field, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS index_entries_by_id ON index_entries (id);
CREATE TABLE IF NOT EXISTS changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so tokens stay valid
    id      TEXT NOT NULL UNIQUE,               -- one row per document: its latest change
    rev     TEXT NOT NULL,
    deleted INTEGER NOT NULL
);
"""

_CHANGES_BATCH = 500

_Row: TypeAlias = tuple[str, str, str, str]  # id, type, rev, body
_Rows: TypeAlias = list[_Row]
_ChangeRows: TypeAlias = list[tuple[int, str, str, int]]  # seq, id, rev, deleted


def _next_rev(prev_rev: str | None, doc_type: str, deleted: bool, body: str | None) -> str:
    generation = 1 if prev_rev is None else int(prev_rev.split("-", 1)[0]) + 1
    digest = hashlib.blake2b(digest_size=16)
    for part in (prev_rev or "", doc_type, "1" if deleted else "0", body or ""):
        digest.update(part.encode())
        digest.update(b"\0")
    return f"{generation}-{digest.hexdigest()}"


def _index_value(value: IndexValue) -> str:
    return json.dumps(value, ensure_ascii=False)


def _unavailable(what: str, exc: sqlite3.Error) -> StoreUnavailable:
    return StoreUnavailable(f"SQLite store {what}: {exc}")


class SQLiteStore(AbstractStore):
    """The embedded adapter: one SQLite file, safe for concurrent use from one node.

    Create it with `SQLiteStore.open`. Several processes may open the same file
    (SQLite locks it), but a ``changes(follow=True)`` feed is woken at once
    only by writes through its own store object; writes from other processes
    are seen within ``poll_interval``.

    Args:
        path: The database file (created if missing), or ``":memory:"``.
        max_body_bytes: Largest body accepted, as compact UTF-8 JSON.
        readers: Reader threads (and connections).
        busy_timeout: Seconds to wait for a lock held by another process
            before raising `StoreUnavailable`.
        poll_interval: Seconds between checks a follow feed makes for writes
            from other processes.
        durable: ``synchronous=FULL`` (a committed write survives power loss)
            when true, else ``NORMAL`` (it survives a crash of the process).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        readers: int = 2,
        busy_timeout: float = 5.0,
        poll_interval: float = 1.0,
        durable: bool = True,
    ) -> None:
        super().__init__(max_body_bytes=max_body_bytes)
        self._path = os.fspath(path)
        self._memory = self._path == ":memory:"
        self._busy_timeout = busy_timeout
        self._poll_interval = poll_interval
        self._durable = durable
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="enotime-store-writer")
        # An in-memory database exists in one connection only: reads share the writer's.
        self._readers = (
            self._writer
            if self._memory
            else ThreadPoolExecutor(readers, thread_name_prefix="enotime-store-reader")
        )
        self._write_conn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._wakeup = asyncio.Event()

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        readers: int = 2,
        busy_timeout: float = 5.0,
        poll_interval: float = 1.0,
        durable: bool = True,
    ) -> SQLiteStore:
        """Open (creating if needed) the store at ``path``; it is ready on return.

        Raises:
            StoreUnavailable: The file cannot be opened or is not a database.
        """
        store = cls(
            path,
            max_body_bytes=max_body_bytes,
            readers=readers,
            busy_timeout=busy_timeout,
            poll_interval=poll_interval,
            durable=durable,
        )
        try:
            await store._write(store._open_sync)
        except BaseException:
            await store.aclose()
            raise
        logger.info("opened SQLite store %s", store._path)
        return store

    def __repr__(self) -> str:
        return f"<SQLiteStore {self._path!r}{' closed' if self._closed else ''}>"

    # -- threads ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,  # closed from aclose(), after its thread stopped
        )
        conn.execute(f"PRAGMA synchronous = {'FULL' if self._durable else 'NORMAL'}")
        return conn

    def _open_sync(self) -> None:
        try:
            conn = self._connect()
            self._write_conn = conn
            if not self._memory:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    logger.warning("SQLite store %s: WAL refused (journal %s)", self._path, mode)
            conn.executescript(_SCHEMA)
            rows = conn.execute("SELECT type, field FROM index_fields").fetchall()
        except sqlite3.Error as exc:
            raise _unavailable(f"{self._path!r} cannot be opened", exc) from exc
        specs: dict[str, set[str]] = {}
        for doc_type, field_name in rows:
            specs.setdefault(doc_type, set()).add(field_name)
        for doc_type, fields in specs.items():
            self._specs[doc_type] = IndexSpec(doc_type, frozenset(fields))

    def _read_conn(self) -> sqlite3.Connection:
        if self._memory:
            assert self._write_conn is not None
            return self._write_conn
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = 1")
            self._local.conn = conn
            with self._conns_lock:
                self._read_conns.append(conn)
        return conn

    async def _run(
        self,
        executor: ThreadPoolExecutor,
        fn: Callable[_P, _T],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        if self._closed:
            raise StoreUnavailable(f"{self!r} is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
        except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
            if self._closed:
                raise StoreUnavailable(f"{self!r} is closed") from exc
            raise
        except sqlite3.Error as exc:
            raise _unavailable(f"{self._path!r} failed", exc) from exc

    async def _write(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self._run(self._writer, fn, *args, **kwargs)

    async def _read(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self._run(self._readers, fn, *args, **kwargs)

    def _notify(self) -> None:
        # Followers hold the event they saw before their last query; setting it wakes
        # exactly those, and later ones take the fresh event.
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    def _transaction(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        conn = self._write_conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # -- writes ----------------------------------------------------------------------------

    async def _declare_index(
        self, doc_type: str, existing: frozenset[str], added: frozenset[str]
    ) -> None:
        await self._write(self._transaction, functools.partial(self._declare_sync, doc_type, added))

    def _declare_sync(self, doc_type: str, added: frozenset[str], conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO index_fields (type, field) VALUES (?, ?)",
            [(doc_type, name) for name in sorted(added)],
        )
        # Index what was stored before the declaration.
        rows = conn.execute(
            "SELECT id, body FROM docs WHERE type = ? AND deleted = 0", (doc_type,)
        ).fetchall()
        entries = []
        for doc_id, body_text in rows:
            body = json.loads(body_text)
            for name in added:
                if name not in body:
                    continue
                if is_index_value(body[name]):
                    entries.append((doc_type, name, _index_value(body[name]), doc_id))
                else:
                    logger.warning(
                        "document %r: index field %r of %r holds an unindexable value; skipped",
                        doc_id,
                        name,
                        doc_type,
                    )
        conn.executemany(
            "INSERT OR IGNORE INTO index_entries (type, field, value, id) VALUES (?, ?, ?, ?)",
            entries,
        )

    async def put(self, doc: Document, expected_rev: str | None) -> str:
        """Create or update a document; see `AbstractStore.put`."""
        check_id(doc.id)
        check_type(doc.type)
        body = encode_body(doc.body, self.max_body_bytes)
        # Checked here so a bad value fails even before the writer thread; the writer
        # re-reads the declared fields in its transaction, as another process may
        # have declared more.
        index_entries(doc.id, doc.body, self.index_spec(doc.type).fields)
        rev = await self._write(
            self._transaction,
            functools.partial(self._put_sync, doc.id, doc.type, doc.body, body, expected_rev),
        )
        self._notify()
        return rev

    def _put_sync(
        self,
        doc_id: str,
        doc_type: str,
        body: Mapping[str, Any],
        body_text: str,
        expected_rev: str | None,
        conn: sqlite3.Connection,
    ) -> str:
        row = conn.execute("SELECT rev, deleted FROM docs WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            accepted: tuple[str | None, ...] = (None,)
        elif row[1]:  # deleted: as in CouchDB, recreate from nothing or from the tombstone
            accepted = (None, row[0])
        else:
            accepted = (row[0],)
        if expected_rev not in accepted:
            raise Conflict(doc_id, expected_rev)
        fields = [
            name
            for (name,) in conn.execute(
                "SELECT field FROM index_fields WHERE type = ?", (doc_type,)
            ).fetchall()
        ]
        entries = index_entries(doc_id, body, fields)
        rev = _next_rev(None if row is None else row[0], doc_type, False, body_text)
        conn.execute(
            "INSERT OR REPLACE INTO docs (id, type, rev, deleted, body) VALUES (?, ?, ?, 0, ?)",
            (doc_id, doc_type, rev, body_text),
        )
        conn.execute("DELETE FROM index_entries WHERE id = ?", (doc_id,))
        conn.executemany(
            "INSERT INTO index_entries (type, field, value, id) VALUES (?, ?, ?, ?)",
            [(doc_type, name, _index_value(value), doc_id) for name, value in entries.items()],
        )
        self._record_change(conn, doc_id, rev, deleted=False)
        return rev

    async def delete(self, doc_id: str, rev: str) -> str:
        """Delete a document; see `AbstractStore.delete`."""
        check_id(doc_id)
        new_rev = await self._write(
            self._transaction, functools.partial(self._delete_sync, doc_id, rev)
        )
        self._notify()
        return new_rev

    def _delete_sync(self, doc_id: str, rev: str, conn: sqlite3.Connection) -> str:
        row = conn.execute("SELECT rev, deleted, type FROM docs WHERE id = ?", (doc_id,)).fetchone()
        if row is None or row[1]:
            raise NotFound(doc_id)
        if row[0] != rev:
            raise Conflict(doc_id, rev)
        new_rev = _next_rev(rev, row[2], True, None)
        # A tombstone keeps the revision history going if the id is created again.
        conn.execute(
            "UPDATE docs SET rev = ?, deleted = 1, body = NULL WHERE id = ?", (new_rev, doc_id)
        )
        conn.execute("DELETE FROM index_entries WHERE id = ?", (doc_id,))
        self._record_change(conn, doc_id, new_rev, deleted=True)
        return new_rev

    @staticmethod
    def _record_change(conn: sqlite3.Connection, doc_id: str, rev: str, *, deleted: bool) -> None:
        conn.execute("DELETE FROM changes WHERE id = ?", (doc_id,))
        conn.execute(
            "INSERT INTO changes (id, rev, deleted) VALUES (?, ?, ?)", (doc_id, rev, int(deleted))
        )

    # -- reads -----------------------------------------------------------------------------

    async def get(self, doc_id: str) -> Document:
        """Return a document; see `AbstractStore.get`."""
        check_id(doc_id)
        row = await self._read(self._get_sync, doc_id)
        if row is None:
            raise NotFound(doc_id)
        return _document(row)

    def _get_sync(self, doc_id: str) -> _Row | None:
        row: _Row | None = (
            self._read_conn()
            .execute("SELECT id, type, rev, body FROM docs WHERE id = ? AND deleted = 0", (doc_id,))
            .fetchone()
        )
        return row

    async def find(self, doc_type: str, /, **equal: IndexValue) -> list[Document]:
        """Find documents by index fields; see `AbstractStore.find`."""
        query = check_query(self.index_spec(doc_type), equal)
        rows = await self._read(self._find_sync, doc_type, query)
        return [_document(row) for row in rows]

    def _find_sync(self, doc_type: str, query: Mapping[str, IndexValue]) -> _Rows:
        matches = " INTERSECT ".join(
            ["SELECT id FROM index_entries WHERE type = ? AND field = ? AND value = ?"] * len(query)
        )
        params: list[str] = []
        for name, value in query.items():
            params += [doc_type, name, _index_value(value)]
        sql = (
            "SELECT id, type, rev, body FROM docs "
            f"WHERE deleted = 0 AND type = ? AND id IN ({matches}) ORDER BY id"
        )
        rows: _Rows = self._read_conn().execute(sql, [doc_type, *params]).fetchall()
        return rows

    async def list(self, doc_type: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Return a page of documents; see `AbstractStore.list`."""
        check_type(doc_type)
        check_limit(limit)
        after = "" if cursor is None else decode_cursor(doc_type, cursor)
        rows = await self._read(self._list_sync, doc_type, after, limit + 1)
        docs = [_document(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(docs, encode_cursor(doc_type, docs[-1].id) if more else None)

    def _list_sync(self, doc_type: str, after: str, limit: int) -> _Rows:
        rows: _Rows = (
            self._read_conn()
            .execute(
                "SELECT id, type, rev, body FROM docs "
                "WHERE type = ? AND deleted = 0 AND id > ? ORDER BY id LIMIT ?",
                (doc_type, after, limit),
            )
            .fetchall()
        )
        return rows

    async def changes(
        self, since: str | None = None, *, follow: bool = False
    ) -> AsyncIterator[Change]:
        """Iterate over the changes feed; see `AbstractStore.changes`."""
        after = _parse_seq(since)
        while True:
            wakeup = self._wakeup
            if self._closed:
                return
            rows = await self._read(self._changes_sync, after)
            for seq, doc_id, rev, deleted in rows:
                after = seq
                yield Change(str(seq), doc_id, rev, bool(deleted))
            if len(rows) == _CHANGES_BATCH:
                continue
            if not follow:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await wakeup.wait()

    def _changes_sync(self, after: int) -> _ChangeRows:
        rows: _ChangeRows = (
            self._read_conn()
            .execute(
                "SELECT seq, id, rev, deleted FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, _CHANGES_BATCH),
            )
            .fetchall()
        )
        return rows

    # -- teardown --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Finish running operations, close every connection and stop the threads."""
        if self._closed:
            return
        self._closed = True
        self._notify()  # followers see the flag and end
        loop = asyncio.get_running_loop()
        executors: Iterable[ThreadPoolExecutor] = {self._writer, self._readers}
        for executor in executors:
            await loop.run_in_executor(None, executor.shutdown)
        with self._conns_lock:
            conns = [*self._read_conns]
            self._read_conns.clear()
        if self._write_conn is not None:
            conns.append(self._write_conn)
            self._write_conn = None
        for conn in conns:
            conn.close()
        logger.info("closed SQLite store %s", self._path)


def _document(row: _Row) -> Document:
    doc_id, doc_type, rev, body = row
    return Document(doc_id, doc_type, json.loads(body), rev)


def _parse_seq(since: str | None) -> int:
    if since is None:
        return 0
    if isinstance(since, str) and since.isdigit() and since.isascii():
        return int(since)
    raise InvalidQuery(f"invalid changes token {since!r} for an SQLite store")
