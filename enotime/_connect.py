"""``enotime run --amqp [URL] --consul [URL]``: the transport and registry of the node it runs.

The command line's half of :meth:`Node.connect`: :func:`add_connect_arguments`
declares the options, :func:`connect_options` validates them before anything
starts (a :class:`UsageError` makes the command exit 2), :func:`child_options`
hands them to the ``--procs`` children, and :func:`connected` opens the
transport and the registry, connects the node and closes both after it.

Secrets stay out of the command line when the operator wants: ``--amqp``
without a value reads the URL (with its password) from ``ENOTIME_AMQP_URL``,
``--consul`` without a value reads ``CONSUL_HTTP_ADDR``, the Consul ACL token
is only read from ``CONSUL_HTTP_TOKEN``, and the wire keys only from
``ENOTIME_WIRE_KEYS`` or a file. A URL is logged with its password masked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import socket
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from enotime._gateway import LOCK_DELAY, REGISTRATION_TTL, SESSION_TTL, check_registry_time
from enotime.transport._keys import ENV_VAR as WIRE_KEYS_ENV
from enotime.transport._keys import Keyring

if TYPE_CHECKING:
    from enotime._gateway import Gateway
    from enotime._node import Node
    from enotime.registry._port import AbstractRegistry

__all__ = [
    "AMQP_URL_ENV",
    "CONSUL_ADDR_ENV",
    "CONSUL_TOKEN_ENV",
    "ConnectFailed",
    "ConnectOptions",
    "UsageError",
    "add_connect_arguments",
    "child_options",
    "connect_options",
    "connected",
    "redact",
]

log = logging.getLogger("enotime.cli")

AMQP_URL_ENV: Final = "ENOTIME_AMQP_URL"
"""The broker's URL when ``--amqp`` is given without one."""
CONSUL_ADDR_ENV: Final = "CONSUL_HTTP_ADDR"
"""The Consul agent's address when ``--consul`` is given without one (Consul's own variable)."""
CONSUL_TOKEN_ENV: Final = "CONSUL_HTTP_TOKEN"
"""The Consul ACL token, if any (Consul's own variable; never an option: it would show in ps)."""
DEFAULT_EXCHANGE: Final = "enotime"
CONNECT_TIMEOUT: Final = 30.0
"""Seconds the first connection to the broker may take before the command gives up."""
METRICS_PORT_META: Final = "metrics_port"
"""The metadata key Prometheus's Consul discovery reads (deploy/prometheus/prometheus.yml)."""

_FROM_ENV: Final = "\0from-env"  # argparse's const for an option given without a value
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_EXCHANGE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}")
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_REGISTRY_TIMES: Final = {  # gateway option -> (its flag, default, what it bounds)
    "registration_ttl": (
        "--registration-ttl",
        REGISTRATION_TTL,
        "seconds the node's Consul registration stays healthy after each keep-alive: a node "
        "that dies leaves the healthy nodes within this time",
    ),
    "session_ttl": (
        "--session-ttl",
        SESSION_TTL,
        "seconds (10 or more) without renewal after which Consul ends the session that holds "
        "the node's global names (it may wait up to twice this)",
    ),
    "lock_delay": (
        "--lock-delay",
        LOCK_DELAY,
        "seconds (0 to 60) the global names of a node that died stay unregistrable after "
        "its session ended",
    ),
}


class UsageError(Exception):
    """An option is wrong or missing: the command says why and exits 2."""


class ConnectFailed(Exception):
    """The broker or the registry could not be reached at start: the command exits 1."""


@dataclass(frozen=True)
class ConnectOptions:
    """Where and how the node connects (validated by :func:`connect_options`).

    Attributes:
        amqp_url: The broker, ``amqp[s]://user:password@host:port/vhost``.
        exchange: The transport's main exchange (all queue names derive from it).
        keyring: The wire keys every node of the cluster shares.
        wire_keys_file: Where the keys were read from, or None for ``ENOTIME_WIRE_KEYS``.
        consul: The Consul agent's HTTP address, or None for no registry.
        consul_token: The ACL token from ``CONSUL_HTTP_TOKEN``, or None.
        advertise_address: The address registered for the node ("" lets
            Consul use its agent's).
        registry_times: The gateway's registry options given
            (``registration_ttl``, ``session_ttl``, ``lock_delay``, in
            seconds); those not given keep the gateway's defaults.
    """

    amqp_url: str = field(repr=False)
    exchange: str
    keyring: Keyring = field(repr=False)
    wire_keys_file: Path | None = None
    consul: str | None = None
    consul_token: str | None = field(default=None, repr=False)
    advertise_address: str = ""
    registry_times: Mapping[str, float] = field(default_factory=dict)

    def node_meta(self, metrics_port: int | None) -> dict[str, str]:
        """The metadata the node registers with: where Prometheus finds its ``/metrics``."""
        return {} if metrics_port is None else {METRICS_PORT_META: str(metrics_port)}


def add_connect_arguments(run: argparse.ArgumentParser) -> None:
    """Add ``--amqp``, ``--amqp-exchange``, ``--wire-keys-file``, ``--consul``,
    ``--advertise-address``, ``--registration-ttl``, ``--session-ttl`` and
    ``--lock-delay`` to ``enotime run``."""
    group = run.add_argument_group(
        "other nodes",
        "Connect the node to RabbitMQ (and register it in Consul) before its tree starts; "
        "the tree reaches other nodes through node.remote()/node.service() and exposes "
        "services with node.gateway.expose().",
    )
    group.add_argument(
        "--amqp",
        nargs="?",
        const=_FROM_ENV,
        default=None,
        metavar="URL",
        help=f"connect to RabbitMQ at URL (amqp[s]://user:password@host:port/vhost; without "
        f"URL: ${AMQP_URL_ENV}, which keeps the password out of the process list); messages "
        f"are encrypted with the keys in ${WIRE_KEYS_ENV} (enotime[amqp])",
    )
    group.add_argument(
        "--amqp-exchange",
        default=None,
        metavar="NAME",
        help=f"--amqp: the exchange all queue names derive from (default: {DEFAULT_EXCHANGE}); "
        "nodes that talk share it",
    )
    group.add_argument(
        "--wire-keys-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=f'--amqp: read the wire keys from PATH ({{"current": kid, "keys": {{kid: '
        f"base64key}}}}, mode 0600) instead of ${WIRE_KEYS_ENV}",
    )
    group.add_argument(
        "--consul",
        nargs="?",
        const=_FROM_ENV,
        default=None,
        metavar="URL",
        help=f"--amqp: register the node in the Consul agent at URL (without URL: "
        f"${CONSUL_ADDR_ENV}; ACL token from ${CONSUL_TOKEN_ENV}), with metrics_port in its "
        "metadata when --metrics-port is given (enotime[consul])",
    )
    group.add_argument(
        "--advertise-address",
        default=None,
        metavar="HOST",
        help="--consul: the address registered for the node, where Prometheus scrapes it "
        "(default: --metrics-host, or this host's name when that is a wildcard such as "
        "0.0.0.0; without --metrics-port, none: Consul uses its agent's)",
    )
    for option, (flag, default, meaning) in _REGISTRY_TIMES.items():
        group.add_argument(
            flag,
            dest=option,
            type=float,
            default=None,
            metavar="SECONDS",
            help=f"--consul: {meaning} (default: {default:g})",
        )


def connect_options(args: argparse.Namespace) -> ConnectOptions | None:
    """The validated options, or None when the node is not to connect (no ``--amqp``).

    Environment variables are read only for an option that is given: a
    ``ENOTIME_AMQP_URL`` or ``CONSUL_HTTP_ADDR`` in the environment alone
    connects nothing.

    Raises:
        UsageError: A bad or missing value, or an option that needs another.
        SystemExit: The ``amqp`` (or ``consul``) extra is not installed.
    """
    if args.amqp is None:
        for option, value in (
            ("--amqp-exchange", args.amqp_exchange),
            ("--wire-keys-file", args.wire_keys_file),
            ("--consul", args.consul),
            ("--advertise-address", args.advertise_address),
            *((flag, getattr(args, name)) for name, (flag, _, _) in _REGISTRY_TIMES.items()),
        ):
            if value is not None:
                raise UsageError(f"{option} needs --amqp (the node connects to other nodes)")
        return None
    url = _amqp_url(args.amqp)
    exchange = args.amqp_exchange if args.amqp_exchange is not None else DEFAULT_EXCHANGE
    if _EXCHANGE.fullmatch(exchange) is None:
        raise UsageError(f"--amqp-exchange {exchange!r}: use 1-200 of [A-Za-z0-9_.:-]")
    if _NODE_NAME.fullmatch(args.name) is None:
        raise UsageError(
            f"--name {args.name!r}: a connected node's name is 1-128 of [A-Za-z0-9_-] "
            "(its queue and its registration are named after it)"
        )
    keyring = _keyring(args.wire_keys_file)
    consul = token = None
    if args.consul is not None:
        consul = _consul_address(args.consul)
        token = os.environ.get(CONSUL_TOKEN_ENV) or None
    elif args.advertise_address is not None:
        raise UsageError("--advertise-address needs --consul (it is the registered address)")
    advertise = _advertise_address(args)
    times = _registry_times(args, consul is not None)
    _require_extras(consul is not None)
    return ConnectOptions(
        amqp_url=url,
        exchange=exchange,
        keyring=keyring,
        wire_keys_file=args.wire_keys_file.resolve() if args.wire_keys_file else None,
        consul=consul,
        consul_token=token,
        advertise_address=advertise,
        registry_times=times,
    )


def _registry_times(args: argparse.Namespace, consul: bool) -> dict[str, float]:
    """The ``--registration-ttl``, ``--session-ttl`` and ``--lock-delay`` given, checked."""
    times: dict[str, float] = {}
    for option, (flag, _, _) in _REGISTRY_TIMES.items():
        value = getattr(args, option)
        if value is None:
            continue
        if not consul:
            raise UsageError(f"{flag} needs --consul (it is how the node is registered there)")
        try:
            times[option] = check_registry_time(option, value, label=flag)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return times


def _amqp_url(value: str) -> str:
    if value == _FROM_ENV:
        value = os.environ.get(AMQP_URL_ENV, "")
        if not value:
            raise UsageError(f"--amqp without a URL reads ${AMQP_URL_ENV}, which is not set")
        where = f"${AMQP_URL_ENV}"
    else:
        where = "--amqp"
    try:
        parts = urllib.parse.urlsplit(value)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"{where}: not a URL ({exc})") from None
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise UsageError(
            f"{where}: expected amqp[s]://user:password@host:port/vhost, got {redact(value)!r}"
        )
    return value


def _keyring(path: Path | None) -> Keyring:
    """The wire keys: from ``path``, else ``ENOTIME_WIRE_KEYS``; never none (no plain text)."""
    if path is not None:
        try:
            return Keyring.from_file(path)
        except OSError as exc:
            raise UsageError(f"--wire-keys-file {path}: {exc.strerror or exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--wire-keys-file {path}: {exc}") from None
    text = os.environ.get(WIRE_KEYS_ENV, "").strip()
    if not text:
        raise UsageError(
            f"--amqp needs the wire keys every node of the cluster shares: set "
            f"{WIRE_KEYS_ENV}=kid:base64key[,kid:base64key...] (the first encrypts) or give "
            "--wire-keys-file PATH; nothing travels between nodes in plain text. "
            'Make a key with: python -c "from enotime.transport import WireKey; '
            "print(WireKey.generate('k1').encoded())\""
        )
    try:
        return Keyring.parse(text)
    except ValueError as exc:  # the message names key ids, never key material
        raise UsageError(f"{WIRE_KEYS_ENV}: {exc}") from None


def _consul_address(value: str) -> str:
    if value == _FROM_ENV:
        value = os.environ.get(CONSUL_ADDR_ENV, "")
        if not value:
            raise UsageError(f"--consul without a URL reads ${CONSUL_ADDR_ENV}, which is not set")
        where = f"${CONSUL_ADDR_ENV}"
    else:
        where = "--consul"
    address = value if "://" in value else "http://" + value  # Consul's own variable omits it
    try:
        parts = urllib.parse.urlsplit(address)
        _ = parts.port
    except ValueError as exc:
        raise UsageError(f"{where}: not an address ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{where}: expected http[s]://host:port, got {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _advertise_address(args: argparse.Namespace) -> str:
    if args.advertise_address is not None:
        address: str = args.advertise_address
        if not address or not address.isprintable() or any(c.isspace() for c in address):
            raise UsageError(f"--advertise-address {address!r}: a host name or an IP address")
        return address
    if args.consul is None or args.metrics_port is None:
        return ""
    host: str = args.metrics_host
    return socket.gethostname() if host in _WILDCARDS else host


def _require_extras(consul: bool) -> None:
    try:
        from enotime.transport._amqp import AmqpTransport  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"enotime: --amqp: {exc}") from None
    if consul:
        try:
            from enotime.registry import ConsulRegistry  # noqa: F401
        except ImportError as exc:
            raise SystemExit(f"enotime: --consul: {exc}") from None


def child_options(options: ConnectOptions) -> tuple[list[str], dict[str, str]]:
    """The options and environment that give a ``--procs`` child the same connection.

    The broker URL travels in the child's environment (``ENOTIME_AMQP_URL``),
    not on its command line, where any local user could read its password;
    the wire keys and the Consul token are inherited from the environment,
    or read from the same ``--wire-keys-file``.
    """
    argv = ["--amqp", "--amqp-exchange", options.exchange]
    if options.wire_keys_file is not None:
        argv += ["--wire-keys-file", str(options.wire_keys_file)]
    if options.consul is not None:
        argv += ["--consul", options.consul]
        if options.advertise_address:
            argv += ["--advertise-address", options.advertise_address]
        for option, value in options.registry_times.items():
            argv += [_REGISTRY_TIMES[option][0], repr(value)]
    return argv, {AMQP_URL_ENV: options.amqp_url}


def redact(url: str) -> str:
    """``url`` with its password masked, for logs and messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _registry(options: ConnectOptions) -> AbstractRegistry:
    """The Consul registry the node registers in."""
    from enotime.registry._consul import ConsulRegistry

    assert options.consul is not None
    return ConsulRegistry(options.consul, token=options.consul_token)


@contextlib.asynccontextmanager
async def connected(
    node: Node, options: ConnectOptions, *, metrics_port: int | None = None
) -> AsyncIterator[Gateway]:
    """Open the transport (and the registry), connect ``node``; close them after it.

    Closing closes the node first (idempotent: ``Node.serve`` has usually
    done it), so the gateway deregisters the node and publishes what is
    queued before the registry and the transport go.

    Raises:
        ConnectFailed: The broker or the registry could not be reached.
    """
    from enotime.registry import RegistryError
    from enotime.transport._amqp import AmqpTransport

    transport = AmqpTransport(
        options.amqp_url, node.name, keyring=options.keyring, exchange=options.exchange
    )
    registry = _registry(options) if options.consul is not None else None
    where = f"{redact(options.amqp_url)} (exchange {options.exchange})"
    try:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await transport.open()
        except Exception as exc:  # aiormq's errors are ConnectionErrors; a bad vhost, ...
            raise ConnectFailed(f"cannot connect to RabbitMQ at {where}: {_say(exc)}") from exc
        try:
            gateway = await node.connect(
                transport,
                registry=registry,
                node_address=options.advertise_address or "",
                node_meta=options.node_meta(metrics_port),
                **options.registry_times,
            )
        except RegistryError as exc:
            raise ConnectFailed(f"cannot register in Consul at {options.consul}: {exc}") from exc
        except Exception as exc:
            raise ConnectFailed(f"cannot connect the node on {where}: {_say(exc)}") from exc
        log.info(
            "node %s: connected to %s%s",
            node.name,
            where,
            f", registered in Consul at {options.consul}" if registry is not None else "",
        )
        yield gateway
    finally:
        await node.aclose()  # the gateway leaves the registry and flushes its sends first
        if registry is not None:
            await registry.aclose()
        await transport.aclose()


def _say(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
