"""The mailer actor over real SMTP: it retries through outages and refusals, then gives up."""

from __future__ import annotations

import socket

from enotime import ActorRef, Node
from enotime.mail import (
    Flush,
    Mail,
    MailerService,
    MailerStatistics,
    Pending,
    SendMail,
    SmtpMailer,
    Statistics,
)
from tests.integration.mail.conftest import HOST, LoopbackController, Recorder, smtp_server

SENDER = "no-reply@enotime.example.com"
MAIL = Mail("alice@example.com", "Verify your address", "https://example.com/verify?t=s3cr3t")
LONG = 3600.0  # a back-off no test waits for: the test retries with Flush


async def start(node: Node, port: int, **options: float) -> ActorRef[MailerService]:
    mailer = SmtpMailer(HOST, port, SENDER, timeout=5.0)
    return await node.spawn(MailerService, mailer, name="mailer", **options)


async def test_a_mail_sent_while_the_server_is_down_is_delivered_once_it_is_up(
    node: Node, recorder: Recorder
) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind((HOST, 0))  # bound, not listening: connections are refused
    port = holder.getsockname()[1]
    try:
        mailer = await start(node, port, backoff=LONG)
        mailer.send(SendMail(MAIL))
        assert await mailer.call(Pending()) == 1  # the first attempt failed: it waits
    finally:
        holder.close()

    with smtp_server(recorder, port=port):
        assert await mailer.call(Flush(), timeout=10) == 0
        received = await recorder.next()

    assert received.rcpt_tos == ["alice@example.com"]
    assert received.message["Subject"] == "Verify your address"
    assert await mailer.call(Statistics()) == MailerStatistics(0, 1, 1, 0)
    assert not node.dead_letters


async def test_temporary_refusals_are_retried_on_the_timer_until_accepted(
    node: Node, server: LoopbackController, recorder: Recorder
) -> None:
    recorder.refuse_next("451 4.3.0 try again later", "421 4.3.2 shutting down")
    mailer = await start(node, server.port, backoff=0.01)

    mailer.send(SendMail(MAIL))

    received = await recorder.next()  # the third attempt, after two timed retries
    assert received.message["To"] == "alice@example.com"
    assert [await recorder.attempt() for _ in range(3)] == [1, 2, 3]
    assert await mailer.call(Statistics()) == MailerStatistics(0, 1, 2, 0)


async def test_after_the_last_attempt_the_mail_is_dead_lettered(
    node: Node, server: LoopbackController, recorder: Recorder
) -> None:
    recorder.refuse_next(*["451 4.3.0 try again later"] * 3)
    mailer = await start(node, server.port, attempts=3, backoff=0.01)

    mailer.send(SendMail(MAIL))
    assert [await recorder.attempt() for _ in range(3)] == [1, 2, 3]

    # The third attempt is still being handled; this call is answered after it.
    assert await mailer.call(Statistics()) == MailerStatistics(0, 0, 3, 1)
    [dead] = node.dead_letters
    assert dead.message == SendMail(MAIL)
    assert "451" in dead.reason
    assert recorder.received.empty()


async def test_a_permanent_refusal_is_dead_lettered_without_a_retry(
    node: Node, server: LoopbackController, recorder: Recorder
) -> None:
    recorder.refuse_next("550 5.1.1 no such user")
    mailer = await start(node, server.port, backoff=LONG)

    mailer.send(SendMail(MAIL))

    assert await mailer.call(Pending()) == 0
    assert await recorder.attempt() == 1
    [dead] = node.dead_letters
    assert "permanent failure" in dead.reason
    assert "550" in dead.reason
