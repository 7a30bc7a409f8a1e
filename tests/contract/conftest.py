"""Fixtures for the contract suites: every store adapter, ready to use.

The CouchDB adapter runs against ``COUCHDB_URL`` (default
``http://127.0.0.1:5984``), normally pouchdb-server. If nothing answers there
and pouchdb-server is installed under ``.enotime/``, the session starts it with
``scripts/services/pouchdb start`` and stops it at the end; it never stops a
server it did not start. Each test gets a fresh database.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from enotime.abc import Store
from enotime.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
POUCHDB_SCRIPT = ROOT / "scripts" / "services" / "pouchdb"
POUCHDB_BIN = (
    ROOT / ".enotime" / "services" / "pouchdb" / "node_modules" / ".bin" / "pouchdb-server"
)
# Small enough that a body at the limit stays under aiohttp's 1 MiB ResourceWarning.
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class CouchService:
    """Where the CouchDB API answers, or why it does not."""

    url: str | None
    reason: str = ""


def _answers(url: str) -> bool:
    request = urllib.request.Request(url + "/", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return "version" in json.load(response)
    except (OSError, ValueError):
        return False


def _delete_database(url: str) -> None:
    request = urllib.request.Request(url, method="DELETE", headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise


@pytest.fixture(scope="session")
def couch_service() -> Iterator[CouchService]:
    """The CouchDB-compatible server for the session, started here if need be."""
    url = os.environ.get("COUCHDB_URL", "http://127.0.0.1:5984").rstrip("/")
    if _answers(url):
        yield CouchService(url)
        return
    parsed = urllib.parse.urlsplit(url)
    if parsed.hostname != "127.0.0.1" or not POUCHDB_BIN.exists():
        yield CouchService(
            None,
            f"no CouchDB API at {url} (run scripts/services/pouchdb start, or set COUCHDB_URL)",
        )
        return
    env = {**os.environ, "POUCHDB_PORT": str(parsed.port or 5984)}
    started = subprocess.run(
        [str(POUCHDB_SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=45
    )
    if started.returncode != 0 or not _answers(url):
        yield CouchService(None, f"pouchdb-server did not start at {url}: {started.stderr.strip()}")
        return
    try:
        yield CouchService(url)
    finally:
        subprocess.run(
            [str(POUCHDB_SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=30
        )


@pytest.fixture(params=["sqlite", "couchdb"])
def backend(request: pytest.FixtureRequest) -> str:
    """The adapter under test."""
    name: str = request.param
    return name


@pytest.fixture
async def store(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    require_service: Callable[[str], NoReturn],
) -> AsyncIterator[Store]:
    """A fresh, empty store of the adapter under test; closed after the test."""
    if backend == "sqlite":
        path = tmp_path / "store.sqlite3"
        async with await SQLiteStore.open(path, max_body_bytes=MAX_BODY) as sqlite_store:
            yield sqlite_store
        return
    service: CouchService = request.getfixturevalue("couch_service")
    if service.url is None:
        require_service(service.reason)
    from enotime.store import CouchDBStore

    name = f"enotime-test-{uuid.uuid4().hex}"
    couch_store = await CouchDBStore.open(service.url, name, max_body_bytes=MAX_BODY)
    try:
        yield couch_store
    finally:
        await couch_store.aclose()
        await asyncio.to_thread(_delete_database, f"{service.url}/{name}")


@pytest.fixture
def open_unreachable(backend: str, tmp_path: Path) -> Callable[[], Awaitable[Store]]:
    """Open the adapter under test on a backend that cannot be reached."""
    if backend == "sqlite":
        return lambda: SQLiteStore.open(tmp_path / "no-such-directory" / "store.sqlite3")

    import socket

    from enotime.store import CouchDBStore

    # A loopback port that was just free: nothing listens there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return lambda: CouchDBStore.open(
        f"http://127.0.0.1:{port}", "enotime-test", request_timeout=5, longpoll_timeout=1
    )
