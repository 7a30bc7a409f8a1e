"""Prometheus metrics for ENoTime nodes and for the code that runs on them.

Needs the ``metrics`` extra: ``pip install "enotime[metrics]"``.

- :class:`MetricsServer` (placed by :func:`metrics_child`, or started by
  :func:`start_metrics`) serves ``/metrics`` on loopback; it exposes its
  node's statistics through a :class:`NodeCollector`, read at scrape time so
  the kernel never calls prometheus-client on its hot path.
- ``metered = True`` on an actor class adds its handler latency histogram.
- :func:`timed` and :func:`measure` count and time anything in user code.
- The node's transport, store, crypto and login actors and its HTTP fronts
  are exposed too when they run (:data:`TRANSPORT_METRICS`,
  :data:`STORE_METRICS`, :data:`CRYPTO_METRICS`, :data:`LOGIN_METRICS`,
  :data:`API_METRICS`).

Names follow ``enotime_<subsystem>_<what>_<unit>``; labels are bounded (actor
class, handler name, supervisor, child id, route template, outcome), never an
actor id, a user or an address.
See ``docs/metrics.md``.
"""

try:
    import prometheus_client  # noqa: F401 - fail here, with the fix, not deep inside
except ImportError as exc:  # pragma: no cover - the extra is installed in development
    raise ImportError(
        'enotime.metrics needs prometheus-client: pip install "enotime[metrics]"'
    ) from exc

from enotime.metrics._collector import NODE_METRICS, NodeCollector, instrument, uninstrument
from enotime.metrics._measure import DEFAULT_BUCKETS, Meter, measure, meter, timed
from enotime.metrics._server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SERVER_NAME,
    GetAddress,
    MetricsServer,
    metrics_child,
    server_address,
    start_metrics,
)
from enotime.metrics._subsystems import (
    API_METRICS,
    CRYPTO_METRICS,
    LOGIN_METRICS,
    STORE_METRICS,
    TRANSPORT_METRICS,
)

__all__ = [
    "API_METRICS",
    "CRYPTO_METRICS",
    "DEFAULT_BUCKETS",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "LOGIN_METRICS",
    "NODE_METRICS",
    "SERVER_NAME",
    "STORE_METRICS",
    "TRANSPORT_METRICS",
    "GetAddress",
    "Meter",
    "MetricsServer",
    "NodeCollector",
    "instrument",
    "measure",
    "meter",
    "metrics_child",
    "server_address",
    "start_metrics",
    "timed",
    "uninstrument",
]
