"""Rate limits: what a declaration says, and how quart-rate-limiter counts it.

quart-rate-limiter does the counting (GCRA: each limit keeps one theoretical
arrival time per key). Its keys include the route, so every limit counts per
route: "60 a minute per address" means 60 a minute per address *on each
route*. The counters live in this front's memory: a limit holds per front
node, not across the cluster (N fronts behind a balancer let up to N times
the count through).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from quart import g, request
from quart_rate_limiter import RateLimit as _LibraryLimit
from quart_rate_limiter.store import RateLimiterStoreABC

__all__ = [
    "BoundedMemoryStore",
    "RateLimit",
    "address_limits",
    "client_address",
    "route_limits",
    "subject_limits",
]

DEFAULT_MAX_KEYS: Final = 100_000
"""How many counters the in-memory store keeps before it forgets the oldest."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` requests in ``period`` seconds (bursts up to ``count`` allowed).

    Counted per key (a client address, or a token's subject) and per route,
    in the memory of one front node: a limit holds per node, not across the
    cluster. A request over the limit gets ``429`` with ``Retry-After``.
    """

    count: int
    period: float

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"a rate limit's count must be a positive int, not {self.count!r}")
        if not (isinstance(self.period, int | float) and math.isfinite(self.period)):
            raise ValueError(f"a rate limit's period must be finite seconds, not {self.period!r}")
        if self.period <= 0:
            raise ValueError(f"a rate limit's period must be positive, not {self.period!r}")

    def per_address(self) -> _LibraryLimit:
        """This limit as quart-rate-limiter counts it, keyed by the client address."""
        return _LibraryLimit(self.count, timedelta(seconds=self.period), client_address)

    def per_route_address(self) -> _LibraryLimit:
        """Keyed by the client address too, but counted apart from the front-wide limits.

        quart-rate-limiter keys a counter by route, count, period and key: a
        route's own limit equal to a front-wide one would share its counter
        and count each request twice.
        """
        return _LibraryLimit(self.count, timedelta(seconds=self.period), _route_client_address)

    def per_subject(self) -> _LibraryLimit:
        """This limit keyed by the verified token's ``sub``; skipped for anonymous requests."""
        return _LibraryLimit(
            self.count, timedelta(seconds=self.period), _subject, skip_function=_anonymous
        )


def address_limits(limits: Iterable[RateLimit]) -> list[_LibraryLimit]:
    """quart-rate-limiter limits counting per client address."""
    return [limit.per_address() for limit in limits]


def route_limits(limits: Iterable[RateLimit]) -> list[_LibraryLimit]:
    """A route's own limits, per client address, counted apart from the front-wide ones."""
    return [limit.per_route_address() for limit in limits]


def subject_limits(limits: Iterable[RateLimit]) -> list[_LibraryLimit]:
    """quart-rate-limiter limits counting per token subject (authenticated requests only)."""
    return [limit.per_subject() for limit in limits]


async def client_address() -> str:
    """The key of per-address limits: the peer address of the connection.

    Not ``X-Forwarded-For`` (quart-rate-limiter's default reads it, and any
    client can set it to escape its limit). Behind a proxy, set
    ``EdgeConfig.trusted_proxy_hops`` so the front rewrites the peer address
    from the proxy's headers first.
    """
    return f"ip:{request.remote_addr or '-'}"


async def _route_client_address() -> str:
    return f"route-ip:{request.remote_addr or '-'}"


async def _subject() -> str:
    claims = g.get("claims")
    return f"sub:{claims.get('sub', '-')}" if claims else "sub:-"


async def _anonymous() -> bool:
    return not g.get("claims")


class BoundedMemoryStore(RateLimiterStoreABC):
    """quart-rate-limiter's in-memory store, with a bound on how many keys it holds.

    The library's ``MemoryStore`` never forgets a key, so a flood of distinct
    client addresses would grow it without end. When this store is full it
    first drops the counters that have run out (their stored time is in the
    past, which reads exactly like no entry), then, if still full, the tenth
    of the keys inserted first: those clients start again from a full
    allowance. Memory stays bounded; the limit fails open only for keys
    beyond ``max_keys``.
    """

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be positive, not {max_keys!r}")
        self.max_keys = max_keys
        self._tats: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._tats)

    async def get(self, key: str, default: datetime) -> datetime:
        return self._tats.get(key, default)

    async def set(self, key: str, tat: datetime) -> None:
        tats = self._tats
        if key not in tats and len(tats) >= self.max_keys:
            self._evict()
        tats[key] = tat

    def _evict(self) -> None:
        now = datetime.now(UTC)
        tats = self._tats
        for key in [key for key, tat in tats.items() if tat <= now]:
            del tats[key]
        if len(tats) >= self.max_keys:
            for key in list(tats)[: max(1, self.max_keys // 10)]:
                del tats[key]

    async def before_serving(self) -> None:
        """Nothing to open: the counters live in this process."""

    async def after_serving(self) -> None:
        """Forget every counter (a restarted front starts afresh)."""
        self._tats.clear()
