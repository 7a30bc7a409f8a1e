"""The registry port's contract: every adapter behaves as Consul documents.

Three parametrisations of one suite:

- ``memory``: :class:`InMemoryRegistry` on a :class:`ManualClock`.
- ``consul-fake``: :class:`ConsulRegistry` against :class:`FakeConsul`, an
  aiohttp server on 127.0.0.1 that implements Consul's *documented* HTTP API
  (tests/integration/test_consul_http_api.py). This is the documented-API
  check: it proves the adapter and python-consul2 speak the API as written,
  not that a real Consul agrees.
- ``consul-live``: :class:`ConsulRegistry` against ``CONSUL_HTTP_ADDR`` (and
  ``CONSUL_HTTP_TOKEN`` if set). No Consul server can be installed on the
  machines this project is built on, so there it is skipped with the reason,
  in CI too. Tests that move the clock (TTL lapses, lock-delay) need the
  first two: a live Consul keeps real time.

"Another node" is a second registry on the same backend (``peer()`` for the
in-memory one, a second client for Consul). Every wait has a timeout; time
moves only when a test says so.
"""

from __future__ import annotations

import asyncio
import math
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from enotime import errors
from enotime.abc import Registry
from enotime.registry import (
    CasFailed,
    InMemoryRegistry,
    InvalidArgument,
    NameTaken,
    RegistryClosed,
    SessionBehavior,
    SessionInvalidated,
)
from enotime.testing import ManualClock

NO_CONSUL = "no Consul server can be installed on this machine; set CONSUL_HTTP_ADDR to run live"
REAL_TIME = "a live Consul keeps real time; this test moves the clock (memory and fake only)"
WAIT = 5.0  # seconds: the timeout on every wait in this suite


@dataclass
class Backend:
    """One adapter under test: make registries on it, and move its time if it can."""

    name: str
    factory: Callable[..., Registry]
    mover: Callable[[float], None] | None
    opened: list[Registry] = field(default_factory=list)

    def open(self, **options: Any) -> Registry:
        """A new registry (another node's view) on the same backend, closed after the test."""
        registry = self.factory(**options)
        self.opened.append(registry)
        return registry

    def advance(self, seconds: float) -> None:
        """Move the backend's clock by ``seconds`` and apply the TTLs due."""
        if self.mover is None:
            pytest.skip(REAL_TIME)
        self.mover(seconds)


@pytest.fixture(params=["memory", "consul-fake", "consul-live"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = ManualClock()
        root = InMemoryRegistry(clock=clock)

        def peer(**options: Any) -> Registry:
            return root.peer(**options)

        def move(seconds: float) -> None:
            clock.advance(seconds)
            root.reap()

        result = Backend("memory", peer, move)
        yield result
    elif request.param == "consul-fake":
        # Imported here: without python-consul2 only these parametrisations fail, loudly.
        from enotime.registry import ConsulRegistry
        from tests.integration.test_consul_http_api import serve_fake_consul

        async with serve_fake_consul() as fake:
            result = Backend("consul-fake", lambda **o: ConsulRegistry(fake.url, **o), fake.advance)
            yield result
            await _close_all(result)
        return
    else:
        address = os.environ.get("CONSUL_HTTP_ADDR")
        if not address:
            pytest.skip(NO_CONSUL)
        from enotime.registry import ConsulRegistry

        token = os.environ.get("CONSUL_HTTP_TOKEN")
        result = Backend("consul-live", lambda **o: ConsulRegistry(address, token=token, **o), None)
        yield result
    await _close_all(result)


async def _close_all(backend: Backend) -> None:
    for registry in backend.opened:
        await registry.aclose()
        assert not registry._tasks, f"tasks left behind by {registry!r}: {registry._tasks}"
    backend.opened.clear()


@pytest.fixture
def registry(backend: Backend) -> Registry:
    return backend.open()


@pytest.fixture
def other(backend: Backend) -> Registry:
    """Another node's registry on the same backend."""
    return backend.open()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Fresh names: a live Consul keeps state between runs."""
    suffix = uuid.uuid4().hex[:8]
    return lambda base: f"{base}-{suffix}"


async def within(awaitable: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(awaitable, WAIT)


# -- registration and discovery --------------------------------------------------------------


async def test_registered_instance_is_discovered_by_another_node(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("billing")
    registration = await registry.register_service(
        name, node="node-a", address="10.1.2.3", port=8080, tags=["v1", "eu"],
        meta={"version": "1.2"},
    )  # fmt: skip
    [instance] = await other.discover(name)
    assert instance.instance_id == registration.instance_id == f"{name}:node-a:8080"
    assert (instance.service, instance.node) == (name, "node-a")
    assert (instance.address, instance.port) == ("10.1.2.3", 8080)
    assert instance.tags == ("v1", "eu")
    assert dict(instance.meta) == {"version": "1.2"}
    assert instance.healthy


async def test_discovery_lists_only_the_service_asked_for(
    registry: Registry, unique: Callable[[str], str]
) -> None:
    a, b = unique("alpha"), unique("beta")
    await registry.register_service(a, node="node-a", port=1)
    await registry.register_service(a, node="node-b", port=1)
    await registry.register_service(b, node="node-a", port=2)
    assert [i.node for i in await registry.discover(a)] == ["node-a", "node-b"]
    assert [i.node for i in await registry.discover(b)] == ["node-a"]
    assert await registry.discover(unique("nobody")) == []


async def test_nodes_register_and_are_listed(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    node = unique("node")
    await registry.register_node(node, address="10.0.0.1", meta={"role": "worker"})
    [info] = [n for n in await other.nodes() if n.name == node]
    assert (info.address, dict(info.meta), info.healthy) == ("10.0.0.1", {"role": "worker"}, True)


async def test_ttl_lapse_makes_the_instance_unhealthy(
    backend: Backend, registry: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("billing")
    await registry.register_service(name, node="node-a", ttl=10, keepalive=False)
    backend.advance(9)
    assert len(await registry.discover(name)) == 1
    backend.advance(2)
    assert await registry.discover(name) == []
    [instance] = await registry.instances(name)
    assert not instance.healthy


async def test_heartbeat_after_a_lapse_makes_it_healthy_again(
    backend: Backend, registry: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("billing")
    registration = await registry.register_service(name, node="node-a", ttl=10, keepalive=False)
    backend.advance(11)
    assert await registry.discover(name) == []
    await registration.heartbeat()
    assert [i.instance_id for i in await registry.discover(name)] == [registration.instance_id]


async def test_keepalive_keeps_the_instance_healthy(
    backend: Backend, unique: Callable[[str], str]
) -> None:
    registry = backend.open(keepalive_interval=0.005)
    name = unique("billing")
    registration = await registry.register_service(name, node="node-a", ttl=10)
    for _ in range(3):  # 24 s of registry time, never more than 8 s without a beat
        backend.advance(8)
        await registration.wait_heartbeats(registration.heartbeats + 1, timeout=WAIT)
        assert len(await registry.discover(name)) == 1


async def test_a_critical_instance_goes_after_deregister_after(
    backend: Backend, registry: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("billing")
    await registry.register_service(
        name, node="node-a", ttl=10, deregister_after=60, keepalive=False
    )
    backend.advance(11)
    assert len(await registry.instances(name)) == 1
    backend.advance(60)
    assert await registry.instances(name) == []


async def test_deregister_removes_the_instance_and_is_idempotent(
    registry: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("billing")
    registration = await registry.register_service(name, node="node-a")
    await registration.deregister()
    await registration.deregister()
    assert not registration.active
    assert await registry.instances(name) == []
    with pytest.raises(RegistryClosed):
        await registration.heartbeat()


async def test_close_deregisters_and_frees_names_and_locks(
    backend: Backend, other: Registry, unique: Callable[[str], str]
) -> None:
    registry = backend.open()
    name, actor, key = unique("billing"), unique("actor"), unique("lock")
    await registry.register_service(name, node="node-a")
    session = await registry.create_session(lock_delay=0)
    await registry.register_name(actor, "node-a/1", session=session)
    assert await registry.kv_acquire(key, b"a", session)
    await registry.aclose()
    await registry.aclose()
    assert await other.instances(name) == []
    assert await other.resolve_name(actor) is None
    lock = await other.kv_get(key)
    assert lock is not None
    assert lock.session is None
    with pytest.raises(RegistryClosed):
        await registry.discover(name)


async def test_watch_service_returns_when_an_instance_arrives(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("billing")
    index, instances = await registry.watch_service(name)
    assert instances == []
    watch = asyncio.create_task(registry.watch_service(name, index=index, wait=WAIT * 2))
    await other.register_service(name, node="node-b")
    new_index, instances = await within(watch)
    assert new_index > index
    assert [i.node for i in instances] == ["node-b"]


async def test_watch_service_returns_when_a_ttl_lapses(
    backend: Backend, registry: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("billing")
    await registry.register_service(name, node="node-a", ttl=10, keepalive=False)
    index, instances = await registry.watch_service(name)
    assert len(instances) == 1
    watch = asyncio.create_task(registry.watch_service(name, index=index, wait=WAIT * 2))
    backend.advance(11)
    new_index, instances = await within(watch)
    assert (new_index > index, instances) == (True, [])


async def test_watch_service_answers_after_wait_when_nothing_changes(
    registry: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("billing")
    await registry.register_service(name, node="node-a")
    index, _ = await registry.watch_service(name)
    again, instances = await within(registry.watch_service(name, index=index, wait=0.05))
    assert again == index
    assert len(instances) == 1


# -- key/value and check-and-set ------------------------------------------------------------


async def test_kv_put_get_list_delete(registry: Registry, unique: Callable[[str], str]) -> None:
    prefix = unique("config") + "/"
    assert await registry.kv_get(prefix + "a") is None
    await registry.kv_put(prefix + "a", b"1")
    await registry.kv_put(prefix + "b", b"")
    entry = await registry.kv_get(prefix + "a")
    assert entry is not None
    assert (entry.key, entry.value, entry.session) == (
        prefix + "a",
        b"1",
        None,
    )
    assert [(e.key, e.value) for e in await registry.kv_list(prefix)] == [
        (prefix + "a", b"1"),
        (prefix + "b", b""),
    ]
    await registry.kv_delete(prefix + "a")
    await registry.kv_delete(prefix + "a")  # deleting what is not there is fine
    assert await registry.kv_get(prefix + "a") is None


async def test_every_write_moves_the_modify_index(
    registry: Registry, unique: Callable[[str], str]
) -> None:
    key = unique("counter")
    await registry.kv_put(key, b"1")
    first = await registry.kv_get(key)
    await registry.kv_put(key, b"2")
    second = await registry.kv_get(key)
    assert first is not None
    assert second is not None
    assert second.modify_index > first.modify_index
    assert second.create_index == first.create_index


async def test_cas_zero_creates_only_once(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    key = unique("once")
    await registry.kv_put(key, b"first", cas=0)
    with pytest.raises(CasFailed) as caught:
        await other.kv_put(key, b"second", cas=0)
    assert (caught.value.key, caught.value.cas) == (key, 0)
    entry = await other.kv_get(key)
    assert entry is not None
    assert entry.value == b"first"


async def test_cas_on_a_stale_index_fails_and_changes_nothing(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    key = unique("balance")
    await registry.kv_put(key, b"100")
    read = await registry.kv_get(key)
    assert read is not None
    await other.kv_put(key, b"90", cas=read.modify_index)  # the other node wins the race
    with pytest.raises(CasFailed):
        await registry.kv_put(key, b"110", cas=read.modify_index)
    with pytest.raises(CasFailed):
        await registry.kv_delete(key, cas=read.modify_index)
    current = await registry.kv_get(key)
    assert current is not None
    assert current.value == b"90"
    await registry.kv_delete(key, cas=current.modify_index)
    assert await registry.kv_get(key) is None


async def test_kv_watch_returns_on_a_change_and_on_a_delete(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    key = unique("flag")
    await registry.kv_put(key, b"off")
    index, _ = await registry.kv_watch(key)
    watch = asyncio.create_task(registry.kv_watch(key, index=index, wait=WAIT * 2))
    await other.kv_put(key, b"on")
    index, entry = await within(watch)
    assert entry is not None
    assert entry.value == b"on"
    watch = asyncio.create_task(registry.kv_watch(key, index=index, wait=WAIT * 2))
    await other.kv_delete(key)
    _, entry = await within(watch)
    assert entry is None


# -- sessions and locks -----------------------------------------------------------------------


async def test_a_lock_is_held_by_one_session_at_a_time(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    key = unique("lock")
    mine = await registry.create_session(lock_delay=0)
    theirs = await other.create_session(lock_delay=0)
    assert await registry.kv_acquire(key, b"mine", mine)
    assert not await other.kv_acquire(key, b"theirs", theirs)
    assert await registry.kv_acquire(key, b"mine again", mine)  # the holder may re-acquire
    assert not await other.kv_release(key, theirs)
    entry = await other.kv_get(key)
    assert entry is not None
    assert (entry.session, entry.value) == (mine.id, b"mine again")
    assert entry.lock_index == 1
    assert await registry.kv_release(key, mine)
    assert await other.kv_acquire(key, b"theirs", theirs)
    entry = await other.kv_get(key)
    assert entry is not None
    assert (entry.session, entry.lock_index) == (theirs.id, 2)


async def test_ending_a_session_releases_or_deletes_its_keys(
    registry: Registry, unique: Callable[[str], str]
) -> None:
    kept, dropped = unique("kept"), unique("dropped")
    releasing = await registry.create_session(lock_delay=0)
    deleting = await registry.create_session(lock_delay=0, behavior=SessionBehavior.DELETE)
    assert await registry.kv_acquire(kept, b"x", releasing)
    assert await registry.kv_acquire(dropped, b"y", deleting)
    await releasing.aclose()
    await deleting.aclose()
    entry = await registry.kv_get(kept)
    assert entry is not None
    assert (entry.value, entry.session) == (b"x", None)
    assert await registry.kv_get(dropped) is None


async def test_lock_delay_follows_an_invalidated_session(
    backend: Backend,
    registry: Registry,
    other: Registry,
    unique: Callable[[str], str],
) -> None:
    key = unique("lock")
    holder = await registry.create_session(lock_delay=5)
    assert await registry.kv_acquire(key, b"a", holder)
    await holder.aclose()
    waiting = await other.create_session(lock_delay=5)
    assert not await other.kv_acquire(key, b"b", waiting)
    backend.advance(6)
    assert await other.kv_acquire(key, b"b", waiting)


async def test_a_session_whose_ttl_lapses_loses_its_locks(
    backend: Backend, registry: Registry, unique: Callable[[str], str]
) -> None:
    key = unique("lock")
    session = await registry.create_session(ttl=10, lock_delay=0, keepalive=False)
    assert await registry.kv_acquire(key, b"a", session)
    backend.advance(21)  # Consul may wait up to twice the TTL
    entry = await registry.kv_get(key)
    assert entry is not None
    assert entry.session is None
    with pytest.raises(SessionInvalidated):
        await session.renew()
    assert session.ended
    with pytest.raises(SessionInvalidated):
        await registry.kv_acquire(key, b"a", session)


async def test_renewals_keep_a_session_and_its_locks(
    backend: Backend, unique: Callable[[str], str]
) -> None:
    registry = backend.open(keepalive_interval=0.005)
    key = unique("lock")
    session = await registry.create_session(ttl=10, lock_delay=0)
    assert await registry.kv_acquire(key, b"a", session)
    for _ in range(4):  # 32 s of registry time, never more than 8 s without a renewal
        backend.advance(8)
        await session.wait_heartbeats(session.heartbeats + 1, timeout=WAIT)
    entry = await registry.kv_get(key)
    assert entry is not None
    assert entry.session == session.id
    assert not session.ended


# -- global names -------------------------------------------------------------------------------


async def test_global_names_first_writer_wins(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("payments")
    mine = await registry.create_session(lock_delay=0)
    theirs = await other.create_session(lock_delay=0)
    await registry.register_name(name, "node-a/17", session=mine)
    with pytest.raises(NameTaken) as caught:
        await other.register_name(name, "node-b/3", session=theirs)
    assert (caught.value.name, caught.value.holder) == (name, "node-a/17")
    assert isinstance(caught.value, errors.NameTaken)
    assert await other.resolve_name(name) == "node-a/17"
    assert (await other.names()).get(name) == "node-a/17"
    await registry.register_name(name, "node-a/18", session=mine)  # the owner may move it
    assert await other.resolve_name(name) == "node-a/18"


async def test_a_name_is_freed_when_its_owners_session_closes(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("payments")
    mine = await registry.create_session(lock_delay=0)
    await registry.register_name(name, "node-a/17", session=mine)
    await mine.aclose()
    assert await other.resolve_name(name) is None
    theirs = await other.create_session(lock_delay=0)
    await other.register_name(name, "node-b/3", session=theirs)
    assert await registry.resolve_name(name) == "node-b/3"


async def test_a_name_is_freed_when_its_owners_session_lapses(
    backend: Backend,
    registry: Registry,
    other: Registry,
    unique: Callable[[str], str],
) -> None:
    name = unique("payments")
    mine = await registry.create_session(ttl=10, lock_delay=0, keepalive=False)
    await registry.register_name(name, "node-a/17", session=mine)
    backend.advance(21)
    assert await other.resolve_name(name) is None
    theirs = await other.create_session(lock_delay=0)
    await other.register_name(name, "node-b/3", session=theirs)


async def test_a_name_in_lock_delay_is_taken_by_nobody(
    backend: Backend,
    registry: Registry,
    other: Registry,
    unique: Callable[[str], str],
) -> None:
    name = unique("payments")
    mine = await registry.create_session(lock_delay=10)
    await registry.register_name(name, "node-a/17", session=mine)
    await mine.aclose()
    theirs = await other.create_session(lock_delay=0)
    with pytest.raises(NameTaken) as caught:
        await other.register_name(name, "node-b/3", session=theirs)
    assert caught.value.holder is None
    backend.advance(11)
    await other.register_name(name, "node-b/3", session=theirs)


async def test_unregister_name_only_by_its_owner(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    name = unique("payments")
    mine = await registry.create_session(lock_delay=0)
    theirs = await other.create_session(lock_delay=0)
    await registry.register_name(name, "node-a/17", session=mine)
    assert not await other.unregister_name(name, session=theirs)
    assert await registry.unregister_name(name, session=mine)
    assert await other.resolve_name(name) is None
    assert await other.kv_get("enotime/names/" + name) is None


# -- leader election --------------------------------------------------------------------------


async def _candidate(
    registry: Registry,
    key: str,
    value: str,
    elected: asyncio.Event,
    resign: asyncio.Event,
    **options: Any,
) -> None:
    async with registry.campaign(key, value, **options) as leadership:
        elected.set()
        await asyncio.wait(
            [asyncio.create_task(resign.wait()), asyncio.create_task(leadership.wait_lost())],
            return_when=asyncio.FIRST_COMPLETED,
        )


async def test_the_next_candidate_leads_when_the_leader_resigns(
    registry: Registry, other: Registry, unique: Callable[[str], str]
) -> None:
    key = unique("leader")
    a_elected, a_resign = asyncio.Event(), asyncio.Event()
    b_elected, b_resign = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(_candidate(registry, key, "node-a", a_elected, a_resign, lock_delay=0))
    await within(a_elected.wait())
    b = asyncio.create_task(_candidate(other, key, "node-b", b_elected, b_resign, lock_delay=0))
    assert await registry.leader(key) == "node-a"
    assert not b_elected.is_set()
    a_resign.set()
    await within(a)
    await within(b_elected.wait())
    assert await registry.leader(key) == "node-b"
    b_resign.set()
    await within(b)
    assert await registry.leader(key) is None


async def test_leadership_hands_over_when_the_leaders_session_lapses(
    backend: Backend,
    registry: Registry,
    other: Registry,
    unique: Callable[[str], str],
) -> None:
    key = unique("leader")
    async with registry.campaign(key, "node-a", ttl=10, lock_delay=0, keepalive=False) as lead:
        assert await registry.leader(key) == "node-a"
        b_elected, b_resign = asyncio.Event(), asyncio.Event()
        b = asyncio.create_task(_candidate(other, key, "node-b", b_elected, b_resign, lock_delay=0))
        backend.advance(21)  # node-a stopped renewing: its session lapses
        await within(lead.wait_lost())
        await within(b_elected.wait())
        assert not lead.is_leader
        assert await registry.leader(key) == "node-b"
        b_resign.set()
        await within(b)


async def test_leadership_is_lost_when_the_session_is_destroyed(
    registry: Registry, unique: Callable[[str], str]
) -> None:
    key = unique("leader")
    async with registry.campaign(key, "node-a", lock_delay=0) as lead:
        await lead.session.aclose()
        await lead.wait_lost(timeout=WAIT)
    assert await registry.leader(key) is None


# -- bad input ------------------------------------------------------------------------------------


def _calls(registry: Registry) -> dict[str, Callable[[], Awaitable[Any]]]:
    r = registry
    return {
        "empty service name": lambda: r.register_service("", node="n"),
        "service name with a slash": lambda: r.register_service("a/b", node="n"),
        "empty node": lambda: r.register_service("s", node=""),
        "zero TTL": lambda: r.register_service("s", node="n", ttl=0),
        "negative TTL": lambda: r.register_service("s", node="n", ttl=-5),
        "NaN TTL": lambda: r.register_service("s", node="n", ttl=math.nan),
        "infinite TTL": lambda: r.register_service("s", node="n", ttl=math.inf),
        "string TTL": lambda: r.register_service("s", node="n", ttl="10s"),  # type: ignore[arg-type]
        "boolean TTL": lambda: r.register_service("s", node="n", ttl=True),
        "port out of range": lambda: r.register_service("s", node="n", port=70000),
        "reserved meta key": lambda: r.register_service("s", node="n", meta={"enotime_node": "x"}),
        "bad meta key": lambda: r.register_service("s", node="n", meta={"a b": "x"}),
        "tags as a string": lambda: r.register_service("s", node="n", tags="v1"),
        "empty node name": lambda: r.register_node(""),
        "empty discovery name": lambda: r.discover(""),
        "empty key": lambda: r.kv_get(""),
        "key with a leading slash": lambda: r.kv_put("/a", b"x"),
        "str value": lambda: r.kv_put("a", "x"),  # type: ignore[arg-type]
        "negative cas": lambda: r.kv_put("a", b"x", cas=-1),
        "session TTL under 10 s": lambda: r.create_session(ttl=5),
        "session TTL over a day": lambda: r.create_session(ttl=86_401),
        "negative lock-delay": lambda: r.create_session(lock_delay=-1),
        "empty global name": lambda: r.resolve_name(""),
        "negative wait": lambda: r.kv_watch("a", index=1, wait=-1),
    }


@pytest.mark.parametrize("case", list(_calls(InMemoryRegistry())))
async def test_bad_input_is_invalid_argument(registry: Registry, case: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await _calls(registry)[case]()
    assert isinstance(caught.value, ValueError)
    assert registry._registrations == set()
    assert registry._sessions == set()


async def test_a_candidate_waits_out_the_lock_delay_of_a_dead_leader(
    backend: Backend,
    registry: Registry,
    other: Registry,
    unique: Callable[[str], str],
) -> None:
    key = unique("leader")
    async with registry.campaign(key, "node-a", ttl=10, lock_delay=5, keepalive=False) as lead:
        backend.advance(21)  # node-a died: its session lapses, the lock-delay starts
        await within(lead.wait_lost())
        probe = await other.create_session(lock_delay=0)
        assert not await other.kv_acquire(key, b"probe", probe)  # free, but in lock-delay
        b_elected, b_resign = asyncio.Event(), asyncio.Event()
        b = asyncio.create_task(
            _candidate(other, key, "node-b", b_elected, b_resign, lock_delay=0, retry_interval=0.01)
        )
        backend.advance(5)  # the candidate, retrying, takes the key once the delay is over
        await within(b_elected.wait())
        b_resign.set()
        await within(b)
