"""The in-memory rate-limit store stays bounded under a flood of distinct clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from enotime.edge._ratelimit import BoundedMemoryStore


async def test_it_answers_what_was_set_and_the_default_otherwise() -> None:
    store = BoundedMemoryStore(max_keys=10)
    now = datetime.now(UTC)

    await store.set("ip:1", now + timedelta(seconds=5))

    assert await store.get("ip:1", now) == now + timedelta(seconds=5)
    assert await store.get("ip:2", now) == now


async def test_when_full_it_first_forgets_counters_that_ran_out() -> None:
    store = BoundedMemoryStore(max_keys=4)
    now = datetime.now(UTC)
    await store.set("spent-1", now - timedelta(seconds=1))
    await store.set("live-1", now + timedelta(minutes=1))
    await store.set("spent-2", now - timedelta(seconds=1))
    await store.set("live-2", now + timedelta(minutes=1))

    await store.set("new", now + timedelta(minutes=1))

    assert len(store) == 3
    assert await store.get("live-1", now) == now + timedelta(minutes=1)
    assert await store.get("spent-1", now) == now


async def test_when_full_of_live_counters_it_forgets_the_oldest() -> None:
    store = BoundedMemoryStore(max_keys=20)
    later = datetime.now(UTC) + timedelta(minutes=1)
    for index in range(100):
        await store.set(f"ip:{index}", later)

    assert len(store) <= 20
    assert await store.get("ip:99", datetime.now(UTC)) == later


async def test_after_serving_it_forgets_everything() -> None:
    store = BoundedMemoryStore()
    await store.set("ip:1", datetime.now(UTC) + timedelta(minutes=1))

    await store.after_serving()

    assert len(store) == 0
