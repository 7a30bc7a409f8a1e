"""The reference system's service actors on embedded defaults: crypto, store, mail, login.

Everything here is configuration of actors that ship in ``enotime``; a
production system swaps the embedded adapters for Vault, CouchDB and SMTP
(``docs/deploy.md``) and keeps the same tree.

The demo keeps its data in a fresh temporary directory that is deleted when
the node exits: its crypto keyring is created, initialised with a single
unseal share held in memory only, and unsealed at start, so no key, share or
datum outlives the run (a production keyring is initialised once, with
shares given to different people: ``docs/crypto.md``).
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from pathlib import Path

from actors.notes import NOTE
from enotime.crypto import CryptoService, EmbeddedCryptoEngine
from enotime.store import DocumentType

__all__ = ["DemoCrypto", "data_directory", "document_types"]

log = logging.getLogger("demo.platform")


def data_directory() -> Path:
    """A fresh private directory for this run's keyring and database, removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="enotime-demo-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


class DemoCrypto(CryptoService):
    """The crypto actor over an embedded engine that unseals itself (demo only).

    On its first start it initialises the keyring with one share and unseals
    it; the share is dropped at once. A restart finds the engine unsealed
    (the engine outlives the actor), so it starts at once.
    """

    async def on_start(self) -> None:
        engine = self.engine
        assert isinstance(engine, EmbeddedCryptoEngine)
        status = await engine.status()
        if not status.initialized:
            [share] = await engine.initialize(shares=1, threshold=1)
            await engine.submit_unseal_share(share)
            log.warning(
                "demo keyring in %s: initialised and unsealed with a single in-memory share; "
                "it is deleted at exit (never run production like this)",
                engine.directory,
            )
        await super().on_start()


def document_types(*extra: DocumentType) -> list[DocumentType]:
    """Every document type the demo's store actor keeps."""
    from enotime.login import DOCUMENT_TYPES

    return [*DOCUMENT_TYPES, NOTE, *extra]
