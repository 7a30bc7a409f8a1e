"""One-line metrics for user code: ``@timed("name")`` and ``with measure("name"):``.

Both count calls by outcome and time them, under one naming convention:

- ``<namespace>_<subsystem>_<name>_total{outcome="ok"|"error"|"cancelled"}``
  (a Counter);
- ``<namespace>_<subsystem>_<name>_duration_seconds`` (a Histogram),

with ``namespace="enotime"`` and ``subsystem="app"`` by default, so
``@timed("checkout")`` gives ``enotime_app_checkout_total`` and
``enotime_app_checkout_duration_seconds``. The metrics are registered once per
registry and name; later calls with the same name share them.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, TypeVar, cast

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from enotime._handler_timing import HANDLER_BUCKETS

__all__ = ["DEFAULT_BUCKETS", "Meter", "measure", "meter", "timed"]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_BUCKETS: Final[tuple[float, ...]] = HANDLER_BUCKETS
"""Histogram bounds in seconds: 100 µs to 10 s, as for metered handlers."""

_NAME: Final = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Meter:
    """The Counter and Histogram behind one name; made by :func:`meter`."""

    name: str
    """The full base name, e.g. ``enotime_app_checkout``."""
    counter: Counter
    histogram: Histogram
    _by_outcome: dict[str, Any] = field(repr=False, compare=False)

    def observe(self, seconds: float, outcome: str = "ok") -> None:
        """Count one call that took ``seconds``; ``outcome``: ``ok``, ``error``, ``cancelled``."""
        self._by_outcome[outcome].inc()
        self.histogram.observe(seconds)


_meters: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, Meter]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def meter(
    name: str,
    *,
    description: str = "",
    subsystem: str = "app",
    namespace: str = "enotime",
    buckets: Sequence[float] = DEFAULT_BUCKETS,
    registry: CollectorRegistry | None = None,
) -> Meter:
    """The :class:`Meter` for ``name``, registering its metrics on first use.

    ``name``, ``subsystem`` and ``namespace`` are lower-case snake case;
    ``description`` becomes the metrics' help text. ``buckets`` apply when the
    meter is first made (later calls share the first one's metrics).
    """
    for part in (name, subsystem, namespace):
        if not _NAME.match(part):
            raise ValueError(f"metric name parts are lower-case snake case, not {part!r}")
    if name.endswith(("_total", "_seconds", "_count", "_sum", "_bucket")):
        raise ValueError(f"{name!r}: leave the suffixes to the meter (_total, _duration_seconds)")
    full = f"{namespace}_{subsystem}_{name}"
    registry = REGISTRY if registry is None else registry
    with _lock:
        known = _meters.setdefault(registry, {})
        found = known.get(full)
        if found is not None:
            return found
        what = description or name.replace("_", " ")
        counter = Counter(
            f"{full}_total", f"Calls of {what}, by outcome.", ["outcome"], registry=registry
        )
        histogram = Histogram(
            f"{full}_duration_seconds", f"Duration of {what}.", buckets=buckets, registry=registry
        )
        made = known[full] = Meter(
            full,
            counter,
            histogram,
            {outcome: counter.labels(outcome) for outcome in ("ok", "error", "cancelled")},
        )
        return made


class measure:  # lower case: a context manager read as a verb, like contextlib.suppress
    """Count and time the block: ``with measure("name"):``.

    Takes the same arguments as :func:`meter`. An exception leaving the block
    counts as ``error`` (``cancelled`` for :class:`asyncio.CancelledError`)
    and propagates. One object may be entered again once it has exited.

    Example:
        >>> with measure("price_lookup"):
        ...     price = await catalogue.call(GetPrice(sku))
    """

    __slots__ = ("_meter", "_start")

    def __init__(self, name: str, **options: Any) -> None:
        self._meter = meter(name, **options)
        self._start = 0.0

    def __enter__(self) -> measure:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._meter.observe(time.perf_counter() - self._start, _outcome(exc_type))


def timed(name: str, **options: Any) -> Callable[[F], F]:
    """Count and time every call of the decorated function (plain or ``async``).

    Takes the same arguments as :func:`meter`. Works on actor handlers too,
    above or below ``@handler``: the per-handler metrics an actor declares.

    Example:
        >>> @timed("invoice_render", description="rendering an invoice")
        ... async def render(invoice: Invoice) -> bytes: ...
    """
    the_meter = meter(name, **options)

    def decorate(function: F) -> F:
        clock = time.perf_counter
        observe = the_meter.observe
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                start, outcome = clock(), "ok"
                try:
                    return await function(*args, **kwargs)
                except BaseException as exc:
                    outcome = _outcome(type(exc))
                    raise
                finally:
                    observe(clock() - start, outcome)

            return cast(F, timed_async)

        @functools.wraps(function)
        def timed_sync(*args: Any, **kwargs: Any) -> Any:
            start, outcome = clock(), "ok"
            try:
                return function(*args, **kwargs)
            except BaseException as exc:
                outcome = _outcome(type(exc))
                raise
            finally:
                observe(clock() - start, outcome)

        return cast(F, timed_sync)

    return decorate


def _outcome(exc_type: type[BaseException] | None) -> str:
    if exc_type is None:
        return "ok"
    return "cancelled" if issubclass(exc_type, asyncio.CancelledError) else "error"
