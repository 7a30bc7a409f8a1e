"""The store actor in a supervision tree: it opens its own adapter and follows the crypto actor."""

from __future__ import annotations

from pathlib import Path

from enotime import SHUTDOWN, Node, Strategy, child, supervisor, which_children
from enotime.crypto import CryptoService, EmbeddedCryptoEngine
from enotime.store import DocumentType, Record, SQLiteStore, StoreClient, StoreService

NOTES = DocumentType("note", indexed=frozenset({"title"}))


async def unsealed(directory: Path) -> EmbeddedCryptoEngine:
    engine = EmbeddedCryptoEngine(directory)
    [share] = await engine.initialize(shares=1, threshold=1)
    await engine.submit_unseal_share(share)
    return engine


async def test_an_opener_and_a_crypto_name_make_a_store_that_survives_both_restarts(
    tmp_path: Path,
) -> None:
    engine = await unsealed(tmp_path / "keyring")
    tree = supervisor(
        "data",
        [
            child(CryptoService, engine, name="crypto"),
            child(
                StoreService,
                lambda: SQLiteStore.open(tmp_path / "store.sqlite3"),
                "crypto",
                [NOTES],
                name="store",
            ),
        ],
        strategy=Strategy.ONE_FOR_ONE,
    )
    async with Node("store") as node:
        sup = await node.start(tree)
        await StoreClient(node.lookup("store")).put(Record("n1", "note", {"title": "kept"}))

        node.kill(node.lookup("crypto"))  # the store finds the restarted crypto actor by name
        await which_children(sup)
        assert (await StoreClient(node.lookup("store")).get("n1")).fields == {"title": "kept"}

        first = node.lookup("store")
        node.exit(first, SHUTDOWN)  # on_stop closes the adapter it opened ...
        await first.wait_stopped(5)
        await which_children(sup)
        store = StoreClient(node.lookup("store"))  # ... and its successor opens it again
        assert [r.id for r in await store.find("note", title="kept")] == ["n1"]
