"""The store actor keeps private data encrypted at rest, on every adapter.

The "copy the database" tests read what an attacker with a copy would read --
the raw SQLite files, the raw CouchDB documents over HTTP -- and find no
private value in it.
"""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from enotime import Node
from enotime.abc import Store
from enotime.crypto import (
    CryptoClient,
    CryptoService,
    EmbeddedCryptoEngine,
    InvalidCiphertext,
    Sealed,
)
from enotime.store import (
    Document,
    DocumentType,
    InvalidDocument,
    Record,
    SQLiteStore,
    StoreClient,
    StoreService,
    TamperedDocument,
)

USERS = DocumentType("user", public=frozenset({"plan"}), indexed=frozenset({"email", "plan"}))

PEOPLE = [
    ("u1", "alice.liddell@example.com", "Alice Liddell", "the treasure is under the oak"),
    ("u2", "bob.mortimer@example.org", "Bob Mortimer", "allergic to penicillin"),
    ("u3", "carol.danvers@example.net", "Carol Danvers", "pin code 4711"),
]


@dataclass
class Setup:
    engine: EmbeddedCryptoEngine
    shares: list[str]
    adapter: Store
    store: StoreClient
    raw: Callable[[], bytes]


@pytest.fixture
async def setup(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    require_service: Callable[[str], NoReturn],
) -> AsyncIterator[Setup]:
    engine = EmbeddedCryptoEngine(tmp_path / "keyring")
    shares = await engine.initialize(shares=3, threshold=2)
    for share in shares[:2]:
        await engine.submit_unseal_share(share)
    adapter: Store
    raw: Callable[[], bytes]
    if backend == "sqlite":
        path = tmp_path / "store.sqlite3"
        adapter = await SQLiteStore.open(path)

        def raw() -> bytes:  # the database file and its write-ahead log, as copied
            return b"".join(p.read_bytes() for p in tmp_path.glob("store.sqlite3*"))

    else:
        service = request.getfixturevalue("couch_service")
        if service.url is None:
            require_service(service.reason)
        from enotime.store import CouchDBStore

        database = f"enotime-enc-{uuid.uuid4().hex}"
        adapter = await CouchDBStore.open(service.url, database)
        url = f"{service.url}/{database}/_all_docs?include_docs=true"

        def raw() -> bytes:  # every document as CouchDB serves it
            with urllib.request.urlopen(
                urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=10
            ) as response:
                body: bytes = response.read()
                return body

    async with Node("store") as node:
        crypto = CryptoClient(await node.spawn(CryptoService, engine))
        service_ref = await node.spawn(StoreService, adapter, crypto, [USERS])
        yield Setup(engine, shares, adapter, StoreClient(service_ref), raw)
    await adapter.aclose()


async def put_people(store: StoreClient) -> dict[str, str]:
    revs = {}
    for doc_id, email, name, note in PEOPLE:
        fields = {"email": email, "name": name, "note": note, "plan": "pro"}
        revs[doc_id] = await store.put(Record(doc_id, "user", fields))
    return revs


async def test_a_copy_of_the_database_holds_no_private_value_in_plain_text(setup: Setup) -> None:
    await put_people(setup.store)
    copied = (await asyncio.to_thread(setup.raw)).decode("utf-8", "replace")
    assert "pro" in copied  # the copy is readable: public fields are there
    for _, email, name, note in PEOPLE:
        for secret in (email, name, note, email.split("@")[0], name.split()[1]):
            assert secret not in copied


async def test_records_read_back_decrypted_and_are_found_by_blind_index(setup: Setup) -> None:
    await put_people(setup.store)
    bob = await setup.store.get("u2")
    assert bob.fields == {
        "email": "bob.mortimer@example.org",
        "name": "Bob Mortimer",
        "note": "allergic to penicillin",
        "plan": "pro",
    }
    [found] = await setup.store.find("user", email="carol.danvers@example.net")
    assert found.id == "u3"
    assert [r.id for r in await setup.store.find("user", plan="pro")] == ["u1", "u2", "u3"]
    assert await setup.store.find("user", email="nobody@example.com") == []
    records, cursor = await setup.store.list("user", limit=2)
    assert [r.fields["name"] for r in records] == ["Alice Liddell", "Bob Mortimer"]
    assert cursor is not None


async def test_a_sealed_body_copied_onto_another_document_is_refused(setup: Setup) -> None:
    await put_people(setup.store)
    alice, bob = await setup.adapter.get("u1"), await setup.adapter.get("u2")
    forged = Document("u2", "user", {**bob.body, "sealed": alice.body["sealed"]})
    await setup.adapter.put(forged, bob.rev)
    with pytest.raises(TamperedDocument, match="belongs to another document"):
        await setup.store.get("u2")


async def test_a_tampered_ciphertext_is_a_typed_error(setup: Setup) -> None:
    await put_people(setup.store)
    alice = await setup.adapter.get("u1")
    sealed = str(alice.body["sealed"])
    flipped = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    await setup.adapter.put(Document("u1", "user", {**alice.body, "sealed": flipped}), alice.rev)
    with pytest.raises(InvalidCiphertext):
        await setup.store.get("u1")


async def test_bad_input_is_refused_with_typed_errors_and_stores_nothing(setup: Setup) -> None:
    with pytest.raises(InvalidDocument, match="not declared"):
        await setup.store.put(Record("x1", "invoice", {"total": 3}))
    with pytest.raises(InvalidDocument, match="indexed field 'email'"):
        await setup.store.put(Record("x2", "user", {"email": 1.5}))
    with pytest.raises(InvalidDocument, match="invalid document id"):
        await setup.store.put(Record("_design/x", "user", {"email": "a@b.c"}))
    records, _ = await setup.store.list("user")
    assert records == []


async def test_break_glass_mid_traffic_fails_requests_cleanly_and_loses_nothing_stored(
    setup: Setup,
) -> None:
    async def write(n: int) -> str:
        return await setup.store.put(Record(f"w{n}", "user", {"email": f"w{n}@example.com"}))

    writes = [asyncio.ensure_future(write(n)) for n in range(40)]
    await asyncio.wait_for(asyncio.shield(writes[9]), 10)  # traffic is flowing
    await setup.engine.seal()
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    stored = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, str)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, str)]
    assert stored
    assert refused
    assert all(isinstance(error, Sealed) for error in refused)
    with pytest.raises(Sealed):
        await setup.store.get("w0")
    for share in setup.shares[:2]:
        await setup.engine.submit_unseal_share(share)
    for n in stored:
        assert (await setup.store.get(f"w{n}")).fields == {"email": f"w{n}@example.com"}


async def test_rotation_and_rewrap_bring_every_document_to_the_new_keys_without_downtime(
    setup: Setup,
) -> None:
    await put_people(setup.store)
    await setup.engine.rotate("store")
    await setup.engine.rotate("store-index")
    assert await setup.store.rewrap("user") == 3
    assert await setup.store.rewrap("user") == 0  # already current
    await setup.engine.set_min_decryption_version("store", 2)
    await setup.engine.set_min_decryption_version("store-index", 2)
    assert (await setup.store.get("u1")).fields["name"] == "Alice Liddell"
    [found] = await setup.store.find("user", email="alice.liddell@example.com")
    assert found.id == "u1"
    raw_alice = await setup.adapter.get("u1")
    assert str(raw_alice.body["sealed"]).startswith("enotime:v2:")
    assert str(raw_alice.body["bix_email"]).startswith("enotime:v2:")
