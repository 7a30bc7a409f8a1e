"""The front's copy of the login actor's public keys, refreshed sparingly."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from enotime.auth import Jwks, TokenVerifier
from enotime.errors import EnotimeError

if TYPE_CHECKING:
    from enotime import Node

__all__ = ["JwksCache"]

log = logging.getLogger("enotime.edge")

_EMPTY = json.dumps({"keys": []}).encode()


class JwksCache:
    """Fetches the JWKS from the actor named ``source`` and hands it to the verifier.

    :meth:`load` fetches at start. :meth:`refresh` fetches again when a token
    names a kid the verifier does not know (a key was rotated in) — at most
    once per ``floor`` seconds on ``clock``, and concurrent callers share one
    fetch, so a client inventing kids cannot make the front hammer the login
    actor. Failures are logged and leave the known keys in place.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        node: Node,
        source: str,
        floor: float,
        clock: Callable[[], float],
        timeout: float = 5.0,
    ) -> None:
        self._verifier = verifier
        self._node = node
        self._source = source
        self._floor = floor
        self._clock = clock
        self._timeout = timeout
        self._last_refresh: float | None = None
        self._inflight: asyncio.Future[bool] | None = None
        self.document: bytes = _EMPTY
        """The JWKS as served on ``/.well-known/jwks.json`` (JSON bytes)."""
        self.fetches = 0
        """How many fetches were attempted (for tests and statistics)."""
        self.generation = 0
        """Bumped each time a JWKS is installed: what was verified before may be stale."""

    @property
    def loaded(self) -> bool:
        """True once a JWKS was fetched."""
        return self.document is not _EMPTY

    async def load(self) -> bool:
        """Fetch now (at start); True if a JWKS was installed.

        It does not count towards the floor: a key rotated in right after the
        front started is picked up by the first token that uses it.
        """
        return await self._shared_fetch()

    async def refresh(self) -> bool:
        """Fetch again unless a refresh ran less than ``floor`` seconds ago; True if installed."""
        if self._inflight is None:
            now = self._clock()
            last = self._last_refresh
            if last is not None and now - last < self._floor:
                return False
            self._last_refresh = now
        return await self._shared_fetch()

    async def _shared_fetch(self) -> bool:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._forget)
        return await asyncio.shield(self._inflight)

    def _forget(self, _: asyncio.Future[bool]) -> None:
        self._inflight = None

    async def aclose(self) -> None:
        """Cancel a fetch still running (the front is stopping)."""
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            inflight.cancel()
            await asyncio.wait({inflight})

    async def _fetch(self) -> bool:
        self.fetches += 1
        ref = login_ref(self._node, self._source)
        if ref is None:
            log.warning("no JWKS: no actor is registered as %r on this node", self._source)
            return False
        try:
            jwks: dict[str, Any] = await ref.call(Jwks(), timeout=self._timeout)
            self._verifier.update_jwks(jwks)
            document = json.dumps(jwks).encode()
        except (EnotimeError, ValueError, TypeError) as error:
            log.warning("no JWKS from %r: %s", self._source, error)
            return False
        self.document = document
        self.generation += 1
        log.info("JWKS from %r: kids %s", self._source, ", ".join(self._verifier.kids) or "none")
        return True


def login_ref(node: Node, source: str) -> Any:
    """The login actor ``source`` on this node or, on a connected node, the cluster service.

    None when neither exists (not connected, nothing registered locally).
    """
    ref = node.whereis(source)
    if ref is None and node.gateway is not None:
        return node.service(source)
    return ref
