"""A node with a crypto actor and an encrypted SQLite store holding the accounts' types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from enotime import Node
from enotime.auth import JwtKeyring, TokenSigner
from enotime.crypto import CryptoClient, CryptoService, EmbeddedCryptoEngine
from enotime.login._accounts import AccountsConfig, AccountsService
from enotime.login._memberships import DOCUMENT_TYPES
from enotime.store import SQLiteStore, StoreClient, StoreService
from enotime.testing import Probe
from tests.unit._wall_clock import WallClock

from ._world import World


@pytest.fixture
async def store(node: Node, tmp_path: Path) -> AsyncIterator[StoreClient]:
    """The store actor, registered as "store", over a file the test can read raw."""
    engine = EmbeddedCryptoEngine(tmp_path / "keyring")
    shares = await engine.initialize(shares=1, threshold=1)
    await engine.submit_unseal_share(shares[0])
    adapter = await SQLiteStore.open(tmp_path / "store.sqlite3")
    crypto = CryptoClient(await node.spawn(CryptoService, engine, name="crypto"))
    ref = await node.spawn(StoreService, adapter, crypto, DOCUMENT_TYPES, name="store")
    yield StoreClient(ref)
    node.kill(ref)  # release the adapter's users before closing it
    await adapter.aclose()


@pytest.fixture
def raw_store(tmp_path: Path) -> Callable[[], str]:
    """What a copy of the database files shows: the SQLite file and its write-ahead log."""

    def read() -> str:
        data = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("store.sqlite3*")))
        return data.decode("utf-8", "replace")

    return read


@pytest.fixture
async def world(node: Node, store: StoreClient) -> AsyncIterator[World]:
    """The accounts actor, registered as "accounts", with a probe as its mailer."""
    clock = WallClock()
    mailer = await Probe.start(node, name="mailer")
    accounts = await node.spawn(AccountsService, AccountsConfig(), clock=clock, name="accounts")
    signer = TokenSigner(JwtKeyring(), issuer="test", audience="test", clock=clock)
    yield World(node, store, accounts, mailer, clock, signer)
    assert accounts.is_alive, "no refusal may crash the accounts actor"
