"""What the fronts of a node counted: requests, latency, refused tokens, rate limits.

Statistics first, metrics second: a front counts each request with plain ints
into its node's :class:`ApiCounts` (one per node, outliving the fronts, so a
restarted front continues the counts) and ``enotime.metrics`` reads a
snapshot (:func:`api_statistics`) only when Prometheus scrapes.

Labels are bounded: a route is the path template it matched
(``/accounts/<account>/notes``, converters left out), ``unmatched`` for a
path no route serves (404) or a method it does not answer (405); a method
outside the usual ones is ``other``; a token problem is a
:class:`~enotime.auth.TokenProblem` value or ``missing``.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from enotime._handler_timing import HANDLER_BUCKETS, HandlerTiming
from enotime._per_node import PerNode
from enotime.auth import TokenProblem

if TYPE_CHECKING:
    from enotime._node import Node

__all__ = [
    "AUTH_PROBLEMS",
    "MISSING_TOKEN",
    "OTHER_METHOD",
    "UNMATCHED",
    "ApiCounts",
    "ApiStatistics",
    "RouteTiming",
    "api_counts",
    "api_statistics",
    "route_label",
]

UNMATCHED: Final = "unmatched"
"""The route of a request no route matched: an unknown path, or a method the path does not take."""
OTHER_METHOD: Final = "other"
"""The method label of any method but the usual ones (a client may send any token)."""
MISSING_TOKEN: Final = "missing"
"""The problem of a request to a protected route without a ``Bearer`` ``Authorization``."""
AUTH_PROBLEMS: Final = (MISSING_TOKEN, *(problem.value for problem in TokenProblem))
"""Every label of refused authentications; each series exists, at 0, from the start."""

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CONVERTER: Final = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_FIRST_BOUND: Final = HANDLER_BUCKETS[0]


def route_label(rule: str) -> str:
    """The route label of a path template: its converters left out (``<int:id>``: ``<id>``)."""
    return _CONVERTER.sub(r"<\1>", rule)


class ApiCounts:
    """Running counts of one node's fronts: plain ints, updated on each request.

    Attributes:
        requests: Answered requests by ``(route, method, status)``.
        timings: Latency by ``(route, method)``, from the request's start to
            its response (before the body is sent).
        auth_failures: Refused authentications by problem (:data:`AUTH_PROBLEMS`).
        rate_limited: Requests refused by a rate limit, by route.
        in_flight: Requests being handled now.
    """

    __slots__ = ("__weakref__", "auth_failures", "in_flight", "rate_limited", "requests", "timings")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.timings: dict[tuple[str, str], HandlerTiming] = {}
        self.auth_failures: dict[str, int] = dict.fromkeys(AUTH_PROBLEMS, 0)
        self.rate_limited: dict[str, int] = {}
        self.in_flight = 0

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (``method`` as the client sent it)."""
        if method not in _METHODS:
            method = OTHER_METHOD
        key = (route, method, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        timing = self.timings.get((route, method))
        if timing is None:
            timing = self.timings[route, method] = HandlerTiming()
        timing.count += 1
        timing.sum += seconds
        # HandlerTiming.observe, inlined: most answers land in the first buckets.
        timing.buckets[
            0 if seconds <= _FIRST_BOUND else bisect.bisect_left(HANDLER_BUCKETS, seconds)
        ] += 1

    def refused(self, problem: TokenProblem | None) -> None:
        """Count one refused authentication (None: no Bearer token at all)."""
        self.auth_failures[MISSING_TOKEN if problem is None else problem.value] += 1

    def limited(self, route: str) -> None:
        """Count one request refused by a rate limit."""
        self.rate_limited[route] = self.rate_limited.get(route, 0) + 1

    def snapshot(self) -> ApiStatistics:
        """A copy of the counts, for inspection and metrics."""
        bounds = (*HANDLER_BUCKETS, float("inf"))
        return ApiStatistics(
            requests=dict(self.requests),
            durations=tuple(
                RouteTiming(
                    route=route,
                    method=method,
                    count=timing.count,
                    sum_seconds=timing.sum,
                    buckets=tuple(zip(bounds, itertools.accumulate(timing.buckets), strict=True)),
                )
                for (route, method), timing in sorted(self.timings.items())
            ),
            auth_failures=dict(self.auth_failures),
            rate_limited=dict(self.rate_limited),
            in_flight=self.in_flight,
        )


@dataclass(frozen=True, slots=True)
class RouteTiming:
    """Latency of one route and method.

    Attributes:
        route: The route label.
        method: The method label.
        count: Requests timed.
        sum_seconds: Their summed duration.
        buckets: Cumulative ``(upper bound in seconds, count)`` pairs, ending
            with ``(inf, count)``.
    """

    route: str
    method: str
    count: int
    sum_seconds: float
    buckets: tuple[tuple[float, int], ...]


@dataclass(frozen=True, slots=True)
class ApiStatistics:
    """What a node's fronts counted (see :class:`ApiCounts` for each field)."""

    requests: Mapping[tuple[str, str, int], int]
    durations: tuple[RouteTiming, ...]
    auth_failures: Mapping[str, int]
    rate_limited: Mapping[str, int]
    in_flight: int


_counts: PerNode[ApiCounts] = PerNode(ApiCounts)


def api_counts(node: Node) -> ApiCounts:
    """The running counts of ``node``'s fronts, made on first use (by a front's start)."""
    return _counts.of(node)


def api_statistics(node: Node) -> ApiStatistics | None:
    """What the fronts of ``node`` counted; None if no front has started there."""
    counts = _counts.get(node)
    return None if counts is None else counts.snapshot()
