"""The embedded registry: Consul's model in one process's memory.

For laptops, tests and single-node systems. Indexes, check-and-set, session
locks, lock-delay, TTL checks and blocking queries behave as Consul documents
them (``docs/registry.md`` lists the differences). Time comes from an injected
:class:`~enotime.abc.Clock`: with :class:`~enotime.testing.ManualClock`, a
test moves time and calls :meth:`InMemoryRegistry.reap` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from enotime._clock import Clock, SystemClock
from enotime.registry._errors import NotRegistered, SessionInvalidated
from enotime.registry._port import (
    AbstractRegistry,
    KVEntry,
    ServiceInstance,
    ServiceSpec,
    SessionBehavior,
)

__all__ = ["InMemoryRegistry"]


@dataclass
class _Instance:
    spec: ServiceSpec
    last_pass: float
    passing: bool = True
    critical_since: float | None = None


@dataclass
class _SessionState:
    ttl: float
    lock_delay: float
    behavior: SessionBehavior
    last_renew: float


class _State:
    """Everything a registry stores; shared by an :class:`InMemoryRegistry` and its peers."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.index = 1
        self.instances: dict[str, _Instance] = {}
        self.service_index: dict[str, int] = {}
        self.kv: dict[str, KVEntry] = {}
        self.kv_index = 1
        self.lock_delays: dict[str, float] = {}
        self.sessions: dict[str, _SessionState] = {}
        self.changed = asyncio.Event()


class InMemoryRegistry(AbstractRegistry):
    """A registry that lives in this process: nothing to install, nothing shared.

    A TTL check turns critical ``ttl`` seconds after its last pass; a session
    is invalidated ``ttl`` seconds after its last renewal (Consul allows itself
    up to twice that). Reads are always exact for the clock's time; blocking
    queries are woken by writes and by :meth:`reap`, which a background task
    runs every ``reap_interval`` real seconds.

    Args:
        clock: Where time is read; the system's monotonic clock by default.
        keepalive_interval: Seconds between keep-alive beats (default: a
            fraction of each TTL).
        reap_interval: Real seconds between expiry sweeps.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        keepalive_interval: float | None = None,
        reap_interval: float = 0.5,
    ) -> None:
        super().__init__(keepalive_interval=keepalive_interval)
        self._state = _State(clock or SystemClock())
        self._reap_interval = reap_interval
        self._reaper: asyncio.Task[None] | None = None

    @property
    def clock(self) -> Clock:
        """The clock TTLs and lock-delays are measured on."""
        return self._state.clock

    def peer(self, *, keepalive_interval: float | None = None) -> InMemoryRegistry:
        """Another registry on the same state, as a second node in this process has.

        It owns its own registrations, sessions and keep-alive tasks: closing
        one does not close the other. This is how several nodes share one
        in-memory registry (tests, single-process clusters).
        """
        peer = InMemoryRegistry(
            keepalive_interval=keepalive_interval or self._keepalive_interval,
            reap_interval=self._reap_interval,
        )
        peer._state = self._state
        return peer

    # -- time ----------------------------------------------------------------------------

    def reap(self) -> None:
        """Apply every expiry due at the clock's time and wake the blocking queries.

        TTL checks past their TTL turn critical (and instances critical for
        longer than their ``deregister_after`` go); sessions past their TTL
        are invalidated, releasing or deleting their keys.
        """
        now = self._state.clock.monotonic()
        changed = False
        for instance in list(self._state.instances.values()):
            spec = instance.spec
            if instance.passing and now >= instance.last_pass + spec.ttl:
                instance.passing = False
                instance.critical_since = instance.last_pass + spec.ttl
                self._bump_service(spec.name)
                changed = True
            if (
                not instance.passing
                and spec.deregister_after is not None
                and instance.critical_since is not None
                and now >= instance.critical_since + spec.deregister_after
            ):
                del self._state.instances[spec.instance_id]
                self._bump_service(spec.name)
                changed = True
        for session_id, state in list(self._state.sessions.items()):
            if now >= state.last_renew + state.ttl:
                self._invalidate(session_id)
                changed = True
        if changed:
            self._wake()

    def _ensure_reaper(self) -> None:
        if self._reaper is None and not self._closed:
            self._reaper = self._spawn(self._reap_forever(), "enotime-registry-reaper")

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reap_interval)
            self.reap()

    def _next_index(self) -> int:
        self._state.index += 1
        return self._state.index

    def _bump_service(self, name: str) -> None:
        self._state.service_index[name] = self._next_index()

    def _wake(self) -> None:
        self._state.changed.set()
        self._state.changed = asyncio.Event()

    async def _block(self, current: Callable[[], int], index: int, wait: float | None) -> None:
        """Wait while ``current()`` has not moved past ``index`` (a blocking query)."""
        self._ensure_reaper()
        self.reap()
        if not wait or index == 0:
            return
        try:
            async with asyncio.timeout(wait):
                while current() <= index and not self._closed:
                    await self._state.changed.wait()
        except TimeoutError:
            pass

    def _invalidate(self, session_id: str) -> None:
        state = self._state.sessions.pop(session_id)
        now = self._state.clock.monotonic()
        for key, entry in list(self._state.kv.items()):
            if entry.session != session_id:
                continue
            if state.lock_delay > 0:
                self._state.lock_delays[key] = now + state.lock_delay
            index = self._next_index()
            self._state.kv_index = index
            if state.behavior is SessionBehavior.DELETE:
                del self._state.kv[key]
            else:
                self._state.kv[key] = replace(entry, session=None, modify_index=index)

    # -- services -----------------------------------------------------------------------

    async def _put_service(self, spec: ServiceSpec) -> None:
        self._ensure_reaper()
        previous = self._state.instances.get(spec.instance_id)
        if previous is not None and previous.spec.name != spec.name:
            self._bump_service(previous.spec.name)
        self._state.instances[spec.instance_id] = _Instance(spec, self._state.clock.monotonic())
        self._bump_service(spec.name)
        self._wake()

    async def _pass_check(self, instance_id: str) -> None:
        self.reap()
        instance = self._state.instances.get(instance_id)
        if instance is None:
            raise NotRegistered(f"instance {instance_id!r} is not registered")
        instance.last_pass = self._state.clock.monotonic()
        if not instance.passing:
            instance.passing = True
            instance.critical_since = None
            self._bump_service(instance.spec.name)
            self._wake()

    async def _remove_service(self, instance_id: str) -> None:
        instance = self._state.instances.pop(instance_id, None)
        if instance is not None:
            self._bump_service(instance.spec.name)
            self._wake()

    async def _health(
        self, service: str, *, passing: bool, index: int, wait: float | None
    ) -> tuple[int, list[ServiceInstance]]:
        def current() -> int:
            return self._state.service_index.get(service, 1)

        await self._block(current, index, wait)
        found = [
            ServiceInstance(
                service=i.spec.name,
                instance_id=i.spec.instance_id,
                node=i.spec.node,
                address=i.spec.address,
                port=i.spec.port,
                tags=i.spec.tags,
                meta=dict(i.spec.meta),
                healthy=i.passing,
            )
            for i in self._state.instances.values()
            if i.spec.name == service and (i.passing or not passing)
        ]
        return current(), sorted(found, key=lambda i: i.instance_id)

    # -- sessions -----------------------------------------------------------------------

    async def _create_session(
        self, *, name: str, ttl: float, lock_delay: float, behavior: SessionBehavior
    ) -> str:
        self._ensure_reaper()
        session_id = str(uuid.uuid4())
        self._state.sessions[session_id] = _SessionState(
            ttl, lock_delay, behavior, self._state.clock.monotonic()
        )
        return session_id

    async def _renew_session(self, session_id: str) -> None:
        self.reap()
        state = self._state.sessions.get(session_id)
        if state is None:
            raise SessionInvalidated(session_id)
        state.last_renew = self._state.clock.monotonic()

    async def _destroy_session(self, session_id: str) -> None:
        self.reap()
        if session_id in self._state.sessions:
            self._invalidate(session_id)
            self._wake()

    # -- key/value ----------------------------------------------------------------------

    async def _kv_get(
        self, key: str, *, index: int, wait: float | None
    ) -> tuple[int, KVEntry | None]:
        def current() -> int:
            entry = self._state.kv.get(key)
            return entry.modify_index if entry is not None else self._state.kv_index

        await self._block(current, index, wait)
        return current(), self._state.kv.get(key)

    async def _kv_list(self, prefix: str) -> list[KVEntry]:
        self.reap()
        return [self._state.kv[k] for k in sorted(self._state.kv) if k.startswith(prefix)]

    async def _kv_put(
        self,
        key: str,
        value: bytes,
        *,
        cas: int | None = None,
        acquire: str | None = None,
        release: str | None = None,
    ) -> bool:
        self.reap()
        entry = self._state.kv.get(key)
        if cas is not None and (entry.modify_index if entry is not None else 0) != cas:
            return False
        session = entry.session if entry is not None else None
        lock_index = entry.lock_index if entry is not None else 0
        if acquire is not None:
            if acquire not in self._state.sessions:
                raise SessionInvalidated(acquire)
            if session is not None and session != acquire:
                return False
            if self._state.lock_delays.get(key, float("-inf")) > self._state.clock.monotonic():
                return False
            if session != acquire:
                lock_index += 1
            session = acquire
        elif release is not None:
            if entry is None or session != release:
                return False
            session = None
        index = self._next_index()
        self._state.kv_index = index
        self._state.kv[key] = KVEntry(
            key=key,
            value=bytes(value),
            modify_index=index,
            create_index=entry.create_index if entry is not None else index,
            lock_index=lock_index,
            session=session,
        )
        self._wake()
        return True

    async def _kv_delete(self, key: str, *, cas: int | None = None) -> bool:
        self.reap()
        entry = self._state.kv.get(key)
        if entry is None:
            return True  # as Consul: deleting what is not there succeeds, CAS or not
        if cas is not None and entry.modify_index != cas:
            return False
        del self._state.kv[key]
        self._state.kv_index = self._next_index()
        self._wake()
        return True

    async def _close(self) -> None:
        self._reaper = None
        self._wake()
