"""SmtpMailer against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from enotime.mail import Mail, MailError, SmtpMailer
from tests.integration.mail.conftest import HOST, LoopbackController, Recorder

SENDER = "no-reply@enotime.example.com"
MAIL = Mail("alice@example.com", "Verify your address", "Open https://example.com/v?t=s3cr3t\n")


def body_of(message: EmailMessage) -> str:
    text = message.get_content()
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")  # SMTP carries CRLF line ends


def mailer_for(server: LoopbackController, **options: object) -> SmtpMailer:
    return SmtpMailer(HOST, server.port, SENDER, timeout=5.0, **options)  # type: ignore[arg-type]


async def test_a_mail_is_delivered_with_its_recipient_subject_and_body(
    server: LoopbackController, recorder: Recorder
) -> None:
    await mailer_for(server).send(MAIL)

    received = await recorder.next()
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["alice@example.com"]
    message = received.message
    assert message["To"] == "alice@example.com"
    assert message["From"] == SENDER
    assert message["Subject"] == "Verify your address"
    assert message["Message-ID"].endswith("@enotime.example.com>")
    assert message["Date"]
    assert body_of(message) == "Open https://example.com/v?t=s3cr3t\n"


async def test_non_ascii_subjects_and_bodies_arrive_intact(
    server: LoopbackController, recorder: Recorder
) -> None:
    mail = Mail("bob@example.com", "Bienvenue, Zoë ✓", "Grüße — ünïcödé ✓\n")

    await mailer_for(server).send(mail)

    message = (await recorder.next()).message
    assert message["Subject"] == "Bienvenue, Zoë ✓"
    assert body_of(message) == "Grüße — ünïcödé ✓\n"


async def test_a_temporary_refusal_is_a_transient_mail_error(
    server: LoopbackController, recorder: Recorder
) -> None:
    recorder.refuse_next("451 4.3.0 try again later")

    with pytest.raises(MailError) as caught:
        await mailer_for(server).send(MAIL)

    assert caught.value.transient
    assert caught.value.code == 451


async def test_a_permanent_refusal_is_a_permanent_mail_error(
    server: LoopbackController, recorder: Recorder
) -> None:
    recorder.refuse_next("554 5.7.1 rejected")

    with pytest.raises(MailError) as caught:
        await mailer_for(server).send(MAIL)

    assert not caught.value.transient
    assert caught.value.code == 554


async def test_a_server_that_is_down_is_a_transient_mail_error(closed_port: int) -> None:
    mailer = SmtpMailer(HOST, closed_port, SENDER, timeout=5.0)

    with pytest.raises(MailError, match=f"{HOST}:{closed_port}") as caught:
        await mailer.send(MAIL)

    assert caught.value.transient
    assert caught.value.code is None


async def test_starttls_required_but_not_offered_is_a_permanent_mail_error(
    server: LoopbackController,
) -> None:
    with pytest.raises(MailError) as caught:
        await mailer_for(server, starttls=True).send(MAIL)

    assert not caught.value.transient


async def test_the_body_is_never_logged(
    server: LoopbackController, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="enotime")

    await mailer_for(server).send(MAIL)
    await recorder.next()

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("enotime"))
    assert "a***@example.com" in ours  # the address is masked
    assert "alice@example.com" not in ours
    assert "s3cr3t" not in ours


def test_settings_that_cannot_work_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match=r"starttls .* or use_tls"):
        SmtpMailer(HOST, 25, SENDER, starttls=True, use_tls=True)
    with pytest.raises(ValueError, match="only sent over TLS"):
        SmtpMailer(HOST, 25, SENDER, username="u", password="p")
    with pytest.raises(ValueError, match="both username and password"):
        SmtpMailer(HOST, 25, SENDER, username="u", starttls=True)
    with pytest.raises(ValueError, match="sender address is not valid"):
        SmtpMailer(HOST, 25, "not an address")


def test_the_repr_shows_no_password() -> None:
    mailer = SmtpMailer(HOST, 587, SENDER, username="u", password="hunter2", starttls=True)

    assert "hunter2" not in repr(mailer)
