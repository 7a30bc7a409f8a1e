"""Lockout bookkeeping: failures counted in memory at once, written back after the reply.

The policy itself (how many failures lock for how long) is
:class:`~enotime.login._users.Strikes`; this is where the login actor keeps
the failures it has not written yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from enotime.login._collaborators import Collaborators
from enotime.login._config import LoginConfig
from enotime.login._directory import UserDirectory
from enotime.login._outage import UNAVAILABLE
from enotime.login._records import DECOY_ID
from enotime.login._users import Strikes, User
from enotime.store import Conflict

__all__ = ["Lockout", "SaveStrikes"]

log = logging.getLogger("enotime.login")


@dataclass(frozen=True)
class SaveStrikes:
    """Internal: write back the failures of ``user`` counted in memory."""

    user: str


class Lockout:
    """The failures of each user that the store may not know of yet.

    Args:
        config: The lockout policy.
        clock: Wall-clock seconds since the epoch.
        users: Where the failures are written back.
        actors: To cast :class:`SaveStrikes` to the login actor itself.
    """

    def __init__(
        self,
        config: LoginConfig,
        clock: Callable[[], float],
        users: UserDirectory,
        actors: Collaborators,
    ) -> None:
        self._config = config
        self._clock = clock
        self._users = users
        self._actors = actors
        self._pending: dict[str, Strikes] = {}

    def strikes_of(self, user: User) -> Strikes:
        """The user's failures: the ones not yet written back, else the stored ones."""
        return self._pending.get(user.id) or user.strikes

    def locked(self, user: User, now: float) -> bool:
        """Whether ``user`` is locked at ``now`` (never, with lockout switched off)."""
        return self._config.lockout and self.strikes_of(user).locked(now)

    def clear(self, user_id: str) -> None:
        """Forget the failures of ``user_id`` not yet written (the caller writes zeros)."""
        self._pending.pop(user_id, None)

    def failed(self, user: User | None) -> None:
        """Count a failure now; write it back after the reply (None: write the decoy).

        Writing before replying would make a wrong password for a known user
        slower than an unknown user (a store write, with fsync, measured at
        ~9 ms beside a ~30 ms argon2 verify): a timing oracle for accounts.
        The count in memory is used at once, so a burst of attempts queued
        behind this one is counted all the same. An unknown or locked user
        gets a write of the same shape to a decoy user record, so that even
        the delay the write adds to the *next* request tells nothing.

        With lockout switched off nothing is counted or written, for a known
        user and an unknown one alike: the work stays the same for both.
        """
        if not self._config.lockout:
            return
        if user is None:
            self._actors.tell_self(SaveStrikes(DECOY_ID))
            return
        now = self._clock()
        strikes = self._pending[user.id] = self.strikes_of(user).after_failure(self._config, now)
        if strikes.locked(now):
            log.warning(
                "login: user %s locked after %d consecutive failures", user.id, strikes.failures
            )
        self._actors.tell_self(SaveStrikes(user.id))

    async def write_back(self, msg: SaveStrikes) -> None:
        """Write back a user's failures counted in memory (after a failed attempt)."""
        decoy = msg.user == DECOY_ID
        for _ in range(3):
            strikes = Strikes(0, 0) if decoy else self._pending.get(msg.user)
            if strikes is None:
                return  # cleared meanwhile (a login succeeded), or already written
            try:
                user = await self._users.get(msg.user)
                if user is None:
                    self._pending.pop(msg.user, None)
                    return
                fields = {"failures": strikes.failures, "locked_until": strikes.locked_until}
                await self._users.save(user.changed(**fields))
            except Conflict:
                continue  # the record changed meanwhile: read it again
            except UNAVAILABLE as error:  # kept in memory; written after the next failure
                log.warning("login: could not write the failures of %s: %r", msg.user, error)
                return
            if not decoy and self._pending.get(msg.user) is strikes:
                del self._pending[msg.user]
            return
