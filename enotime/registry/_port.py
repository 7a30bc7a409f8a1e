"""The registry port: services, health, KV, sessions, leader election and global names.

The model is Consul's, so the in-memory adapter and the Consul adapter are
interchangeable behind one contract suite: service instances with TTL health
checks, a KV store with modify indexes, check-and-set and session locks,
sessions with a TTL and a lock-delay, and blocking queries on an index.

What the port adds on top of those primitives lives here, once, for every
adapter: keep-alive tasks that the registry owns, node registration, global
names (first writer wins, freed with the owner's session) and ``campaign``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from enotime._closing import AsyncClosing
from enotime.registry._errors import (
    CasFailed,
    InvalidArgument,
    NameTaken,
    NotRegistered,
    RegistryClosed,
    RegistryError,
    SessionInvalidated,
)

__all__ = [
    "NAMES_PREFIX",
    "NODE_SERVICE",
    "AbstractRegistry",
    "KVEntry",
    "Leadership",
    "NodeInfo",
    "Registration",
    "ServiceInstance",
    "ServiceSpec",
    "Session",
    "SessionBehavior",
]

logger = logging.getLogger("enotime.registry")

NODE_SERVICE = "enotime-node"
"""The service under which ``register_node`` registers ENoTime nodes."""
NAMES_PREFIX = "enotime/names/"
"""The KV prefix under which global names live, one key per name."""
NODE_META = "enotime_node"
"""The metadata key that carries an instance's ENoTime node (reserved)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}")
_GLOBAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}")
_META_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MAX_META_VALUE = 512
_MAX_META = 64
_MAX_TTL = 86_400.0
_SESSION_TTL = (10.0, 86_400.0)


def check_name(kind: str, name: object) -> str:
    """Return ``name`` if it is a valid service or node name, else raise."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidArgument(f"invalid {kind} {name!r}: use 1-128 of [A-Za-z0-9_.-]")
    return name


def check_global_name(name: object) -> str:
    """Return ``name`` if it is a valid global actor name, else raise."""
    if not isinstance(name, str) or _GLOBAL_NAME.fullmatch(name) is None:
        raise InvalidArgument(f"invalid global name {name!r}: use 1-255 of [A-Za-z0-9_.:@-]")
    return name


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid KV key, else raise."""
    if not isinstance(key, str) or not key or key.startswith("/") or not key.isprintable():
        raise InvalidArgument(f"invalid key {key!r}: non-empty, printable, no leading '/'")
    return key


def check_ttl(kind: str, ttl: object, low: float = 1.0, high: float = _MAX_TTL) -> float:
    """Return ``ttl`` as a float if ``low <= ttl <= high`` seconds, else raise."""
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int | float)
        or not math.isfinite(ttl)
        or not low <= ttl <= high
    ):
        raise InvalidArgument(f"invalid {kind} {ttl!r}: seconds from {low:g} to {high:g}")
    return float(ttl)


def check_seconds(kind: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number of seconds >= 0, else raise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidArgument(f"invalid {kind} {value!r}: a finite number of seconds >= 0")
    return float(value)


def check_meta(meta: Mapping[str, str] | None) -> dict[str, str]:
    """Return a copy of ``meta`` if Consul would accept it, else raise."""
    if meta is None:
        return {}
    if not isinstance(meta, Mapping) or len(meta) > _MAX_META:
        raise InvalidArgument(f"metadata must be a mapping of at most {_MAX_META} entries")
    for key, value in meta.items():
        if not isinstance(key, str) or _META_KEY.fullmatch(key) is None or key == NODE_META:
            raise InvalidArgument(f"invalid metadata key {key!r}: 1-128 of [A-Za-z0-9_-]")
        if key.startswith("consul-"):
            raise InvalidArgument(f"metadata key {key!r}: the 'consul-' prefix is reserved")
        if not isinstance(value, str) or len(value) > _MAX_META_VALUE:
            raise InvalidArgument(f"metadata {key!r} must be a string of <= 512 characters")
    return dict(meta)


class SessionBehavior(StrEnum):
    """What happens to the keys a session holds when it ends (Consul's ``Behavior``)."""

    RELEASE = "release"
    """The locks are released; the keys stay, without an owner."""
    DELETE = "delete"
    """The keys are deleted."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service instance as it is registered (what the adapters store).

    Attributes:
        name: The service's name; instances of one name are interchangeable.
        instance_id: Unique among all instances (Consul's service ``ID``).
        node: The ENoTime node that runs the instance.
        address: Where to reach it (host name or IP; may be empty).
        port: Where to reach it (0 when it has no port).
        tags: Free-form tags, for filtering.
        meta: String metadata.
        ttl: Seconds the instance stays healthy after each heartbeat.
        deregister_after: Seconds critical after which the registry removes
            the instance by itself (Consul's ``DeregisterCriticalServiceAfter``),
            or ``None`` to keep it, unhealthy, until deregistered.
    """

    name: str
    instance_id: str
    node: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: Mapping[str, str] = field(hash=False)
    ttl: float
    deregister_after: float | None


@dataclass(frozen=True, slots=True)
class ServiceInstance:
    """One instance of a service, as discovery sees it.

    Attributes:
        service: The service's name.
        instance_id: The instance's unique id.
        node: The ENoTime node that runs it.
        address: Where to reach it.
        port: Where to reach it (0 when it has no port).
        tags: Its tags.
        meta: Its metadata (without the registry's reserved keys).
        healthy: Whether its TTL check (and, on Consul, its agent's node
            check) is passing.
    """

    service: str
    instance_id: str
    node: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: Mapping[str, str] = field(hash=False)
    healthy: bool


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """An ENoTime node, as ``nodes()`` sees it.

    Attributes:
        name: The node's name, unique in the cluster.
        address: Where it can be reached (may be empty).
        meta: Its metadata.
        healthy: Whether its TTL check is passing.
    """

    name: str
    address: str
    meta: Mapping[str, str] = field(hash=False)
    healthy: bool


@dataclass(frozen=True, slots=True)
class KVEntry:
    """A KV entry, with Consul's indexes.

    Attributes:
        key: The key.
        value: The value.
        modify_index: Changes on every write; the ``cas=`` value for a
            check-and-set of this key.
        create_index: The index that created the key.
        lock_index: How many times the key was acquired.
        session: The session holding the key's lock, or ``None``.
    """

    key: str
    value: bytes
    modify_index: int
    create_index: int
    lock_index: int
    session: str | None


class _KeptAlive:
    """What registrations and sessions share: a keep-alive task and a beat counter."""

    def __init__(self, registry: AbstractRegistry, interval: float) -> None:
        self._registry = registry
        self._interval = interval
        self._beats = 0
        self._beat = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def heartbeats(self) -> int:
        """Keep-alive beats that reached the registry so far (manual ones included)."""
        return self._beats

    async def wait_heartbeats(self, count: int, timeout: float = 5.0) -> None:
        """Return once at least ``count`` beats succeeded; ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout), self._beat:
            await self._beat.wait_for(lambda: self._beats >= count)

    async def _record_beat(self) -> None:
        async with self._beat:
            self._beats += 1
            self._beat.notify_all()

    def _start(self, name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._task = self._registry._spawn(loop(), name)

    async def _stop(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._registry._tasks.discard(task)


class Registration(_KeptAlive):
    """A registered service instance, kept healthy by a task the registry owns.

    Returned by :meth:`AbstractRegistry.register_service` once the instance is
    registered and passing. The keep-alive task passes the TTL check every
    ``keepalive_interval`` (a third of the TTL by default) and registers the
    instance again if the registry forgot it. ``deregister()`` (or the
    registry's ``aclose()``) stops it and removes the instance.
    """

    def __init__(self, registry: AbstractRegistry, spec: ServiceSpec, interval: float) -> None:
        super().__init__(registry, interval)
        self.spec = spec

    @property
    def instance_id(self) -> str:
        """The instance's unique id."""
        return self.spec.instance_id

    @property
    def active(self) -> bool:
        """False once deregistered."""
        return not self._closed

    async def heartbeat(self) -> None:
        """Pass the TTL check now (the keep-alive task does this by itself).

        Raises:
            NotRegistered: The registry no longer knows the instance.
            RegistryClosed: After ``deregister()``.
        """
        if self._closed:
            raise RegistryClosed(f"instance {self.instance_id!r} was deregistered")
        await self._registry._pass_check(self.instance_id)
        await self._record_beat()

    async def deregister(self) -> None:
        """Stop the keep-alive and remove the instance; idempotent."""
        if self._closed:
            return
        await self._stop()
        self._registry._registrations.discard(self)
        await self._registry._remove_service(self.instance_id)
        logger.info("deregistered %s (%s)", self.instance_id, self.spec.name)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.heartbeat()
            except NotRegistered:
                logger.warning("%s was forgotten by the registry: registering again", self)
                try:
                    await self._registry._put_service(self.spec)
                    await self.heartbeat()
                except RegistryError as exc:
                    logger.warning("re-registering %s failed: %s", self.instance_id, exc)
            except RegistryClosed:
                return
            except RegistryError as exc:
                logger.warning("keep-alive of %s failed: %s", self.instance_id, exc)

    def __repr__(self) -> str:
        return f"<Registration {self.instance_id!r} of {self.spec.name!r} on {self.spec.node!r}>"


class Session(AsyncClosing, _KeptAlive):
    """A registry session: holds KV locks and global names, renewed by a task the registry owns.

    When the session ends -- destroyed by ``aclose()``, or its TTL lapsed
    because nobody renewed it -- every lock it holds is released (or its key
    deleted, with :attr:`SessionBehavior.DELETE`) and the keys cannot be
    acquired again for ``lock_delay`` seconds. Use as ``async with``.

    Attributes:
        id: The session's id.
        ttl: Seconds after the last renewal when the registry may invalidate
            it (Consul waits up to twice this).
        lock_delay: Seconds its keys stay unacquirable after it is invalidated.
        behavior: What happens to its keys when it ends.
    """

    def __init__(
        self,
        registry: AbstractRegistry,
        session_id: str,
        ttl: float,
        lock_delay: float,
        behavior: SessionBehavior,
        interval: float,
    ) -> None:
        super().__init__(registry, interval)
        self.id = session_id
        self.ttl = ttl
        self.lock_delay = lock_delay
        self.behavior = behavior
        self._lost = asyncio.Event()

    @property
    def ended(self) -> bool:
        """True once closed, or once a renewal found the session invalidated."""
        return self._closed or self._lost.is_set()

    async def renew(self) -> None:
        """Reset the session's TTL now (the keep-alive task does this by itself).

        Raises:
            SessionInvalidated: The session has ended.
        """
        if self._closed:
            raise SessionInvalidated(self.id)
        try:
            await self._registry._renew_session(self.id)
        except SessionInvalidated:
            self._lost.set()
            raise
        await self._record_beat()

    async def aclose(self) -> None:
        """Destroy the session, releasing its locks and names; idempotent."""
        if self._closed:
            return
        await self._stop()
        self._registry._sessions.discard(self)
        await self._registry._destroy_session(self.id)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.renew()
            except SessionInvalidated:
                logger.warning("session %s was invalidated; its locks are gone", self.id)
                return
            except RegistryError as exc:
                logger.warning("renewing session %s failed: %s", self.id, exc)

    def __repr__(self) -> str:
        return f"<Session {self.id!r} ttl={self.ttl:g}s>"


class Leadership:
    """What ``campaign`` yields: this process holds the election key.

    Leadership is lost when the session ends (its TTL lapsed, or it was
    destroyed) or when the key is released or deleted behind our back. The
    body of ``campaign`` is not cancelled then: await :meth:`wait_lost` (or
    check :attr:`is_leader`) and stop acting as leader.

    Attributes:
        key: The election key.
        session: The session that holds it.
    """

    def __init__(self, key: str, session: Session) -> None:
        self.key = key
        self.session = session
        self._lost = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        """True until leadership is lost or the ``campaign`` block is left."""
        return not self._lost.is_set()

    async def wait_lost(self, timeout: float | None = None) -> None:
        """Return once leadership is lost; ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            await self._lost.wait()

    def __repr__(self) -> str:
        state = "leader" if self.is_leader else "lost"
        return f"<Leadership {self.key!r} {state} via {self.session.id!r}>"


def _entry_value(entry: KVEntry | None) -> str | None:
    if entry is None or entry.session is None:
        return None
    return entry.value.decode("utf-8", "replace")


class AbstractRegistry(AsyncClosing, abc.ABC):
    """The registry port: what a cluster of ENoTime nodes agrees on.

    Services: ``register_service``/``register_node`` return a
    :class:`Registration` kept healthy by a task this registry owns;
    ``discover``/``nodes`` list healthy instances; ``watch_service`` is a
    blocking query. KV: ``kv_get``/``kv_put``/``kv_delete``/``kv_list``,
    check-and-set through ``cas=`` (a lost CAS raises
    :class:`~enotime.registry.CasFailed`), locks through sessions
    (``kv_acquire`` answers ``False`` when another session holds the key),
    ``kv_watch`` as a blocking query. Sessions, ``campaign`` and global names
    build on those. ``aclose()`` deregisters every instance and destroys every
    session this registry made: a clean shutdown leaves nothing behind.

    Adapters implement the underscore primitives only.

    Args:
        keepalive_interval: Seconds between keep-alive beats of every
            registration and session; by default a third of each TTL.
    """

    def __init__(self, *, keepalive_interval: float | None = None) -> None:
        if keepalive_interval is not None:
            check_ttl("keepalive interval", keepalive_interval, low=0.001)
        self._keepalive_interval = keepalive_interval
        self._registrations: set[Registration] = set()
        self._sessions: set[Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- primitives, one set per adapter ------------------------------------------------

    @abc.abstractmethod
    async def _put_service(self, spec: ServiceSpec) -> None:
        """Register (or replace) an instance with a passing TTL check."""

    @abc.abstractmethod
    async def _pass_check(self, instance_id: str) -> None:
        """Pass the instance's TTL check; :class:`NotRegistered` if unknown."""

    @abc.abstractmethod
    async def _remove_service(self, instance_id: str) -> None:
        """Deregister an instance; a no-op if unknown."""

    @abc.abstractmethod
    async def _health(
        self, service: str, *, passing: bool, index: int, wait: float | None
    ) -> tuple[int, list[ServiceInstance]]:
        """Instances of ``service`` and the index; blocks while the index is ``index``."""

    @abc.abstractmethod
    async def _create_session(
        self, *, name: str, ttl: float, lock_delay: float, behavior: SessionBehavior
    ) -> str:
        """Create a session and return its id."""

    @abc.abstractmethod
    async def _renew_session(self, session_id: str) -> None:
        """Reset a session's TTL; :class:`SessionInvalidated` if it has ended."""

    @abc.abstractmethod
    async def _destroy_session(self, session_id: str) -> None:
        """Destroy a session; a no-op if it has ended already."""

    @abc.abstractmethod
    async def _kv_get(
        self, key: str, *, index: int, wait: float | None
    ) -> tuple[int, KVEntry | None]:
        """A key's entry and index; blocks while the index is ``index``."""

    @abc.abstractmethod
    async def _kv_list(self, prefix: str) -> list[KVEntry]:
        """Every entry whose key starts with ``prefix``, sorted by key."""

    @abc.abstractmethod
    async def _kv_put(
        self,
        key: str,
        value: bytes,
        *,
        cas: int | None = None,
        acquire: str | None = None,
        release: str | None = None,
    ) -> bool:
        """Consul's ``PUT /v1/kv/:key``: False for a lost CAS, lock or release."""

    @abc.abstractmethod
    async def _kv_delete(self, key: str, *, cas: int | None = None) -> bool:
        """Consul's ``DELETE /v1/kv/:key``: False for a lost CAS."""

    async def _close(self) -> None:
        """Release the adapter's own resources (connections, its tasks)."""

    # -- lifecycle ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RegistryClosed(f"{type(self).__name__} is closed")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("registry task %s crashed", task.get_name(), exc_info=task.exception())

    def _interval(self, ttl: float, fraction: float) -> float:
        return self._keepalive_interval or ttl * fraction

    async def aclose(self) -> None:
        """Deregister every instance and destroy every session made here; idempotent.

        Errors while cleaning up are logged, not raised: shutdown goes on, and
        what could not be removed expires with its TTL.
        """
        if self._closed:
            return
        self._closed = True
        for registration in list(self._registrations):
            try:
                await registration.deregister()
            except RegistryError as exc:
                logger.warning("could not deregister %s on close: %s", registration, exc)
        for session in list(self._sessions):
            try:
                await session.aclose()
            except RegistryError as exc:
                logger.warning("could not destroy %s on close: %s", session, exc)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close()

    # -- services and nodes -------------------------------------------------------------

    async def register_service(
        self,
        name: str,
        *,
        node: str,
        address: str = "",
        port: int = 0,
        tags: Sequence[str] = (),
        meta: Mapping[str, str] | None = None,
        ttl: float = 10.0,
        instance_id: str | None = None,
        deregister_after: float | None = None,
        keepalive: bool = True,
    ) -> Registration:
        """Register a service instance and keep it healthy until deregistered.

        Returns once the instance is registered and passing, so it is visible
        to ``discover`` at once.

        Args:
            name: The service's name.
            node: The ENoTime node that runs the instance.
            address: Where to reach it.
            port: Where to reach it (0..65535; 0 for none).
            tags: Free-form tags.
            meta: String metadata (keys of ``[A-Za-z0-9_-]``).
            ttl: Seconds the instance stays healthy after each heartbeat.
            instance_id: Unique id; ``<name>:<node>:<port>`` by default.
            deregister_after: Seconds critical after which the registry
                removes the instance by itself (Consul enforces >= 60 s).
            keepalive: Run the keep-alive task; ``False`` to beat by hand
                with :meth:`Registration.heartbeat`.

        Raises:
            InvalidArgument: A bad name, node, id, port, tag, metadata or TTL.
        """
        self._check_open()
        check_name("service name", name)
        check_name("node name", node)
        if instance_id is None:
            instance_id = f"{name}:{node}:{port}"
        if not isinstance(instance_id, str) or _INSTANCE_ID.fullmatch(instance_id) is None:
            raise InvalidArgument(f"invalid instance id {instance_id!r}: 1-255 of [A-Za-z0-9_.:-]")
        if not isinstance(address, str) or not address.isprintable():
            raise InvalidArgument(f"invalid address {address!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidArgument(f"invalid port {port!r}: 0..65535")
        if isinstance(tags, str) or not all(isinstance(t, str) and t for t in tags):
            raise InvalidArgument(f"invalid tags {tags!r}: a sequence of non-empty strings")
        spec = ServiceSpec(
            name=name,
            instance_id=instance_id,
            node=node,
            address=address,
            port=port,
            tags=tuple(tags),
            meta=check_meta(meta),
            ttl=check_ttl("TTL", ttl),
            deregister_after=(
                None
                if deregister_after is None
                else check_ttl("deregister_after", deregister_after)
            ),
        )
        await self._put_service(spec)
        registration = Registration(self, spec, self._interval(spec.ttl, 1 / 3))
        self._registrations.add(registration)
        if keepalive:
            registration._start(
                f"enotime-registry-keepalive-{instance_id}", registration._keepalive
            )
        logger.info("registered %s (%s on %s)", instance_id, name, node)
        return registration

    async def register_node(
        self,
        name: str,
        *,
        address: str = "",
        meta: Mapping[str, str] | None = None,
        ttl: float = 10.0,
        keepalive: bool = True,
    ) -> Registration:
        """Register this ENoTime node (as an instance of :data:`NODE_SERVICE`).

        Node names must be unique in the cluster, as Erlang node names are: a
        second registration of one name replaces the first.

        Raises:
            InvalidArgument: A bad name, metadata or TTL.
        """
        check_name("node name", name)
        return await self.register_service(
            NODE_SERVICE,
            node=name,
            address=address,
            meta=meta,
            ttl=ttl,
            instance_id=f"{NODE_SERVICE}:{name}",
            keepalive=keepalive,
        )

    async def discover(self, service: str) -> list[ServiceInstance]:
        """The healthy instances of ``service``, sorted by instance id (maybe empty)."""
        self._check_open()
        _, instances = await self._health(
            check_name("service name", service), passing=True, index=0, wait=None
        )
        return instances

    async def instances(self, service: str) -> list[ServiceInstance]:
        """Every instance of ``service``, healthy or not, sorted by instance id."""
        self._check_open()
        _, found = await self._health(
            check_name("service name", service), passing=False, index=0, wait=None
        )
        return found

    async def watch_service(
        self, service: str, *, index: int = 0, wait: float = 60.0, passing: bool = True
    ) -> tuple[int, list[ServiceInstance]]:
        """A blocking query: the instances once the service's index moves past ``index``.

        Returns at once when ``index`` is 0 or stale; otherwise when something
        changed (an instance came, went, or changed health) or after ``wait``
        seconds, whichever comes first. Pass the returned index to the next
        call. A change may wake the query without changing its answer.
        """
        self._check_open()
        return await self._health(
            check_name("service name", service),
            passing=passing,
            index=max(int(index), 0),
            wait=check_seconds("wait", wait),
        )

    async def nodes(self) -> list[NodeInfo]:
        """The healthy ENoTime nodes, sorted by name."""
        return [
            NodeInfo(i.node, i.address, i.meta, i.healthy)
            for i in await self.discover(NODE_SERVICE)
        ]

    # -- key/value ----------------------------------------------------------------------

    async def kv_get(self, key: str) -> KVEntry | None:
        """The entry at ``key``, or ``None``."""
        self._check_open()
        _, entry = await self._kv_get(check_key(key), index=0, wait=None)
        return entry

    async def kv_watch(
        self, key: str, *, index: int = 0, wait: float = 60.0
    ) -> tuple[int, KVEntry | None]:
        """A blocking query on one key: its entry once its index moves past ``index``.

        As :meth:`watch_service`: at once when ``index`` is 0 or stale, else on
        a change or after ``wait`` seconds.
        """
        self._check_open()
        return await self._kv_get(
            check_key(key), index=max(int(index), 0), wait=check_seconds("wait", wait)
        )

    async def kv_list(self, prefix: str) -> list[KVEntry]:
        """Every entry under ``prefix`` (``""`` for all), sorted by key."""
        self._check_open()
        if prefix:
            check_key(prefix)
        return await self._kv_list(prefix)

    async def kv_put(self, key: str, value: bytes, *, cas: int | None = None) -> None:
        """Write ``value`` at ``key``.

        Args:
            key: The key.
            value: The value.
            cas: Write only if the key's ``modify_index`` is this; 0 means only
                if the key does not exist.

        Raises:
            CasFailed: ``cas`` was given and the key has changed.
        """
        self._check_open()
        check_key(key)
        if not isinstance(value, bytes):
            raise InvalidArgument(f"value for {key!r} must be bytes, not {type(value).__name__}")
        if cas is not None and (isinstance(cas, bool) or not isinstance(cas, int) or cas < 0):
            raise InvalidArgument(f"invalid cas {cas!r}: an index >= 0")
        if not await self._kv_put(key, value, cas=cas) and cas is not None:
            raise CasFailed(key, cas)

    async def kv_delete(self, key: str, *, cas: int | None = None) -> None:
        """Delete ``key``; a no-op if it does not exist (without ``cas``).

        Raises:
            CasFailed: ``cas`` was given and the key's index is not it.
        """
        self._check_open()
        check_key(key)
        if cas is not None and (isinstance(cas, bool) or not isinstance(cas, int) or cas < 0):
            raise InvalidArgument(f"invalid cas {cas!r}: an index >= 0")
        if not await self._kv_delete(key, cas=cas) and cas is not None:
            raise CasFailed(key, cas)

    async def kv_acquire(self, key: str, value: bytes, session: Session) -> bool:
        """Take the lock on ``key`` for ``session`` and write ``value``.

        Returns ``False`` -- not an error -- when another session holds the key,
        or when the key is inside the lock-delay of a session that ended. The
        session that holds the key may acquire it again (updating the value).

        Raises:
            SessionInvalidated: ``session`` has ended.
        """
        self._check_open()
        check_key(key)
        if not isinstance(value, bytes):
            raise InvalidArgument(f"value for {key!r} must be bytes, not {type(value).__name__}")
        return await self._kv_put(key, value, acquire=session.id)

    async def kv_release(self, key: str, session: Session) -> bool:
        """Release ``session``'s lock on ``key``; ``False`` if it did not hold it."""
        self._check_open()
        entry = await self.kv_get(key)
        if entry is None or entry.session != session.id:
            return False
        return await self._kv_put(key, entry.value, release=session.id)

    # -- sessions, leaders, names -------------------------------------------------------

    async def create_session(
        self,
        *,
        ttl: float = 15.0,
        lock_delay: float = 15.0,
        behavior: SessionBehavior = SessionBehavior.RELEASE,
        name: str = "enotime",
        keepalive: bool = True,
    ) -> Session:
        """Create a session renewed by a task this registry owns, until closed.

        Args:
            ttl: Seconds without renewal after which the session may be
                invalidated (Consul: 10 to 86,400; it may wait up to twice).
            lock_delay: Seconds a key stays unacquirable after the session
                holding it is invalidated (not after a clean release), so a
                leader that lost its session has time to notice.
            behavior: Release or delete its keys when it ends.
            name: A label for operators.
            keepalive: Run the renewal task; ``False`` to renew by hand.

        Raises:
            InvalidArgument: A TTL outside 10..86,400 s or a bad lock-delay.
        """
        self._check_open()
        ttl = check_ttl("session TTL", ttl, *_SESSION_TTL)
        lock_delay = check_seconds("lock_delay", lock_delay)
        if lock_delay > 60:
            raise InvalidArgument(f"invalid lock_delay {lock_delay!r}: 0 to 60 seconds")
        behavior = SessionBehavior(behavior)
        session_id = await self._create_session(
            name=name, ttl=ttl, lock_delay=lock_delay, behavior=behavior
        )
        session = Session(self, session_id, ttl, lock_delay, behavior, self._interval(ttl, 1 / 2))
        self._sessions.add(session)
        if keepalive:
            session._start(f"enotime-registry-session-{session_id}", session._keepalive)
        return session

    async def register_name(self, name: str, value: str, *, session: Session) -> None:
        """Register a global name (for example ``"node-a/actor-17"``), first writer wins.

        The name stays registered while ``session`` lives and is freed when it
        ends (closed, or its TTL lapsed). The same session may register a name
        it holds again, changing its value.

        Raises:
            NameTaken: Another session holds the name, or it is in lock-delay.
            SessionInvalidated: ``session`` has ended.
            InvalidArgument: An empty or malformed name.
        """
        key = NAMES_PREFIX + check_global_name(name)
        if not isinstance(value, str):
            raise InvalidArgument(f"value of global name {name!r} must be a string")
        if await self.kv_acquire(key, value.encode(), session):
            return
        raise NameTaken(name, _entry_value(await self.kv_get(key)))

    async def unregister_name(self, name: str, *, session: Session) -> bool:
        """Free a global name ``session`` holds; ``False`` if it did not hold it."""
        key = NAMES_PREFIX + check_global_name(name)
        entry = await self.kv_get(key)
        if entry is None or entry.session != session.id:
            return False
        released = await self._kv_put(key, entry.value, release=session.id)
        # A clean release leaves the key; delete it unless someone took it meanwhile.
        after = await self.kv_get(key)
        if after is not None and after.session is None:
            await self._kv_delete(key, cas=after.modify_index)
        return released

    async def resolve_name(self, name: str) -> str | None:
        """The value registered under a global name, or ``None`` if it is free."""
        return _entry_value(await self.kv_get(NAMES_PREFIX + check_global_name(name)))

    async def names(self) -> dict[str, str]:
        """Every registered global name and its value."""
        return {
            entry.key[len(NAMES_PREFIX) :]: value
            for entry in await self.kv_list(NAMES_PREFIX)
            if (value := _entry_value(entry)) is not None
        }

    async def leader(self, key: str) -> str | None:
        """The value the current leader of ``key`` wrote, or ``None`` if there is none."""
        return _entry_value(await self.kv_get(key))

    @contextlib.asynccontextmanager
    async def campaign(
        self,
        key: str,
        value: str,
        *,
        ttl: float = 15.0,
        lock_delay: float = 15.0,
        keepalive: bool = True,
        retry_interval: float = 1.0,
    ) -> AsyncIterator[Leadership]:
        """Stand for election on ``key``; the block runs while (and once) we lead.

        Entering waits -- with blocking queries, no polling -- until this
        process holds the key with a session of its own; then the body runs
        with a :class:`Leadership`, which is marked lost when the session ends
        or the key leaves our hands. Leaving the block releases the key and
        destroys the session, so the next candidate takes over at once; a
        leader that dies instead hands over after its session's TTL plus
        ``lock_delay``. ``retry_interval`` paces retries only while the key is
        free but inside its lock-delay (no index moves then).

        Example:
            >>> async with registry.campaign("jobs/leader", "node-a") as leadership:
            ...     await run_jobs_until(leadership.wait_lost())
        """
        check_key(key)
        session = await self.create_session(
            ttl=ttl, lock_delay=lock_delay, name=f"enotime-election {key}", keepalive=keepalive
        )
        monitor: asyncio.Task[None] | None = None
        try:
            while not await self.kv_acquire(key, value.encode(), session):
                index, entry = await self.kv_watch(key)
                if entry is not None and entry.session is not None:
                    await self.kv_watch(key, index=index)  # held: wait for it to change
                else:
                    # Free, yet refused: lock-delay, during which no index moves.
                    await asyncio.sleep(retry_interval)
            leadership = Leadership(key, session)
            logger.info("elected leader of %s (%s)", key, value)
            monitor = self._spawn(self._watch_leadership(leadership), f"enotime-leader-{key}")
            try:
                yield leadership
            finally:
                leadership._lost.set()
        finally:
            if monitor is not None:
                monitor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await monitor
            try:
                await self.kv_release(key, session)
            except RegistryError as exc:
                logger.warning("releasing %s failed: %s", key, exc)
            finally:
                await session.aclose()

    async def _watch_leadership(self, leadership: Leadership) -> None:
        index = 0
        while True:
            try:
                index, entry = await self.kv_watch(leadership.key, index=index)
            except RegistryClosed:
                break
            except RegistryError as exc:
                logger.warning("watching leadership of %s failed: %s", leadership.key, exc)
                await asyncio.sleep(1.0)
                continue
            if entry is None or entry.session != leadership.session.id:
                break
        logger.warning("lost leadership of %s", leadership.key)
        leadership._lost.set()
