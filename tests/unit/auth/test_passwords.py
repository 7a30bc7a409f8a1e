"""Password hashing: argon2id with OWASP parameters, off the event loop, silent on bad input."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import argon2
import pytest

from enotime.auth import PasswordHasher

FAST = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
"""Cheap parameters for speed; one test pins the real defaults."""


@pytest.fixture
async def hasher() -> AsyncIterator[PasswordHasher]:
    async with PasswordHasher(**FAST) as hasher:
        yield hasher


async def test_the_defaults_are_owasp_argon2id() -> None:
    async with PasswordHasher() as hasher:
        parameters = hasher.parameters
        assert parameters.type is argon2.Type.ID
        assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
            19_456,
            2,
            1,
        )
        stored = await hasher.hash("correct horse battery staple")
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert await hasher.verify(stored, "correct horse battery staple")
        assert not hasher.needs_rehash(stored)


async def test_a_hash_verifies_its_password_and_nothing_else(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("s3cret")
    assert stored != await hasher.hash("s3cret")  # salted
    assert "s3cret" not in stored
    assert await hasher.verify(stored, "s3cret")
    assert not await hasher.verify(stored, "s3cret ")
    assert not await hasher.verify(stored, "")


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "plain text",
        "$argon2id$v=19$m=8,t=1,p=1$bad$bad",
        "$argon2id$v=19$m=oops",
        "$2b$12$abcdefghijklmnopqrstuuJ0t2pZ3lDRd4hhUQbq7jH1x3ogbFtRS",
    ],
)
async def test_a_malformed_hash_verifies_nothing_and_raises_nothing(
    hasher: PasswordHasher, bad_hash: str
) -> None:
    assert await hasher.verify(bad_hash, "anything") is False


async def test_input_of_the_wrong_type_is_false_not_an_exception(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("pw")
    bad: Any = None
    assert await hasher.verify(bad, "pw") is False
    assert await hasher.verify(stored, bad) is False
    with pytest.raises(TypeError):
        await hasher.hash(bad)


async def test_dummy_verify_is_always_false_and_does_a_real_verification(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real = argon2.PasswordHasher.verify

    def spy(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        verified.append(str(hash))
        return real(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)
    assert await hasher.dummy_verify("whatever") is False
    assert await hasher.dummy_verify("") is False
    assert len(verified) == 2
    assert all(hash.startswith("$argon2id$v=19$m=8,t=1,p=1$") for hash in verified)


async def test_needs_rehash_when_the_parameters_change(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("pw")
    assert not hasher.needs_rehash(stored)
    async with PasswordHasher(time_cost=2, memory_cost=16, parallelism=1) as stronger:
        assert stronger.needs_rehash(stored)
        assert stronger.needs_rehash("not a hash")


async def test_hashing_runs_in_a_worker_thread(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real = argon2.PasswordHasher.hash

    def spy(self: argon2.PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
        threads.append(threading.get_ident())
        return real(self, password, **kwargs)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", spy)
    await hasher.hash("pw")
    assert threads
    assert threading.get_ident() not in threads


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
async def test_hashing_threads_run_nicer_than_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    priorities: list[int] = []
    real = argon2.PasswordHasher.hash

    def spy(self: argon2.PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
        priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(self, password, **kwargs)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", spy)
    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    async with PasswordHasher(**FAST, niceness=7) as hasher:
        await hasher.hash("pw")
    assert priorities[-1] == min(19, loop_priority + 7)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_priority


def test_niceness_is_bounded() -> None:
    with pytest.raises(ValueError, match="niceness"):
        PasswordHasher(niceness=20)


async def test_the_event_loop_keeps_running_while_a_hash_is_in_progress(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash blocks until the loop releases it: on the loop thread that would deadlock."""
    entered = threading.Event()
    release = threading.Event()
    real = argon2.PasswordHasher.hash

    def held(self: argon2.PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
        entered.set()
        if not release.wait(timeout=10):
            raise AssertionError("the event loop never released the hash")
        return real(self, password, **kwargs)

    monkeypatch.setattr(argon2.PasswordHasher, "hash", held)
    hashing = asyncio.create_task(hasher.hash("pw"))
    assert await asyncio.to_thread(entered.wait, 10)

    async def other_work() -> str:
        return "done"

    # Another task starts and finishes while the hash is held in its thread.
    assert await asyncio.wait_for(asyncio.create_task(other_work()), timeout=10) == "done"
    assert not hashing.done()
    release.set()

    stored = await asyncio.wait_for(hashing, timeout=10)
    assert await hasher.verify(stored, "pw")


async def test_at_most_max_threads_hashes_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()
    two_in = threading.Barrier(2, timeout=10)
    real = argon2.PasswordHasher.hash

    def counted(self: argon2.PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            if password == "first-two":
                two_in.wait()  # both threads busy at once
            return real(self, password, **kwargs)
        finally:
            with lock:
                running -= 1

    async with PasswordHasher(**FAST, max_threads=2) as hasher:
        monkeypatch.setattr(argon2.PasswordHasher, "hash", counted)
        await asyncio.gather(
            hasher.hash("first-two"),
            hasher.hash("first-two"),
            *(hasher.hash(f"pw{i}") for i in range(6)),
        )
    assert peak == 2


async def test_a_closed_hasher_refuses_new_work() -> None:
    hasher = PasswordHasher(**FAST)
    await hasher.aclose()
    with pytest.raises(RuntimeError):
        await hasher.hash("pw")
    hasher.close()  # closing twice is harmless


def test_close_works_outside_an_event_loop() -> None:
    hasher = PasswordHasher(**FAST)
    hasher.close()
    with pytest.raises(ValueError, match="max_threads"):
        PasswordHasher(max_threads=0)
