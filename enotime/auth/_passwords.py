"""Password hashing with argon2id (OWASP parameters), off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
import threading

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from enotime._closing import AsyncClosing

__all__ = ["PasswordHasher"]


class PasswordHasher(AsyncClosing):
    """argon2id hashing in a bounded thread pool, so the event loop keeps running.

    argon2-cffi releases the GIL while it hashes, so up to ``max_threads``
    hashes run in parallel with the loop; more wait their turn. The defaults
    are OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane, ~30 ms
    here). Close it with :meth:`aclose` (or ``async with``).

    On Linux the hashing threads run ``nice`` (``niceness`` above the
    process's): when the cores are busy, the scheduler gives the event loop
    the CPU first, so a storm of logins slows the logins rather than every
    request on the node.

    Example:
        >>> async with PasswordHasher() as hasher:
        ...     stored = await hasher.hash("correct horse")
        ...     assert await hasher.verify(stored, "correct horse")
    """

    def __init__(
        self,
        *,
        time_cost: int = 2,
        memory_cost: int = 19_456,
        parallelism: int = 1,
        max_threads: int = 2,
        niceness: int = 10,
    ) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        if not 0 <= niceness <= 19:
            raise ValueError("niceness must be 0-19")
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_threads,
            thread_name_prefix="enotime-argon2",
            initializer=_lower_priority,
            initargs=(niceness,),
        )
        # A hash of a random password, for dummy_verify; made in the background now
        # so that the first unknown user costs the same as the others.
        self._dummy = self._executor.submit(self._hasher.hash, secrets.token_urlsafe(16))

    @property
    def parameters(self) -> argon2.Parameters:
        """The argon2 parameters new hashes are made with."""
        hasher = self._hasher
        return argon2.Parameters(
            type=hasher.type,
            version=argon2.low_level.ARGON2_VERSION,
            salt_len=hasher.salt_len,
            hash_len=hasher.hash_len,
            time_cost=hasher.time_cost,
            memory_cost=hasher.memory_cost,
            parallelism=hasher.parallelism,
        )

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (PHC string, salt and parameters included)."""
        if not isinstance(password, str):
            raise TypeError("the password must be a str")
        return await asyncio.wrap_future(self._executor.submit(self._hasher.hash, password))

    async def verify(self, hash: str, password: str) -> bool:
        """True if ``password`` matches ``hash``; False on a mismatch or a malformed hash."""
        if not isinstance(hash, str) or not isinstance(password, str):
            return False  # type: ignore[unreachable]  # untyped callers get an answer too
        return await asyncio.wrap_future(self._executor.submit(self._check, hash, password))

    async def dummy_verify(self, password: str) -> bool:
        """Spend what a real :meth:`verify` costs, and answer False.

        Call it when the user is unknown, so that the answer's timing does not
        tell whether an account exists.
        """
        dummy = await asyncio.wrap_future(self._dummy)
        await self.verify(dummy, password if isinstance(password, str) else "")
        return False

    def needs_rehash(self, hash: str) -> bool:
        """True if ``hash`` was made with other parameters (or is malformed): rehash on login."""
        try:
            return self._hasher.check_needs_rehash(hash)
        except (InvalidHashError, ValueError, TypeError):
            return True

    def _check(self, hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def aclose(self) -> None:
        """Finish the hashes in progress and stop the threads."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Like :meth:`aclose`, blocking: for code outside an event loop."""
        self._dummy.cancel()
        self._executor.shutdown(wait=True)


def _lower_priority(niceness: int) -> None:
    """Make the calling thread ``niceness`` nicer (Linux: nice values are per thread)."""
    if niceness and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):  # not allowed here: run at the normal priority
            thread = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, current + niceness))
