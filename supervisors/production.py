"""The reference system on the production adapters: CouchDB for the store, Vault for crypto.

The demo's services (``supervisors.demo``: crypto, store, mailer, login,
accounts, notes and the HTTP front) with their adapters picked from the
environment instead of embedded defaults, in two trees -- what the nodes of the
deployment stack run (``deploy/compose.yml``):

- ``login``: the login service's node. Crypto, store, mailer and the login
  actor, exposed to the cluster as the service ``login``. Vault grants the
  login keys (``login-*``) to its AppRole alone (``enotime-login``,
  docs/edge.md), so the login actor runs on a node of its own::

      enotime run supervisors.production:login --name node-login --amqp ...

- ``system``: the API nodes, as many as you like. Crypto, store, mailer, the
  accounts and notes actors and the front; the front reaches the login
  service, its JWKS and revocations through the cluster::

      enotime run supervisors.production:system --name node-1 --amqp ...

Settings (docs/deploy.md, *The nodes' trees*). A secret ``NAME`` may instead
be given as ``NAME_FILE``, the path of a file holding it (Docker and
Kubernetes secrets, a Vault agent sink):

- **store**: ``ENOTIME_COUCHDB_URL`` (required), ``ENOTIME_COUCHDB_DATABASE``
  (default ``enotime``), ``ENOTIME_COUCHDB_USER`` and
  ``ENOTIME_COUCHDB_PASSWORD`` (secret);
- **crypto**: ``VAULT_ADDR`` (required); ``VAULT_TOKEN`` (secret), or
  ``VAULT_ROLE_ID`` and ``VAULT_SECRET_ID`` (secrets) for an AppRole login;
  ``VAULT_CACERT`` (a CA bundle), ``VAULT_NAMESPACE``,
  ``ENOTIME_VAULT_TRANSIT_MOUNT`` (default ``transit``);
- **links**: ``ENOTIME_PUBLIC_URL``, where users reach the API: the links in
  mails start with it (default ``http://<host>:<port>`` of the front);
- **front** (``system``): ``ENOTIME_HTTP_HOST`` (default ``127.0.0.1``),
  ``ENOTIME_HTTP_PORT`` (default 8000);
- **mail**: ``ENOTIME_SMTP_HOST`` and ``ENOTIME_SMTP_SENDER`` send mail
  through SMTP (``ENOTIME_SMTP_PORT``, default 587; ``ENOTIME_SMTP_TLS``:
  ``starttls`` (default), ``tls`` or ``none``; ``ENOTIME_SMTP_USERNAME``,
  ``ENOTIME_SMTP_PASSWORD``, secret). Without ``ENOTIME_SMTP_HOST`` mails are
  printed on standard output, as in the demo.

There is no fallback to the embedded adapters: a production node that
silently kept its keys in a temporary keyring would lose every document at
its first restart, so a missing setting stops the node at start with a
:class:`MissingSetting` naming it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from enotime import ChildSpec, child
from enotime.errors import ConfigurationError
from supervisors.demo import DEMO_PORT, StoreOpener, api, login_services, one_for_one, platform

if TYPE_CHECKING:
    from enotime.crypto import VaultCryptoEngine
    from enotime.mail import Mailer

__all__ = [
    "LOGIN_SERVICE",
    "MissingSetting",
    "crypto_from_env",
    "login",
    "mailer_from_env",
    "store_from_env",
    "system",
]

log = logging.getLogger("supervisors.production")

DEFAULT_DATABASE = "enotime"
LOGIN_SERVICE = "login"
"""The cluster service the login node serves its login actor as (the fronts' ``jwks_source``)."""
DEFAULT_HOST = "127.0.0.1"
SMTP_TLS = ("starttls", "tls", "none")


class MissingSetting(ConfigurationError):
    """A setting the production tree needs is missing or malformed (its message names it).

    A :class:`~enotime.errors.ConfigurationError`: ``enotime run`` prints it on
    one line and exits 2.
    """


def system(env: Mapping[str, str] | None = None, *, mailer: Mailer | None = None) -> ChildSpec:
    """An API node: crypto, store, mailer, accounts, notes and the front, on CouchDB and Vault.

    Args:
        env: The settings (default: ``os.environ``); see the module's docstring.
        mailer: Where mails go, instead of what ``env`` says.

    Raises:
        MissingSetting: A required setting is missing, or one is malformed.
    """
    from enotime.edge import EdgeConfig

    env = os.environ if env is None else env
    host = env.get("ENOTIME_HTTP_HOST") or DEFAULT_HOST
    port = _integer(env, "ENOTIME_HTTP_PORT", DEMO_PORT)
    edge = EdgeConfig(host=host, port=port, title="ENoTime")
    return one_for_one(
        "system",
        [*_platform(env, mailer), *api(edge, _public_url(env, f"http://{host}:{port}"))],
    )


def login(env: Mapping[str, str] | None = None, *, mailer: Mailer | None = None) -> ChildSpec:
    """The login service's node: crypto, store, mailer and the login actor, served to the
    cluster as ``login``; on CouchDB and Vault (with the login service's own AppRole).

    Arguments and errors as for :func:`system`; it serves no HTTP, so it reads
    no ``ENOTIME_HTTP_*``.
    """
    from actors.platform import ServiceExposer

    env = os.environ if env is None else env
    base_url = _public_url(env, f"http://{DEFAULT_HOST}:{DEMO_PORT}")
    return one_for_one(
        "login-service",
        [
            *_platform(env, mailer),
            *login_services(base_url),
            child(ServiceExposer, LOGIN_SERVICE, "login", name="login-exposer"),
        ],
    )


def _platform(env: Mapping[str, str], mailer: Mailer | None) -> list[ChildSpec]:
    from enotime.crypto import CryptoService

    return platform(
        crypto=child(CryptoService, crypto_from_env(env), name="crypto"),
        store=store_from_env(env),
        mailer=mailer if mailer is not None else mailer_from_env(env),
    )


def _public_url(env: Mapping[str, str], default: str) -> str:
    return (env.get("ENOTIME_PUBLIC_URL") or default).rstrip("/")


def store_from_env(env: Mapping[str, str]) -> StoreOpener:
    """Opens the CouchDB store ``env`` names; nothing is contacted until it is called.

    Raises:
        MissingSetting: ``ENOTIME_COUCHDB_URL`` is not set, or not an http(s) URL.
    """
    from enotime.store import CouchDBStore

    url = _url(env, "ENOTIME_COUCHDB_URL")
    database = env.get("ENOTIME_COUCHDB_DATABASE") or DEFAULT_DATABASE
    user = env.get("ENOTIME_COUCHDB_USER") or None
    password = _secret(env, "ENOTIME_COUCHDB_PASSWORD")

    async def open_store() -> CouchDBStore:
        return await CouchDBStore.open(url, database, user=user, password=password)

    return open_store


def crypto_from_env(env: Mapping[str, str]) -> VaultCryptoEngine:
    """The Vault transit engine ``env`` names, with a token or an AppRole login.

    Raises:
        MissingSetting: ``VAULT_ADDR`` is not set, or neither ``VAULT_TOKEN`` nor
            both ``VAULT_ROLE_ID`` and ``VAULT_SECRET_ID`` are.
    """
    from enotime.crypto import AppRoleCredentials, VaultCryptoEngine

    url = _url(env, "VAULT_ADDR")
    token = _secret(env, "VAULT_TOKEN")
    role_id, secret_id = _secret(env, "VAULT_ROLE_ID"), _secret(env, "VAULT_SECRET_ID")
    approle = None
    if token is None:
        if role_id is None or secret_id is None:
            raise MissingSetting(
                "set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID (or their *_FILE) "
                "for the Vault transit engine"
            )
        approle = AppRoleCredentials(role_id, secret_id)
    return VaultCryptoEngine(
        url,
        token=token,
        approle=approle,
        mount_point=env.get("ENOTIME_VAULT_TRANSIT_MOUNT") or "transit",
        namespace=env.get("VAULT_NAMESPACE") or None,
        verify=env.get("VAULT_CACERT") or True,
    )


def mailer_from_env(env: Mapping[str, str]) -> Mailer:
    """SMTP when ``ENOTIME_SMTP_HOST`` is set, else mails printed on standard output.

    Raises:
        MissingSetting: ``ENOTIME_SMTP_HOST`` without ``ENOTIME_SMTP_SENDER``, or a
            malformed port or ``ENOTIME_SMTP_TLS``.
    """
    from enotime.mail import Outbox, SmtpMailer

    host = env.get("ENOTIME_SMTP_HOST")
    if not host:
        log.warning("ENOTIME_SMTP_HOST is not set: mails are printed on standard output")
        return Outbox()
    sender = env.get("ENOTIME_SMTP_SENDER")
    if not sender:
        raise MissingSetting("set ENOTIME_SMTP_SENDER (the From address) with ENOTIME_SMTP_HOST")
    tls = env.get("ENOTIME_SMTP_TLS") or "starttls"
    if tls not in SMTP_TLS:
        raise MissingSetting(f"ENOTIME_SMTP_TLS is one of {', '.join(SMTP_TLS)}, not {tls!r}")
    return SmtpMailer(
        host,
        _integer(env, "ENOTIME_SMTP_PORT", 587),
        sender,
        username=env.get("ENOTIME_SMTP_USERNAME") or None,
        password=_secret(env, "ENOTIME_SMTP_PASSWORD"),
        starttls=tls == "starttls",
        use_tls=tls == "tls",
    )


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """``name``'s value, else the content of the file ``name_FILE`` names, else None."""
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        content = Path(path).read_text().strip()
    except OSError as exc:
        raise MissingSetting(f"{name}_FILE={path}: cannot read it ({exc.strerror})") from None
    if not content:
        raise MissingSetting(f"{name}_FILE={path} is empty")
    return content


def _url(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise MissingSetting(f"set {name}: the production tree has no embedded fallback")
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise MissingSetting(f"{name} must be an http(s) URL")  # not echoed: it may be a secret
    if parsed.username or parsed.password:
        raise MissingSetting(f"{name} must not carry credentials: set them apart (docs/deploy.md)")
    return value


def _integer(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise MissingSetting(f"{name} must be a port number, not {value!r}") from None
    if not 0 <= number <= 65535:
        raise MissingSetting(f"{name} must be a port number, not {value!r}")
    return number
