"""The revocation list: kept in the store, pushed to every front at each change."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from enotime.auth import RevocationList, RevocationsChanged
from enotime.login._collaborators import Collaborators
from enotime.login._config import LoginConfig
from enotime.login._records import REVOCATIONS_ID, STATE
from enotime.store import Conflict, NotFound, Record, StoreClient

__all__ = ["RevocationPublisher"]

log = logging.getLogger("enotime.login")


class RevocationPublisher:
    """The access tokens the login actor revoked, and the fronts it tells of them.

    Args:
        config: The fronts' registered names.
        clock: Wall-clock seconds since the epoch.
        actors: The store the list is kept in, and the fronts.
    """

    def __init__(
        self, config: LoginConfig, clock: Callable[[], float], actors: Collaborators
    ) -> None:
        self._config = config
        self._clock = clock
        self._actors = actors
        self._revocations = RevocationList(clock)
        self._rev: str | None = None

    def snapshot(self) -> dict[str, Any]:
        """The list as the fronts merge it."""
        return self._revocations.snapshot()

    async def load(self, store: StoreClient) -> None:
        """Merge the list kept in ``store`` (a restarted actor still refuses what it revoked)."""
        try:
            record = await store.get(REVOCATIONS_ID)
        except NotFound:
            return
        snapshot = record.fields.get("snapshot")
        if isinstance(snapshot, dict):
            self._revocations.merge(snapshot)
        self._rev = record.rev

    def revoke_token(self, jti: str, expires_at: float) -> None:
        """Refuse the access token ``jti`` until it expires (published by :meth:`publish`)."""
        self._revocations.revoke(jti, expires_at)

    async def revoke_user(self, user_id: str) -> None:
        """Refuse every access token of ``user_id`` issued so far, at every front."""
        self._revocations.revoke_subject(user_id, _up_to(self._clock()))
        await self.publish()

    async def publish(self) -> None:
        """Keep the revocation list in the store and push it to every front."""
        snapshot = self._revocations.snapshot()
        store = self._actors.store
        for _ in range(3):
            record = Record(REVOCATIONS_ID, STATE.name, {"snapshot": snapshot})
            try:
                self._rev = await store.put(record, self._rev)
                break
            except Conflict:  # written elsewhere: merge theirs and try again
                stored = await store.get(REVOCATIONS_ID)
                theirs = stored.fields.get("snapshot")
                if isinstance(theirs, dict):
                    self._revocations.merge(theirs)
                self._rev = stored.rev
                snapshot = self._revocations.snapshot()
        for name in self._config.fronts:
            front = self._actors.whereis(name)
            if front is None:
                log.warning("login: no front %r to tell of a revocation", name)
                continue
            front.send(RevocationsChanged(snapshot))


def _up_to(now: float) -> float:
    # revoke_subject refuses tokens issued *before* the time given: include this instant.
    return math.nextafter(now, math.inf)
