"""The statistics of the transport, the store, crypto and login actors and the fronts as metrics.

Like the kernel's, these statistics are plain counters kept by the subsystems
themselves (``transport.statistics()``, ``gateway.statistics()``,
:func:`~enotime.store._service.store_statistics`,
:func:`~enotime.crypto._service.crypto_statistics`,
:func:`~enotime.edge._statistics.api_statistics`,
:func:`~enotime.login._statistics.login_statistics`); the families here are
built from a snapshot only when a scrape asks, and only for the subsystems
that run on the node: a node without a transport exposes no ``enotime_transport_*``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from enotime._gateway import GatewayStatistics
from enotime._node import Node
from enotime.crypto._service import OperationStatistics, crypto_statistics
from enotime.store._service import store_statistics
from enotime.transport._port import TransportStatistics

if TYPE_CHECKING:
    from enotime.edge._statistics import ApiStatistics
    from enotime.login._statistics import LoginStatistics

__all__ = [
    "API_METRICS",
    "CRYPTO_METRICS",
    "LOGIN_METRICS",
    "STORE_METRICS",
    "TRANSPORT_METRICS",
    "subsystem_families",
    "subsystem_metrics",
]

TRANSPORT_METRICS: dict[str, str] = {
    "enotime_transport_messages_published_total": "counter",
    "enotime_transport_messages_consumed_total": "counter",
    "enotime_transport_messages_handled_total": "counter",
    "enotime_transport_messages_redelivered_total": "counter",
    "enotime_transport_messages_requeued_total": "counter",
    "enotime_transport_messages_dead_lettered_total": "counter",
    "enotime_transport_calls_expired_total": "counter",
    "enotime_transport_calls_pending": "gauge",
    "enotime_transport_call_duration_seconds": "histogram",
    "enotime_transport_call_failures_total": "counter",
    "enotime_transport_send_failures_total": "counter",
    "enotime_transport_connected": "gauge",
    "enotime_transport_reconnects_total": "counter",
    "enotime_transport_outbox_messages": "gauge",
    "enotime_transport_unknown_actor_deliveries_total": "counter",
    "enotime_transport_remote_monitors": "gauge",
    "enotime_transport_remote_watches": "gauge",
    "enotime_transport_watches_dropped_total": "counter",
    "enotime_transport_heartbeat_failures_total": "counter",
    "enotime_transport_nodes_lost_total": "counter",
    "enotime_transport_remote_links": "gauge",
    "enotime_transport_nodes_restarted_total": "counter",
    "enotime_transport_exit_signals_total": "counter",
    "enotime_transport_remote_timers": "gauge",
}
"""Every metric of a connected node's transport and gateway (exposed name), and its type."""

STORE_METRICS: dict[str, str] = {
    "enotime_store_operation_duration_seconds": "histogram",
    "enotime_store_operation_errors_total": "counter",
}
"""Every metric of a node's store actors (exposed name), and its type."""

CRYPTO_METRICS: dict[str, str] = {
    "enotime_crypto_operation_duration_seconds": "histogram",
    "enotime_crypto_operation_errors_total": "counter",
    "enotime_crypto_sealed": "gauge",
    "enotime_crypto_batches_total": "counter",
    "enotime_crypto_batched_operations_total": "counter",
}
"""Every metric of a node's crypto actors (exposed name), and its type."""

API_METRICS: dict[str, str] = {
    "enotime_api_requests_total": "counter",
    "enotime_api_request_duration_seconds": "histogram",
    "enotime_api_auth_failures_total": "counter",
    "enotime_api_rate_limited_total": "counter",
    "enotime_api_requests_in_flight": "gauge",
}
"""Every metric of a node's fronts (exposed name), and its type."""

LOGIN_METRICS: dict[str, str] = {
    "enotime_login_registrations_total": "counter",
    "enotime_login_logins_total": "counter",
    "enotime_login_mfa_events_total": "counter",
    "enotime_login_tokens_issued_total": "counter",
    "enotime_login_refresh_total": "counter",
    "enotime_login_password_resets_total": "counter",
}
"""Every metric of a node's login actors (exposed name), and its type."""

_DEAD_LETTER_REASONS = ("crashed",)
"""Reasons whose series exist from the start, at 0, so ``increase()`` sees the first one."""


def _bound(le: float) -> str:
    return "+Inf" if le == float("inf") else repr(le)


def _buckets(pairs: Iterable[tuple[float, int]]) -> list[tuple[str, float]]:
    return [(_bound(le), count) for le, count in pairs]


class _Transport:
    """Fresh, empty transport and gateway families: one set per scrape."""

    def __init__(self) -> None:
        name = "enotime_transport_"
        self.published = CounterMetricFamily(
            name + "messages_published",
            "Messages the broker confirmed, by kind (send, call, reply).",
            labels=["kind"],
        )
        self.consumed = CounterMetricFamily(
            name + "messages_consumed",
            "Messages taken from this node's queues, by queue kind (node, service, reply).",
            labels=["queue"],
        )
        self.handled = CounterMetricFamily(
            name + "messages_handled",
            "Work messages whose handler finished (answered calls and refusals included).",
        )
        self.redelivered = CounterMetricFamily(
            name + "messages_redelivered", "Work messages consumed again after a requeue."
        )
        self.requeued = CounterMetricFamily(
            name + "messages_requeued", "Messages requeued because their handler crashed."
        )
        self.dead_lettered = CounterMetricFamily(
            name + "messages_dead_lettered",
            "Messages sent to the dead-letter queue, by reason (crashed, or the wire error).",
            labels=["reason"],
        )
        self.expired = CounterMetricFamily(
            name + "calls_expired", "Calls dropped unhandled because their deadline had passed."
        )
        self.pending = GaugeMetricFamily(
            name + "calls_pending", "Remote calls waiting for their reply."
        )
        self.latency = HistogramMetricFamily(
            name + "call_duration_seconds",
            "Remote call latency, publish to reply (failed calls included).",
        )
        self.call_failures = CounterMetricFamily(
            name + "call_failures",
            "Remote calls that raised, by error class (CallTimeout, RemoteError, ...).",
            labels=["error"],
        )
        self.send_failures = CounterMetricFamily(
            name + "send_failures",
            "Sends that raised, by error class (Unroutable, PublishFailed, ...).",
            labels=["error"],
        )
        self.connected = GaugeMetricFamily(
            name + "connected", "1 while the transport can move messages (broker connected)."
        )
        self.reconnects = CounterMetricFamily(
            name + "reconnects", "Times the broker connection came back after it broke."
        )
        self.outbox = GaugeMetricFamily(
            name + "outbox_messages", "Remote sends queued by the gateway, not yet published."
        )
        self.unknown_actor = CounterMetricFamily(
            name + "unknown_actor_deliveries",
            "Messages from other nodes to a name no local actor held.",
        )
        self.monitors = GaugeMetricFamily(
            name + "remote_monitors", "Monitors this node holds on actors of other nodes."
        )
        self.watches = GaugeMetricFamily(
            name + "remote_watches", "Monitors other nodes hold on this node's actors."
        )
        self.watches_dropped = CounterMetricFamily(
            name + "watches_dropped",
            "Watches dropped because their watching node stopped answering or restarted.",
        )
        self.heartbeat_failures = CounterMetricFamily(
            name + "heartbeat_failures", "Heartbeats to other nodes that failed or timed out."
        )
        self.nodes_lost = CounterMetricFamily(
            name + "nodes_lost",
            "Nodes declared gone after missed heartbeats (their monitors got noconnection).",
        )
        self.links = GaugeMetricFamily(
            name + "remote_links", "Links between local actors and actors of other nodes."
        )
        self.nodes_restarted = CounterMetricFamily(
            name + "nodes_restarted",
            "Nodes seen under a new incarnation (monitors and links on the old one fired).",
        )
        self.exit_signals = CounterMetricFamily(
            name + "exit_signals", "Exit signals from other nodes delivered to local actors."
        )
        self.timers = GaugeMetricFamily(
            name + "remote_timers", "Pending send_after timers aimed at actors of other nodes."
        )

    def all(self) -> list[Metric]:
        return list(vars(self).values())


class _Operations:
    """Fresh, empty families of one service actor kind (``store`` or ``crypto``)."""

    def __init__(self, subsystem: str, what: str) -> None:
        self.latency = HistogramMetricFamily(
            f"enotime_{subsystem}_operation_duration_seconds",
            f"{what} operation latency, by operation (failed ones included).",
            labels=["operation"],
        )
        self.errors = CounterMetricFamily(
            f"enotime_{subsystem}_operation_errors",
            f"{what} operations that raised, by operation and error class.",
            labels=["operation", "error"],
        )

    def add(self, operations: Iterable[OperationStatistics]) -> None:
        for stats in operations:
            self.latency.add_metric(
                [stats.operation], buckets=_buckets(stats.buckets), sum_value=stats.sum_seconds
            )
            for error, count in sorted(stats.errors.items()):
                self.errors.add_metric([stats.operation, error], count)

    def all(self) -> list[Metric]:
        return [self.latency, self.errors]


class _Crypto(_Operations):
    def __init__(self) -> None:
        super().__init__("crypto", "Crypto")
        self.sealed = GaugeMetricFamily(
            "enotime_crypto_sealed", "1 while the crypto engine is sealed (refuses key operations)."
        )
        self.batches = CounterMetricFamily(
            "enotime_crypto_batches", "Batch requests the crypto actor performed."
        )
        self.batched = CounterMetricFamily(
            "enotime_crypto_batched_operations", "Operations carried by batch requests."
        )

    def all(self) -> list[Metric]:
        return [*super().all(), self.sealed, self.batches, self.batched]


class _Api:
    """Fresh, empty families of a node's fronts."""

    def __init__(self) -> None:
        self.requests = CounterMetricFamily(
            "enotime_api_requests",
            "HTTP requests answered, by route (path template; unmatched), method and status.",
            labels=["route", "method", "status"],
        )
        self.latency = HistogramMetricFamily(
            "enotime_api_request_duration_seconds",
            "HTTP request latency, to the response, by route and method.",
            labels=["route", "method"],
        )
        self.auth_failures = CounterMetricFamily(
            "enotime_api_auth_failures",
            "Access tokens refused, by problem (missing: no Bearer token).",
            labels=["problem"],
        )
        self.rate_limited = CounterMetricFamily(
            "enotime_api_rate_limited",
            "Requests refused by a rate limit (429), by route.",
            labels=["route"],
        )
        self.in_flight = GaugeMetricFamily(
            "enotime_api_requests_in_flight", "HTTP requests being handled now."
        )

    def all(self) -> list[Metric]:
        return list(vars(self).values())


class _Login:
    """Fresh, empty families of a node's login actors."""

    def __init__(self) -> None:
        name = "enotime_login_"
        self.registrations = CounterMetricFamily(
            name + "registrations",
            "Registrations, by outcome (accepted, duplicate, refused, unavailable).",
            labels=["outcome"],
        )
        self.logins = CounterMetricFamily(
            name + "logins",
            "Login attempts (and second MFA steps), by outcome.",
            labels=["outcome"],
        )
        self.mfa_events = CounterMetricFamily(
            name + "mfa_events",
            "MFA events: enrolled, confirmed, verified, failed, replayed, recovery_used, disabled.",
            labels=["event"],
        )
        self.tokens_issued = CounterMetricFamily(
            name + "tokens_issued", "Access tokens signed (login, refresh, account switch)."
        )
        self.refresh = CounterMetricFamily(
            name + "refresh",
            "Refresh tokens presented, by outcome (rotated, reuse_detected, invalid, unavailable).",
            labels=["outcome"],
        )
        self.password_resets = CounterMetricFamily(
            name + "password_resets",
            "Password resets, by stage (requested, mailed, completed, invalid_token, ...).",
            labels=["stage"],
        )

    def all(self) -> list[Metric]:
        return list(vars(self).values())


def subsystem_metrics() -> list[Metric]:
    """Every family this module can expose, empty (for a collector's ``describe``)."""
    return [
        *_Transport().all(),
        *_Operations("store", "Store").all(),
        *_Crypto().all(),
        *_Api().all(),
        *_Login().all(),
    ]


def subsystem_families(node: Node) -> list[Metric]:
    """The families of the subsystems running on ``node``, from a snapshot of their statistics."""
    families: list[Metric] = []
    gateway = node.gateway
    if gateway is not None:
        families += _transport(gateway.transport.statistics(), gateway.statistics())
    store = store_statistics(node)
    if store is not None:
        operations = _Operations("store", "Store")
        operations.add(store.operations)
        families += operations.all()
    crypto = crypto_statistics(node)
    if crypto is not None:
        found = _Crypto()
        found.add(crypto.operations)
        if crypto.sealed is not None:
            found.sealed.add_metric([], int(crypto.sealed))
        found.batches.add_metric([], crypto.batches)
        found.batched.add_metric([], crypto.batched_operations)
        families += found.all()
    api = _api_statistics(node)
    if api is not None:
        families += _api(api)
    login = _login_statistics(node)
    if login is not None:
        families += _login(login)
    return families


# The edge and login packages need the `edge` extra (Quart, argon2...), which a node
# serving metrics may not have. Neither is imported here: if a module is not loaded,
# no front (or login actor) can have run in this process, and there is nothing to read.


def _api_statistics(node: Node) -> ApiStatistics | None:
    module = sys.modules.get("enotime.edge._statistics")
    if module is None:
        return None
    statistics: Callable[[Node], ApiStatistics | None] = module.api_statistics
    return statistics(node)


def _login_statistics(node: Node) -> LoginStatistics | None:
    module = sys.modules.get("enotime.login._statistics")
    if module is None:
        return None
    statistics: Callable[[Node], LoginStatistics | None] = module.login_statistics
    return statistics(node)


def _api(stats: ApiStatistics) -> list[Metric]:
    found = _Api()
    for (route, method, status), count in sorted(stats.requests.items()):
        found.requests.add_metric([route, method, str(status)], count)
    for timing in stats.durations:
        found.latency.add_metric(
            [timing.route, timing.method],
            buckets=_buckets(timing.buckets),
            sum_value=timing.sum_seconds,
        )
    for problem, count in sorted(stats.auth_failures.items()):
        found.auth_failures.add_metric([problem], count)
    for route, count in sorted(stats.rate_limited.items()):
        found.rate_limited.add_metric([route], count)
    found.in_flight.add_metric([], stats.in_flight)
    return found.all()


def _login(stats: LoginStatistics) -> list[Metric]:
    found = _Login()

    def add(family: CounterMetricFamily, counts: Mapping[str, int]) -> None:
        for label, count in counts.items():
            family.add_metric([label], count)

    add(found.registrations, stats.registrations)
    add(found.logins, stats.logins)
    add(found.mfa_events, stats.mfa_events)
    found.tokens_issued.add_metric([], stats.tokens_issued)
    add(found.refresh, stats.refreshes)
    add(found.password_resets, stats.password_resets)
    return found.all()


def _transport(stats: TransportStatistics, gateway: GatewayStatistics) -> list[Metric]:
    found = _Transport()
    for kind, count in stats.published_by_kind.items():
        found.published.add_metric([kind], count)
    for queue, count in stats.consumed_by_queue.items():
        found.consumed.add_metric([queue], count)
    found.handled.add_metric([], stats.handled)
    found.redelivered.add_metric([], stats.redelivered)
    found.requeued.add_metric([], stats.requeued)
    reasons = dict.fromkeys(_DEAD_LETTER_REASONS, 0) | dict(stats.dead_lettered_by_reason)
    for reason, count in sorted(reasons.items()):
        found.dead_lettered.add_metric([reason], count)
    found.expired.add_metric([], stats.expired)
    found.pending.add_metric([], stats.calls_pending)
    if stats.call_seconds_buckets:
        found.latency.add_metric(
            [], buckets=_buckets(stats.call_seconds_buckets), sum_value=stats.call_seconds_sum
        )
    for error, count in sorted(stats.call_failures.items()):
        found.call_failures.add_metric([error], count)
    for error, count in sorted(stats.send_failures.items()):
        found.send_failures.add_metric([error], count)
    found.connected.add_metric([], int(stats.connected))
    found.reconnects.add_metric([], stats.reconnects)
    found.outbox.add_metric([], gateway.outbox)
    found.unknown_actor.add_metric([], gateway.unknown_actor)
    found.monitors.add_metric([], gateway.remote_monitors)
    found.watches.add_metric([], gateway.remote_watches)
    found.watches_dropped.add_metric([], gateway.watches_dropped)
    found.heartbeat_failures.add_metric([], gateway.heartbeat_failures)
    found.nodes_lost.add_metric([], gateway.nodes_lost)
    found.links.add_metric([], gateway.remote_links)
    found.nodes_restarted.add_metric([], gateway.nodes_restarted)
    found.exit_signals.add_metric([], gateway.exit_signals)
    found.timers.add_metric([], gateway.remote_timers)
    return found.all()
