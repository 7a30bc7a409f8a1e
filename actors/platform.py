"""The reference system's service actors on embedded defaults: crypto, store, mail, login.

``ServiceExposer`` serves a local actor to the other nodes of the cluster
(the production login node exposes its login actor so).

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
from enotime import Actor, ExitReason
from enotime.crypto import CryptoService, EmbeddedCryptoEngine
from enotime.store import DocumentType

__all__ = ["DemoCrypto", "ServiceExposer", "data_directory", "document_types"]

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


class ServiceExposer(Actor):
    """Serves the local actor ``actor`` as the cluster's service ``service`` while it runs.

    Put it in a tree after the actor: other nodes then reach the actor as
    ``node.service(service)`` (a front's endpoint whose target no local actor
    holds, the JWKS and revocations of a front on another node). The actor is
    looked up by name for each message, so its restarts do not matter.

    Args:
        service: The service's name in the cluster.
        actor: The local actor's registered name.

    Raises:
        RuntimeError: At start, when the node is not connected (``enotime run
            --amqp``).
    """

    def __init__(self, service: str, actor: str) -> None:
        self.service = service
        self.actor = actor

    async def on_start(self) -> None:
        gateway = self.node.gateway
        if gateway is None:
            raise RuntimeError(
                f"cannot serve {self.actor!r} as the service {self.service!r}: "
                "the node is not connected (enotime run --amqp)"
            )
        await gateway.unexpose(self.service)  # a restarted exposer: killed before it withdrew
        await gateway.expose(self.service, self.actor)
        log.info("serving %r as the cluster's service %r", self.actor, self.service)

    async def on_stop(self, reason: ExitReason) -> None:
        gateway = self.node.gateway
        if gateway is not None:
            await gateway.unexpose(self.service)
