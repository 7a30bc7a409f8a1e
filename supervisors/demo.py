"""The reference system's trees.

``system`` is the README's demo: an HTTP API on 127.0.0.1:8000 (port from
``ENOTIME_DEMO_PORT``) with registration, email verification, login, MFA,
accounts and a per-account notes service, on embedded defaults (crypto
keyring, SQLite store, a mail outbox printed on the console). Run it with
``enotime run supervisors.demo:system``. Its parts (``platform``,
``login_services``, ``api``) take any adapters: ``supervisors.production``
puts them on CouchDB and Vault.

``tree`` is the job-queue demo: a pool of workers that crash and come back, a
producer, a reporter. Run it with ``enotime run supervisors.demo:tree`` (24
jobs, then the node stops), or ``enotime run supervisors.demo:service`` to keep
jobs flowing until stopped (what the deployment stack runs).

``rest_for_one`` at the top: if the queue itself died, the workers (which
registered with it) and everything after would be restarted with it; a
crashing worker is restarted alone by the pool's ``one_for_one``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from actors.demo import Producer, Reporter
from actors.jobs import QUEUE, JobQueue, Worker
from enotime import ChildSpec, Restart, Strategy, child, supervisor

if TYPE_CHECKING:
    from enotime.abc import Store
    from enotime.edge import EdgeConfig
    from enotime.mail import Mailer

JOBS = 24
WORKERS = 3


def tree(jobs: int | None = JOBS, workers: int = WORKERS, interval: float = 0.05) -> ChildSpec:
    """The whole demo system as one supervision tree; ``jobs=None`` runs forever."""
    pool = supervisor(
        "workers",
        [child(Worker, id=f"worker-{i}", name=f"worker-{i}") for i in range(1, workers + 1)],
        strategy=Strategy.ONE_FOR_ONE,
        max_restarts=10,
        max_seconds=5,
        name="workers",
    )
    return supervisor(
        "demo",
        [
            child(JobQueue, name=QUEUE),
            pool,
            child(Producer, jobs, interval, restart=Restart.TRANSIENT),
            child(Reporter, jobs),
        ],
        strategy=Strategy.REST_FOR_ONE,
        name="demo",
    )


def service() -> ChildSpec:
    """The demo as a long-running service: a job every 0.2 s until the node is stopped."""
    return tree(jobs=None, interval=0.2)


DEMO_PORT = 8000

StoreOpener: TypeAlias = "Callable[[], Awaitable[Store]]"
"""Opens the store when the store actor starts (and again when it restarts)."""


def system(
    port: int | None = None, *, mailer: Mailer | None = None, data: Path | None = None
) -> ChildSpec:
    """The HTTP demo system: crypto, store, mailer, login, accounts, notes and the front.

    Args:
        port: Where the front listens on 127.0.0.1 (default ``ENOTIME_DEMO_PORT``
            or 8000; 0 picks a free port, read back with ``Where()``).
        mailer: Where mails go (default: an outbox printed on the console).
        data: The directory of the keyring and the database (default: a fresh
            temporary one, deleted at exit).

    Embedded adapters only: a keyring and SQLite in ``data``, whatever the
    environment says. The same services on CouchDB and Vault, the login
    service on a node of its own, are ``supervisors.production``.
    """
    # Imported here: the job-queue trees above need only the core install,
    # this one the `edge` extra (pip install -e ".[edge]").
    from actors.platform import DemoCrypto, data_directory
    from enotime.crypto import EmbeddedCryptoEngine
    from enotime.edge import EdgeConfig
    from enotime.mail import Outbox
    from enotime.store import SQLiteStore

    port = port if port is not None else int(os.environ.get("ENOTIME_DEMO_PORT", DEMO_PORT))
    base_url = f"http://127.0.0.1:{port}"
    directory = data if data is not None else data_directory()
    engine = EmbeddedCryptoEngine(directory / "keyring")
    return one_for_one(
        "system",
        [
            *platform(
                crypto=child(DemoCrypto, engine, name="crypto"),
                store=lambda: SQLiteStore.open(directory / "store.sqlite3"),
                mailer=mailer if mailer is not None else Outbox(),
            ),
            *login_services(base_url),
            *api(EdgeConfig(port=port, title="ENoTime demo"), base_url),
        ],
    )


# The HTTP system's parts, over the adapters given: the demo puts them in one tree, the
# production trees (supervisors.production) the login service apart from the API.


def one_for_one(name: str, children: list[ChildSpec]) -> ChildSpec:
    """A tree of services, registered as ``name``.

    ``one_for_one``: the services find each other by name on every use, so a
    crashing service restarts alone and the others go on; the order of the
    children is the order they need each other in at start.
    """
    return supervisor(name, children, strategy=Strategy.ONE_FOR_ONE, name=name)


def platform(*, crypto: ChildSpec, store: StoreOpener, mailer: Mailer) -> list[ChildSpec]:
    """What every node of the system runs first: crypto, store and mailer actors.

    Args:
        crypto: The crypto actor's child spec, registered as ``crypto``.
        store: Opens the store the store actor (``store``) keeps its documents in.
        mailer: Where the mailer actor (``mailer``) sends mails.
    """
    from actors.platform import document_types
    from enotime.mail import MailerService
    from enotime.store import StoreService

    return [
        crypto,
        child(StoreService, store, "crypto", document_types(), name="store"),
        child(MailerService, mailer, name="mailer"),
    ]


def login_services(base_url: str) -> list[ChildSpec]:
    """The login actor (``login``) and the sweeper of what it leaves to expire.

    ``base_url`` starts the links the login actor mails.
    """
    from enotime.login import LoginConfig, LoginService, LoginSweeper

    return [
        child(LoginService, LoginConfig(link_base_url=f"{base_url}/auth"), name="login"),
        child(LoginSweeper, name="login-sweeper"),
    ]


def api(edge: EdgeConfig, base_url: str) -> list[ChildSpec]:
    """The accounts and notes actors and the front (``front``) serving the API.

    Args:
        edge: The front's configuration (address, port, title).
        base_url: Where users reach the front: invitation links start with it.
    """
    from actors.notes import Notes
    from api import endpoints
    from enotime.edge import FrontService
    from enotime.login import AccountsConfig, AccountsService

    return [
        child(
            AccountsService,
            AccountsConfig(invitation_url=f"{base_url}/accounts/invitations/accept"),
            name="accounts",
        ),
        child(Notes, name="notes"),
        child(FrontService, endpoints(), edge, name="front"),
    ]
