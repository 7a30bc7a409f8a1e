"""Sweeping what expired: mailed tokens, MFA challenges and refresh-token families.

The login actor checks expiry on every use, so an expired ``login.token`` or
``login.session`` record is already useless; left alone, though, the store
would grow with every sign-up, reset request and login. The sweeper deletes
them, page by page, every ``interval`` seconds.

It is an actor of its own, not part of the login actor: a sweep reads (and
so decrypts, through the store actor) every record of the two types, which
must not hold up logins. A record changed or deleted while a sweep runs is
left for the next sweep to decide; a store or crypto actor that is down,
slow or sealed skips the sweep with one log line, and the next one comes on
time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from enotime._actor import Actor
from enotime._handler import handler
from enotime.errors import EnotimeError
from enotime.login._records import SESSION, TOKEN
from enotime.messages import Request
from enotime.store import Conflict, NotFound, StoreClient

__all__ = ["LoginSweeper", "SweepExpired"]

log = logging.getLogger("enotime.login")

SWEPT_TYPES: Final = (TOKEN.name, SESSION.name)
"""The document types whose records carry ``expires_at`` and are useless after it."""


@dataclass(frozen=True)
class SweepExpired(Request[int]):
    """Sweep now (between the timed sweeps); answers how many records were deleted."""


@dataclass(frozen=True)
class _Tick:
    """The timed sweep."""


class LoginSweeper(Actor):
    """Deletes expired login tokens, MFA challenges and sessions from the store.

    Args:
        store: Name of the store actor (looked up on each sweep, so that its
            restarts are followed).
        interval: Seconds between two sweeps.
        first_sweep: Seconds from the start to the first sweep.
        page_size: Records read per call to the store actor.
        clock: Wall-clock seconds since the epoch (the login actor's clock).

    Example:
        >>> child(LoginService, config, name="login")
        >>> child(LoginSweeper, name="login-sweeper")
    """

    refusals = (EnotimeError,)  # an explicit SweepExpired learns why it failed

    def __init__(
        self,
        *,
        store: str = "store",
        interval: float = 3600.0,
        first_sweep: float = 60.0,
        page_size: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not interval > 0 or not first_sweep >= 0:
            raise ValueError("interval must be positive and first_sweep not negative")
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be 1-1000")
        self.store = store
        self.interval = interval
        self.first_sweep = first_sweep
        self.page_size = page_size
        self.clock = clock

    async def on_start(self) -> None:
        self.send_after(self.first_sweep, _Tick())

    @handler
    async def sweep_now(self, msg: SweepExpired) -> int:
        return await self.sweep()

    @handler
    async def _tick(self, msg: _Tick) -> None:
        try:
            await self.sweep()
        except EnotimeError as exc:  # store or crypto actor down, slow or sealed
            log.warning("login sweeper: sweep skipped, the next in %g s: %r", self.interval, exc)
        self.send_after(self.interval, msg)

    async def sweep(self) -> int:
        """Delete every expired record of :data:`SWEPT_TYPES`; how many were deleted."""
        now = self.clock()
        store = StoreClient(self.node.lookup(self.store))
        deleted = 0
        for doc_type in SWEPT_TYPES:
            cursor: str | None = None
            while True:
                records, cursor = await store.list(doc_type, limit=self.page_size, cursor=cursor)
                for record in records:
                    expires_at = record.fields.get("expires_at")
                    if not isinstance(expires_at, int | float) or isinstance(expires_at, bool):
                        continue  # not one of ours to judge: the login actor refuses it anyway
                    if expires_at > now or record.rev is None:
                        continue
                    try:
                        await store.delete(record.id, record.rev)
                    except (Conflict, NotFound):
                        continue  # changed or gone meanwhile: the next sweep decides
                    deleted += 1
                if cursor is None:
                    break
        if deleted:
            log.info("login sweeper: deleted %d expired tokens and sessions", deleted)
        return deleted
