"""Exit signals, timers and waits across nodes: ``exit``/``kill``, ``send_after``, ``wait_stopped``.

Two ``Node`` objects in one process, each with its own transport, parametrised
over ``LocalTransport`` and ``AmqpTransport`` on the real RabbitMQ (skipped with
the reason on a laptop, failed in CI), as in ``test_remote_links``. Every wait
is on a :class:`~enotime.testing.Probe`, a queue, a task or a call, with a
timeout.

To know that a node has handled what another sent it, a test calls the
receiving node's agent (``Ping``) from the sending node: a call waits for the
sends queued before it (an exit signal is one) and is handled after them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from enotime import (
    KILL,
    KILLED,
    NOCONNECTION,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    Actor,
    ExitReason,
    Node,
    RemoteRef,
    RequestContext,
    child,
    current_context,
    handler,
    request_context,
    supervisor,
)
from enotime._gateway import AGENT, _ExitSignal, _WireReason
from enotime.errors import RemoteCrash
from enotime.messages import Down, Exit, Request
from enotime.testing import Probe
from enotime.transport import message
from tests.contract.test_transport import WAIT
from tests.integration._nodes import (
    HEARTBEAT,
    Nodes,
    agent_watches,
    gateway,
    handled,
    open_nodes,
    settled,
)


@dataclass(frozen=True)
class Crash:
    text: str


@message("test.signals.Hello", version=1)
@dataclass(frozen=True)
class Hello:
    text: str


@dataclass(frozen=True)
class Schedule(Request[None]):
    to: RemoteRef


class Victim(Actor):
    """Crashes when told (locally, on its own node)."""

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.text)


class Incarnation(Victim):
    """A supervised child: reports each incarnation's ref as it starts."""

    def __init__(self, started: asyncio.Queue[Any]) -> None:
        self.started = started

    async def on_start(self) -> None:
        self.started.put_nowait(self.ref)


class Recorder(Actor):
    """Records each ``Hello`` with the request id it came with."""

    def __init__(self, seen: asyncio.Queue[tuple[str, str]]) -> None:
        self.seen = seen

    @handler
    def hello(self, msg: Hello) -> None:
        context = current_context()
        self.seen.put_nowait((msg.text, "" if context is None else context.request_id))


class Scheduler(Actor):
    """Sets a timer from inside an actor (``Actor.send_after``) to a remote ref."""

    @handler
    def schedule(self, msg: Schedule) -> None:
        self.send_after(0.01, Hello("from an actor"), to=msg.to)


@pytest.fixture(params=["local", "amqp"])
async def nodes(
    request: pytest.FixtureRequest, require_service: Callable[[str], NoReturn]
) -> AsyncIterator[Nodes]:
    async with open_nodes(request.param, require_service, **HEARTBEAT) as made:
        yield made


def quiet(node: Node) -> bool:
    """No link, monitor, heartbeat, pending request or timer across nodes left on ``node``."""
    gw = gateway(node)
    return not (gw._links or gw._watched or gw._heartbeats or gw._watch_tasks or gw._timers)


def signal(actor: str, reason: ExitReason, *, sent_at: int, sender: str | None = None) -> Any:
    """An ``ExitSignal`` from node ``a``, made by hand (as a worker in another language would)."""
    return _ExitSignal(uuid.uuid4().hex, "a", sender, actor, _WireReason.of(reason), sent_at)


def assert_crash(reason: ExitReason, type_name: str, text: str) -> None:
    assert reason.kind == "crash"
    error = reason.exception
    assert isinstance(error, RemoteCrash)
    assert (error.type_name, error.text) == (type_name, text)


# -- exit signals ---------------------------------------------------------------------------


async def test_kill_stops_a_remote_actor_that_traps_exits(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    trapper = await Probe.start(b, trap_exit=True, name="trapper")
    observer = await Probe.start(b)
    observer.monitor(trapper.ref)
    a.kill(a.remote("b", "trapper"))
    down = await observer.expect(Down, timeout=WAIT)
    assert down.reason == KILLED  # untrappable: no Exit message, on_stop skipped
    assert trapper.received_nothing()
    assert gateway(b).statistics().exit_signals == 1
    assert list(a.dead_letters) == list(b.dead_letters) == []


async def test_exit_stops_a_non_trapping_remote_actor_with_the_reason(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    crasher = await b.spawn(Victim, name="crasher")
    observer = await Probe.start(b)
    observer.monitor(victim)
    observer.monitor(crasher)
    a.exit(a.remote("b", "victim"), ExitReason.shutdown("bye"))
    a.exit(a.remote("b", "crasher"), ExitReason.crash(ValueError("bad input")))
    downs = {down.ref: down for down in [await observer.expect(Down, timeout=WAIT) for _ in "12"]}
    assert downs[victim].reason == ExitReason.shutdown("bye")
    assert_crash(downs[crasher].reason, "ValueError", "bad input")  # crossed as data
    assert gateway(b).statistics().exit_signals == 2


async def test_a_trapping_remote_actor_gets_the_signal_as_an_exit_message(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    trapper = await Probe.start(b, trap_exit=True, name="trapper")
    remote = a.remote("b", "trapper")
    a.exit(remote, SHUTDOWN)
    a.exit(remote, NORMAL)
    # From outside any actor: the Exit names the target itself, as a local node.exit does.
    assert await trapper.expect(Exit, timeout=WAIT) == Exit(trapper.ref, SHUTDOWN)
    assert await trapper.expect(Exit, timeout=WAIT) == Exit(trapper.ref, NORMAL)
    # A signal naming its sending actor (the protocol allows it): the Exit names that actor.
    a.remote("b", AGENT).send(
        signal("trapper", SHUTDOWN, sent_at=gateway(b)._started_ms, sender="boss")
    )
    assert await trapper.expect(Exit, timeout=WAIT) == Exit(b.remote("a", "boss"), SHUTDOWN)
    assert trapper.ref.is_alive


async def test_exit_normal_is_ignored_by_a_non_trapping_remote_actor(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    a.exit(a.remote("b", "victim"), NORMAL)
    await handled(b, a)
    assert victim.is_alive
    assert gateway(b).statistics().exit_signals == 1  # delivered, and ignored by the rules


async def test_an_exit_signal_to_no_such_actor_is_a_dead_letter_on_its_node(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    a.exit(a.remote("b", "nobody"), SHUTDOWN)
    a.kill(a.remote("b", "nobody"))
    a.kill(a.remote("b", AGENT))  # the gateway's agent takes no exit signals
    a.kill(a.remote("ghost", "x"))  # no such node: unroutable, a dead letter here
    await handled(b, a)
    agent = gateway(b)._agent
    assert agent is not None
    assert agent.is_alive
    reasons = [letter.reason for letter in b.dead_letters]
    assert len(reasons) == 3
    assert "exit signal (shutdown) from node 'a' not delivered" in reasons[0]
    assert "no actor is registered as 'nobody'" in reasons[0]
    assert "exit signal (kill)" in reasons[1]
    assert f"no actor is registered as '{AGENT}'" in reasons[2]
    assert b.dead_letters[0].recipient == b.remote("b", "nobody")
    stats = gateway(b).statistics()
    assert (stats.unknown_actor, stats.exit_signals) == (3, 0)
    (unroutable,) = list(a.dead_letters)
    assert "Unroutable" in unroutable.reason
    assert isinstance(unroutable.message, _ExitSignal)
    assert unroutable.message.actor == "x"


async def test_a_kill_of_a_pid_ref_reaches_that_process_only(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    peer = await Probe.start(b, trap_exit=True, name="peer")
    unnamed = await Probe.start(a, trap_exit=True)  # traps exits, and is killed all the same
    observer = await Probe.start(a)
    observer.monitor(unnamed.ref)
    unnamed.link(a.remote("b", "peer"))
    await settled(a)
    (half,) = gateway(b)._links.values()
    pid_ref = half._remote  # how b names the unnamed actor: enotime.pid.<incarnation>.<pid>
    b.kill(pid_ref)
    assert (await observer.expect(Down, timeout=WAIT)).reason == KILLED
    exit_ = await peer.expect(Exit, timeout=WAIT)  # through the link: killed, trappable
    assert (exit_.sender, exit_.reason) == (pid_ref, KILLED)
    b.kill(pid_ref)  # that process is gone: nothing else answers to its pid name
    await handled(a, b)
    assert "no actor is registered as 'enotime.pid." in a.dead_letters[-1].reason


async def test_a_redelivered_kill_does_not_kill_the_restarted_incarnation(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    started: asyncio.Queue[Any] = asyncio.Queue()
    await b.start(supervisor("workers", [child(Incarnation, started, name="worker")]))
    first = await asyncio.wait_for(started.get(), WAIT)
    a.kill(a.remote("b", "worker"))
    _, sent, _ = gateway(a)._outbox[-1]  # the signal as it is published
    assert isinstance(sent, _ExitSignal)
    second = await asyncio.wait_for(started.get(), WAIT)  # the supervisor restarted it
    assert first.exit_reason == KILLED
    a.remote("b", AGENT).send(sent)  # the transport delivers it again (at least once)
    await handled(b, a)
    assert second.is_alive
    stats = gateway(b).statistics()
    assert (stats.exit_signals, stats.duplicate_exit_signals) == (1, 1)


async def test_a_signal_sent_before_its_node_restarted_goes_nowhere(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    b = await nodes.restart("b")
    victim = await b.spawn(Victim, name="victim")
    # Sent to the earlier incarnation of b (delivered late, e.g. a redelivery from its queue).
    late = signal("victim", KILL, sent_at=gateway(b)._started_ms - 1)
    a.remote("b", AGENT).send(late)
    await handled(b, a)
    assert victim.is_alive
    (letter,) = list(b.dead_letters)
    assert letter.message == late
    assert "sent before node 'b' (re)started" in letter.reason
    assert gateway(b).statistics().exit_signals == 0


# -- timers ---------------------------------------------------------------------------------


async def test_send_after_sends_to_the_remote_actor_when_it_fires(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    await b.spawn(Recorder, seen, name="recorder")
    await gateway(b).expose("greetings", "recorder")
    remote = a.remote("b", "recorder")
    with request_context(RequestContext("req-timer", {})):
        timer = a.send_after(0.01, remote, Hello("from the node"))
    assert gateway(a).statistics().remote_timers == 1
    scheduler = await a.spawn(Scheduler)
    await scheduler.call(Schedule(remote), timeout=WAIT)
    a.send_after(0.01, a.service("greetings"), Hello("to a service"))
    got = {await asyncio.wait_for(seen.get(), WAIT) for _ in "123"}
    assert got == {("from the node", "req-timer"), ("from an actor", ""), ("to a service", "")}
    assert not timer.active
    assert not timer.cancel()  # fired: nothing to cancel
    assert gateway(a).statistics().remote_timers == 0
    assert quiet(a)


async def test_a_remote_timer_cancelled_before_it_fires_sends_nothing(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    probe = await Probe.start(b, name="probe")
    remote = a.remote("b", "probe")
    cancelled = a.send_after(0.02, remote, Hello("cancelled"))
    marker = a.send_after(0.05, remote, Hello("marker"))
    assert gateway(a).statistics().remote_timers == 2
    assert cancelled.cancel()
    assert not cancelled.cancel()
    assert not cancelled.active
    # The marker fires after the cancelled timer would have, and is published after it.
    assert await probe.expect(Hello, timeout=WAIT) == Hello("marker")
    assert not marker.active
    await handled(b, a)
    assert probe.received_nothing()
    assert quiet(a)


async def test_closing_the_gateway_turns_pending_remote_timers_into_dead_letters(
    nodes: Nodes,
) -> None:
    a, _ = await nodes.node("a"), await nodes.node("b")
    remote = a.remote("b", "anyone")
    timer = a.send_after(WAIT * 10, remote, Hello("never"))
    await a.aclose()
    assert not timer.active
    (letter,) = list(a.dead_letters)
    assert (letter.recipient, letter.message) == (remote, Hello("never"))
    assert "closed before it fired" in letter.reason


# -- wait_stopped -------------------------------------------------------------------------


async def test_wait_stopped_returns_the_remote_reason_and_removes_its_monitor(
    nodes: Nodes,
) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    remote = a.remote("b", "victim")
    waiting = asyncio.create_task(remote.wait_stopped(WAIT))
    await asyncio.sleep(0)  # one loop turn: the wait asks for its watch -- noqa: sleep-ok
    await settled(a)  # the watch is in place on b
    assert gateway(a).statistics().remote_monitors == 1
    assert agent_watches(b) == 1
    victim.send(Crash("boom"))
    assert_crash(await asyncio.wait_for(waiting, WAIT), "RuntimeError", "boom")
    assert gateway(a).statistics().remote_monitors == 0
    assert agent_watches(b) == 0
    assert quiet(a)
    assert await remote.wait_stopped(WAIT) == NOPROC  # gone: its reason is not known any more
    assert await a.remote("b", "nobody").wait_stopped(WAIT) == NOPROC
    assert gateway(a).statistics().remote_monitors == 0
    await settled(a)
    assert quiet(a)


async def test_kill_and_wait_of_a_remote_actor(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await Probe.start(b, trap_exit=True, name="trapper")
    assert await a.kill_and_wait(a.remote("b", "trapper")) == KILLED
    assert await a.kill_and_wait(a.remote("b", "nobody")) == NOPROC  # nothing sent
    await handled(b, a)
    assert list(b.dead_letters) == []
    assert gateway(b).statistics().exit_signals == 1
    await settled(a)
    assert quiet(a)


async def test_wait_stopped_gives_noconnection_when_the_node_vanishes(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    await b.spawn(Victim, name="victim")
    waiting = asyncio.create_task(a.remote("b", "victim").wait_stopped(WAIT))
    await asyncio.sleep(0)  # one loop turn: the wait asks for its watch -- noqa: sleep-ok
    await settled(a)
    await nodes.transports["b"].aclose()  # b vanishes without a word
    assert await asyncio.wait_for(waiting, WAIT) == NOCONNECTION
    assert await a.remote("ghost", "x").wait_stopped(WAIT) == NOCONNECTION  # no such node
    await settled(a)
    assert quiet(a)


async def test_wait_stopped_times_out_and_leaves_no_monitor_behind(nodes: Nodes) -> None:
    a, b = await nodes.node("a"), await nodes.node("b")
    victim = await b.spawn(Victim, name="victim")
    remote = a.remote("b", "victim")
    with pytest.raises(TimeoutError):
        await remote.wait_stopped(0)  # before its watch was even answered
    with pytest.raises(TimeoutError):
        await remote.wait_stopped(0.2)
    waiting = asyncio.create_task(remote.wait_stopped(WAIT))
    await asyncio.sleep(0)  # one loop turn: the wait asks for its watch -- noqa: sleep-ok
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert gateway(a).statistics().remote_monitors == 0
    await settled(a)
    await handled(b, a)  # the Unwatches have reached b
    assert agent_watches(b) == 0
    assert quiet(a)
    assert victim.is_alive
