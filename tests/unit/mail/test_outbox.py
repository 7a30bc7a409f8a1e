"""The development outbox keeps every mail and prints it, body included, for the demo."""

from __future__ import annotations

import io

import pytest

from enotime.mail import Mail, Mailer, Outbox

LINK = "http://127.0.0.1:8000/auth/verify?token=abc123"


async def test_the_outbox_keeps_every_mail_in_order() -> None:
    outbox = Outbox(stream=None)
    first = Mail("alice@example.com", "One", "1")
    second = Mail("bob@example.com", "Two", "2")

    await outbox.send(first)
    await outbox.send(second)

    assert outbox.sent == [first, second]
    assert isinstance(outbox, Mailer)


async def test_each_mail_is_printed_as_a_framed_block_with_recipient_subject_and_body() -> None:
    stream = io.StringIO()
    outbox = Outbox(stream)

    await outbox.send(Mail("alice@example.com", "Verify your address", f"Open:\n{LINK}\n"))

    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("=")
    assert "development outbox" in lines[0]
    assert lines[1:3] == ["To:      alice@example.com", "Subject: Verify your address"]
    assert set(lines[3]) == {"-"}
    assert lines[4:6] == ["Open:", LINK]  # the link on a line of its own, ready to copy
    assert set(lines[6]) == {"="}
    assert len(lines) == 7


async def test_a_body_without_a_final_newline_still_ends_the_block_on_its_own_line() -> None:
    stream = io.StringIO()

    await Outbox(stream).send(Mail("alice@example.com", "Hi", "no newline"))

    assert stream.getvalue().splitlines()[-2:] == ["no newline", "=" * 72]


async def test_several_mails_print_as_separate_blocks() -> None:
    stream = io.StringIO()
    outbox = Outbox(stream)

    await outbox.send(Mail("alice@example.com", "One", "1"))
    await outbox.send(Mail("bob@example.com", "Two", "2"))

    assert stream.getvalue() == Outbox.render(outbox.sent[0]) + Outbox.render(outbox.sent[1])


async def test_without_a_stream_nothing_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    outbox = Outbox(stream=None)

    await outbox.send(Mail("alice@example.com", "Quiet", "nothing printed"))

    assert outbox.sent[0].subject == "Quiet"
    assert capsys.readouterr().out == ""


async def test_by_default_the_outbox_prints_to_standard_output_as_it_is_then(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outbox = Outbox()

    await outbox.send(Mail("alice@example.com", "Verify", LINK))

    assert LINK in capsys.readouterr().out
