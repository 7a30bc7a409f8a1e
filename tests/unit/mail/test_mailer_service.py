"""The mailer actor sends what it is cast, retries with back-off, and never drops a mail silently.

Most tests drive retries with ``Flush`` (retry now) instead of waiting for the
timers; one lets a short timer fire and waits on the delivery.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable

import pytest

from enotime import SHUTDOWN, ActorRef, Node
from enotime.mail import (
    Flush,
    Mail,
    Mailer,
    MailError,
    MailerService,
    MailerStatistics,
    Outbox,
    Pending,
    SendMail,
    Statistics,
)

MAIL = Mail("alice@example.com", "Verify your address", "https://example.com/verify?t=s3cr3t")
LONG = 3600.0  # a back-off no test waits for: retries happen on Flush


def transient(text: str = "451 try again later") -> MailError:
    return MailError(text, transient=True, code=451)


class ScriptedMailer(Mailer):
    """Fails with the scripted errors, in order, then delivers."""

    def __init__(self, failures: Iterable[BaseException] = ()) -> None:
        self.failures = list(failures)
        self.attempts: list[Mail] = []
        self.delivered: list[Mail] = []
        self.delivery = asyncio.Event()

    async def send(self, mail: Mail) -> None:
        self.attempts.append(mail)
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(mail)
        self.delivery.set()


async def start(node: Node, mailer: Mailer, **options: float) -> ActorRef[MailerService]:
    return await node.spawn(MailerService, mailer, name="mailer", **options)


async def statistics(mailer: ActorRef[MailerService]) -> MailerStatistics:
    return await mailer.call(Statistics())


async def test_a_mail_cast_to_the_service_is_delivered_through_its_mailer(node: Node) -> None:
    outbox = Outbox(stream=None)
    mailer = await start(node, outbox)

    mailer.send(SendMail(MAIL))

    assert await mailer.call(Pending()) == 0  # handled in order: the mail went first
    assert outbox.sent == [MAIL]
    assert await statistics(mailer) == MailerStatistics(0, 1, 0, 0)


async def test_a_transient_failure_waits_for_a_retry_and_is_delivered_on_it(node: Node) -> None:
    scripted = ScriptedMailer([transient(), transient()])
    mailer = await start(node, scripted, backoff=LONG)

    mailer.send(SendMail(MAIL))
    assert await mailer.call(Pending()) == 1

    assert await mailer.call(Flush()) == 1  # failed again: waits for its third attempt
    assert await mailer.call(Flush()) == 0
    assert scripted.delivered == [MAIL]
    assert len(scripted.attempts) == 3
    assert await statistics(mailer) == MailerStatistics(0, 1, 2, 0)
    assert not node.dead_letters


async def test_the_retry_timer_fires_by_itself(node: Node) -> None:
    scripted = ScriptedMailer([transient()])
    mailer = await start(node, scripted, backoff=0.001)

    mailer.send(SendMail(MAIL))

    await asyncio.wait_for(scripted.delivery.wait(), timeout=5)
    assert len(scripted.attempts) == 2
    assert await mailer.call(Pending()) == 0


async def test_the_back_off_doubles_up_to_its_cap(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    scripted = ScriptedMailer([transient()] * 5)
    mailer = await start(node, scripted, attempts=6, backoff=LONG, max_backoff=4 * LONG)
    caplog.set_level(logging.WARNING, logger="enotime.mail")

    mailer.send(SendMail(MAIL))
    for _ in range(4):
        await mailer.call(Flush())

    retries = [re.search(r"retrying in (\S+) s", r.getMessage()) for r in caplog.records]
    delays = [float(found[1]) for found in retries if found]
    assert delays == [LONG, 2 * LONG, 4 * LONG, 4 * LONG, 4 * LONG]


async def test_after_the_last_attempt_the_mail_is_logged_and_dead_lettered(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    scripted = ScriptedMailer([transient()] * 3)
    mailer = await start(node, scripted, attempts=3, backoff=LONG)

    mailer.send(SendMail(MAIL))
    await mailer.call(Flush())
    assert await mailer.call(Flush()) == 0

    assert scripted.delivered == []
    assert await statistics(mailer) == MailerStatistics(0, 0, 3, 1)
    [dead] = node.dead_letters
    assert dead.message == SendMail(MAIL)
    assert dead.recipient == mailer
    assert "3 attempt(s) failed" in dead.reason
    assert node.statistics().dead_letters_total == 1
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.name == "enotime.mail"
    assert "not sent" in error.getMessage()


async def test_a_permanent_failure_is_not_retried(node: Node) -> None:
    scripted = ScriptedMailer([MailError("550 no such user", transient=False, code=550)])
    mailer = await start(node, scripted, backoff=LONG)

    mailer.send(SendMail(MAIL))

    assert await mailer.call(Pending()) == 0
    assert len(scripted.attempts) == 1
    [dead] = node.dead_letters
    assert "permanent failure: 550 no such user" in dead.reason


async def test_a_mailer_that_raises_something_else_is_retried_and_the_service_survives(
    node: Node,
) -> None:
    scripted = ScriptedMailer([RuntimeError("a bug in a custom mailer")])
    mailer = await start(node, scripted, backoff=LONG)

    mailer.send(SendMail(MAIL))

    assert await mailer.call(Pending()) == 1
    assert await mailer.call(Flush()) == 0
    assert scripted.delivered == [MAIL]
    assert mailer.is_alive


async def test_an_attempt_that_hangs_is_cut_off_after_the_send_timeout(node: Node) -> None:
    class HangingOnce(ScriptedMailer):
        async def send(self, mail: Mail) -> None:
            if not self.attempts:
                self.attempts.append(mail)
                await asyncio.Event().wait()  # never answers
            await super().send(mail)

    hanging = HangingOnce()
    mailer = await start(node, hanging, backoff=LONG, send_timeout=0.01)

    mailer.send(SendMail(MAIL))

    assert await mailer.call(Pending()) == 1
    assert await mailer.call(Flush()) == 0
    assert hanging.delivered == [MAIL]


async def test_other_mails_go_on_while_one_waits_for_its_retry(node: Node) -> None:
    scripted = ScriptedMailer([transient()])
    mailer = await start(node, scripted, backoff=LONG)
    other = Mail("bob@example.com", "Welcome", "Hello Bob")

    mailer.send(SendMail(MAIL))
    mailer.send(SendMail(other))

    assert await mailer.call(Pending()) == 1
    assert scripted.delivered == [other]


async def test_mails_still_waiting_when_the_service_stops_are_dead_lettered(node: Node) -> None:
    mailer = await start(node, ScriptedMailer([transient()]), backoff=LONG)
    mailer.send(SendMail(MAIL))
    assert await mailer.call(Pending()) == 1

    node.exit(mailer, SHUTDOWN)  # as its supervisor stops it
    await mailer.wait_stopped(timeout=2)

    [dead] = node.dead_letters
    assert dead.message == SendMail(MAIL)
    assert "stopped" in dead.reason


@pytest.mark.parametrize(
    "options",
    [{"attempts": 0}, {"backoff": -1.0}, {"max_backoff": -1.0}, {"send_timeout": 0.0}],
)
def test_bad_options_are_refused_at_construction(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|cannot"):
        MailerService(Outbox(stream=None), **options)  # type: ignore[arg-type]


def test_send_mail_carries_a_mail_and_nothing_else() -> None:
    with pytest.raises(TypeError, match="needs a Mail"):
        SendMail("alice@example.com")  # type: ignore[arg-type]
