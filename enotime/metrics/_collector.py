"""The node's statistics as Prometheus metrics, read at scrape time.

Nothing here runs on the kernel's hot path: the node counts with plain ints
(``Node.statistics``, ``Node.class_statistics``, ``Node.handler_statistics``)
and :class:`NodeCollector` turns a snapshot of them into metric families only
when a scrape asks -- with those of the transport, the store, crypto and
login actors and the HTTP fronts running on the node (``_subsystems``).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from enotime._node import Node
from enotime.metrics._subsystems import subsystem_families, subsystem_metrics

__all__ = ["NODE_METRICS", "NodeCollector", "instrument", "uninstrument"]

log = logging.getLogger("enotime.metrics")

NODE_METRICS: dict[str, str] = {
    "enotime_node_info": "gauge",
    "enotime_actor_alive": "gauge",
    "enotime_actor_spawned_total": "counter",
    "enotime_actor_crashed_total": "counter",
    "enotime_actor_dead_letters_total": "counter",
    "enotime_actor_messages_handled_total": "counter",
    "enotime_actor_mailbox_depth_messages": "gauge",
    "enotime_actor_mailbox_depth_max_messages": "gauge",
    "enotime_actor_handler_duration_seconds": "histogram",
    "enotime_supervisor_restarts_total": "counter",
}
"""Every metric :class:`NodeCollector` exposes (as named in the text format), and its type."""


class NodeCollector(Collector):
    """A Prometheus collector that reads one node's statistics at each scrape.

    Labels are bounded: ``actor_class`` (the class's qualified name),
    ``handler`` (a method name), ``supervisor`` (a registered name, else the
    class) and ``child`` (a child spec id) -- never an actor id.

    Beside the node's own (:data:`NODE_METRICS`), it exposes the subsystems
    that run on the node: its transport and gateway once the node is
    connected (:data:`~enotime.metrics.TRANSPORT_METRICS`), its store, crypto
    and login actors and its fronts once one has started (``STORE_METRICS``,
    ``CRYPTO_METRICS``, ``LOGIN_METRICS``, ``API_METRICS``).

    Register it with :func:`instrument` (idempotent, and refuses a second node
    in the same registry) rather than by hand.
    """

    def __init__(self, node: Node) -> None:
        self.node = node

    def describe(self) -> Iterable[Metric]:
        # Lets the registry refuse a second collector exporting the same names.
        return [*_Families().all(), *subsystem_metrics()]

    def collect(self) -> Iterable[Metric]:
        node = self.node
        families = _Families()
        stats = node.statistics()
        families.info.add_metric([node.name], 1)
        families.spawned.add_metric([], stats.spawned_total)
        families.dead_letters.add_metric([], stats.dead_letters_total)
        for cls in node.class_statistics():
            label = [cls.actor_class]
            families.alive.add_metric(label, cls.alive)
            families.crashed.add_metric(label, cls.crashed_total)
            families.handled.add_metric(label, cls.messages_handled_total)
            families.depth.add_metric(label, cls.mailbox_depth)
            families.depth_max.add_metric(label, cls.mailbox_depth_max)
        for timing in node.handler_statistics():
            families.latency.add_metric(
                [timing.actor_class, timing.handler],
                buckets=[(_bound(le), count) for le, count in timing.buckets],
                sum_value=timing.sum_seconds,
            )
        for (supervisor, child_id), restarts in sorted(stats.restarts_by_child.items()):
            families.restarts.add_metric([supervisor, child_id], restarts)
        return [*families.all(), *subsystem_families(node)]

    def __repr__(self) -> str:
        return f"<NodeCollector {self.node.name!r}>"


class _Families:
    """Fresh, empty metric families: one set per scrape."""

    def __init__(self) -> None:
        by_class = ["actor_class"]
        self.info = GaugeMetricFamily(
            "enotime_node_info", "The ENoTime node of this process (always 1).", labels=["node"]
        )
        self.alive = GaugeMetricFamily(
            "enotime_actor_alive", "Actors alive, by actor class.", labels=by_class
        )
        self.spawned = CounterMetricFamily(
            "enotime_actor_spawned", "Actors spawned since the node started."
        )
        self.crashed = CounterMetricFamily(
            "enotime_actor_crashed",
            "Actors that stopped by crashing (an exception), by actor class.",
            labels=by_class,
        )
        self.dead_letters = CounterMetricFamily(
            "enotime_actor_dead_letters",
            "Messages no handler received (dead actor, no handler, mailbox overflow).",
        )
        self.handled = CounterMetricFamily(
            "enotime_actor_messages_handled",
            "Messages taken from mailboxes, by actor class (including gone actors).",
            labels=by_class,
        )
        self.depth = GaugeMetricFamily(
            "enotime_actor_mailbox_depth_messages",
            "Messages waiting in mailboxes, summed by actor class.",
            labels=by_class,
        )
        self.depth_max = GaugeMetricFamily(
            "enotime_actor_mailbox_depth_max_messages",
            "The deepest mailbox of each actor class.",
            labels=by_class,
        )
        self.latency = HistogramMetricFamily(
            "enotime_actor_handler_duration_seconds",
            "Handler latency of metered actor classes (metered = True), by handler.",
            labels=["actor_class", "handler"],
        )
        self.restarts = CounterMetricFamily(
            "enotime_supervisor_restarts",
            "Children restarted, by supervisor (registered name or class) and child id.",
            labels=["supervisor", "child"],
        )

    def all(self) -> list[Metric]:
        return [
            self.info,
            self.alive,
            self.spawned,
            self.crashed,
            self.dead_letters,
            self.handled,
            self.depth,
            self.depth_max,
            self.latency,
            self.restarts,
        ]


def _bound(le: float) -> str:
    """A bucket bound as the exposition format writes it."""
    return "+Inf" if le == float("inf") else repr(le)


# registry -> (collector, how many users asked for it)
_installed: weakref.WeakKeyDictionary[CollectorRegistry, tuple[NodeCollector, int]] = (
    weakref.WeakKeyDictionary()
)


def instrument(node: Node, registry: CollectorRegistry | None = None) -> NodeCollector:
    """Expose ``node``'s statistics in ``registry`` (default: prometheus-client's global one).

    Idempotent per node: each call must be paired with :func:`uninstrument`,
    and the collector leaves the registry with the last one.

    Raises:
        ValueError: the registry already exposes another node. Metric names
            carry no node label, so one registry serves one node: give each
            node of a process its own :class:`~prometheus_client.CollectorRegistry`.
    """
    registry = REGISTRY if registry is None else registry
    installed = _installed.get(registry)
    if installed is not None:
        collector, users = installed
        if collector.node is not node:
            raise ValueError(
                f"this registry already exposes node {collector.node.name!r}; "
                f"give node {node.name!r} a registry of its own"
            )
        _installed[registry] = (collector, users + 1)
        return collector
    collector = NodeCollector(node)
    registry.register(collector)
    _installed[registry] = (collector, 1)
    log.debug("node %s: statistics exposed in %r", node.name, registry)
    return collector


def uninstrument(node: Node, registry: CollectorRegistry | None = None) -> None:
    """Undo one :func:`instrument` call; a no-op if ``node`` is not exposed there."""
    registry = REGISTRY if registry is None else registry
    installed = _installed.get(registry)
    if installed is None or installed[0].node is not node:
        return
    collector, users = installed
    if users > 1:
        _installed[registry] = (collector, users - 1)
        return
    del _installed[registry]
    registry.unregister(collector)
    log.debug("node %s: statistics withdrawn from %r", node.name, registry)
