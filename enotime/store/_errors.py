"""The errors a store raises, documented by contrast with their neighbours."""

from __future__ import annotations

from enotime.errors import EnotimeError

__all__ = [
    "Conflict",
    "InvalidDocument",
    "InvalidQuery",
    "NotFound",
    "StoreError",
    "StoreUnavailable",
]


class StoreError(EnotimeError):
    """Root of every error a store raises on purpose.

    Catch this to handle any store failure; each subclass says what went wrong
    and whether retrying can help.
    """


class NotFound(StoreError):
    """The document does not exist, or it was deleted.

    Raised by ``get`` and by ``delete`` of an id the store does not hold. Not
    `Conflict`: a *write* that names a revision the store does not hold is a
    conflict, even when the document is gone.
    """

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"document {doc_id!r} not found")
        self.doc_id = doc_id


class Conflict(StoreError):
    """A write named a revision that is not the document's current one.

    Raised by ``put`` when ``expected_rev`` is stale or names a revision of a
    document that does not exist, when ``expected_rev`` is ``None`` but the
    document exists, and by ``delete`` with a stale revision. Exactly one of
    several concurrent writers from the same revision wins; the others get this
    error. Re-read, merge and retry. Not `NotFound`: reads never conflict.
    """

    def __init__(self, doc_id: str, expected_rev: str | None) -> None:
        wanted = "a new document" if expected_rev is None else f"revision {expected_rev!r}"
        super().__init__(f"document {doc_id!r}: write expected {wanted}, store has another")
        self.doc_id = doc_id
        self.expected_rev = expected_rev


class InvalidDocument(StoreError):
    """The document cannot be stored as given; nothing was written.

    Raised for an id outside the id policy, a bad type name, a body that is not
    JSON (non-string keys, NaN, sets, bytes, ...), a body over the store's size
    limit, or a declared index field holding a value that cannot be indexed.
    Retrying the same input fails again. Not `InvalidQuery`, which is about the
    arguments of a read.
    """


class InvalidQuery(StoreError):
    """A read asked for something the store cannot answer as asked.

    Raised by ``find`` on a field that was never declared as an index field of
    that type (so it would scan every body) or with a value that cannot be
    indexed, by ``list`` with a malformed cursor or one issued for another
    type, and for a malformed changes token. Not `InvalidDocument`, which is
    about what is written.
    """


class StoreUnavailable(StoreError):
    """The store cannot be reached or used right now.

    Raised when the server refuses connections or times out, answers with a
    server error or rejects the credentials, when the SQLite file cannot be
    opened or stays locked, and on any call after ``aclose()``. A write that
    fails this way may or may not have been applied: re-read before retrying.
    Not `NotFound` or `Conflict`: those are answers from a working store.
    """
