"""The registry port: service discovery, health, KV, sessions, leader election, global names.

``InMemoryRegistry`` is the embedded adapter (standard library only, time
injectable); ``ConsulRegistry`` talks to a Consul agent and needs
``pip install "enotime[consul]"`` (python-consul2 and aiohttp). It is imported
lazily, so the in-memory registry works without them. Both pass one contract
suite; see ``docs/registry.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enotime.registry._errors import (
    CasFailed,
    InvalidArgument,
    NameTaken,
    NotRegistered,
    RegistryClosed,
    RegistryError,
    RegistryUnavailable,
    SessionInvalidated,
)
from enotime.registry._memory import InMemoryRegistry
from enotime.registry._port import (
    NAMES_PREFIX,
    NODE_SERVICE,
    KVEntry,
    Leadership,
    NodeInfo,
    Registration,
    ServiceInstance,
    ServiceSpec,
    Session,
    SessionBehavior,
)

if TYPE_CHECKING:
    from enotime.registry._consul import ConsulRegistry

__all__ = [
    "NAMES_PREFIX",
    "NODE_SERVICE",
    "CasFailed",
    "ConsulRegistry",
    "InMemoryRegistry",
    "InvalidArgument",
    "KVEntry",
    "Leadership",
    "NameTaken",
    "NodeInfo",
    "NotRegistered",
    "Registration",
    "RegistryClosed",
    "RegistryError",
    "RegistryUnavailable",
    "ServiceInstance",
    "ServiceSpec",
    "Session",
    "SessionBehavior",
    "SessionInvalidated",
]


def __getattr__(name: str) -> Any:
    # python-consul2 (and aiohttp) load only when the Consul registry is asked for,
    # and a missing extra is named.
    if name == "ConsulRegistry":
        try:
            from enotime.registry._consul import ConsulRegistry
        except ModuleNotFoundError as exc:
            if exc.name not in {"consul", "aiohttp", "requests", "six"}:
                raise
            raise ImportError(
                'ConsulRegistry needs python-consul2: pip install "enotime[consul]"'
            ) from exc
        return ConsulRegistry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
