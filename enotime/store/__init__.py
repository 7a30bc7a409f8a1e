"""The store port and its adapters: documents with an id, a revision and a type.

`SQLiteStore` is the embedded adapter (standard library only); `CouchDBStore`
talks to CouchDB 3 (or pouchdb-server) and needs ``pip install "enotime[couchdb]"``.
Both pass one contract suite; see ``docs/store.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    Change,
    Document,
    IndexSpec,
    IndexValue,
    JsonValue,
    Page,
)
from ._service import DocumentType, Record, StoreClient, StoreService, TamperedDocument
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._couchdb import CouchDBStore

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "Change",
    "Conflict",
    "CouchDBStore",
    "Document",
    "DocumentType",
    "IndexSpec",
    "IndexValue",
    "InvalidDocument",
    "InvalidQuery",
    "JsonValue",
    "NotFound",
    "Page",
    "Record",
    "SQLiteStore",
    "StoreClient",
    "StoreError",
    "StoreService",
    "StoreUnavailable",
    "TamperedDocument",
]


def __getattr__(name: str) -> Any:
    # CouchDBStore needs the optional aiocouch: import it only when asked for, and
    # name the extra to install when it is missing.
    if name == "CouchDBStore":
        try:
            from ._couchdb import CouchDBStore
        except ModuleNotFoundError as exc:
            if exc.name not in {"aiocouch", "aiohttp"}:
                raise
            raise ImportError(
                'CouchDBStore needs aiocouch: pip install "enotime[couchdb]"'
            ) from exc
        return CouchDBStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
