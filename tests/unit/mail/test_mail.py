"""A Mail is checked when built: a bad address or a header injection never reaches a mailer."""

from __future__ import annotations

import pytest

from enotime.errors import Refused
from enotime.mail import InvalidMail, Mail, SendMail
from enotime.transport import MalformedMessage
from enotime.transport._message import default_registry


def test_a_mail_keeps_its_fields_with_the_address_normalised() -> None:
    mail = Mail("Alice@Example.COM", "Welcome", "Hello Alice")

    assert mail.to == "Alice@example.com"  # the domain is case-insensitive, the local part not
    assert (mail.subject, mail.text) == ("Welcome", "Hello Alice")


def test_a_mail_is_immutable() -> None:
    mail = Mail("alice@example.com", "Welcome", "Hello")

    with pytest.raises(AttributeError):
        mail.to = "mallory@example.com"  # type: ignore[misc]


@pytest.mark.parametrize(
    "address",
    ["", "alice", "alice@", "@example.com", "alice@localhost", "alice@example.test", "a b@x.com"],
)
def test_an_invalid_address_is_refused_with_a_clear_error(address: str) -> None:
    with pytest.raises(InvalidMail, match="recipient address is not valid"):
        Mail(address, "Welcome", "Hello")


def test_the_error_is_a_value_error_and_a_refusal_and_does_not_repeat_the_address() -> None:
    with pytest.raises(InvalidMail) as caught:
        Mail("not-an-address-of-bob", "Welcome", "Hello")

    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, Refused)  # a handler building it answers 400, keeps running
    assert "bob" not in str(caught.value)


@pytest.mark.parametrize(
    "address",
    ["alice@example.com\r\nBcc: mallory@example.com", "alice@example.com\n", "al\rice@example.com"],
)
def test_a_header_injection_in_the_address_is_refused(address: str) -> None:
    with pytest.raises(InvalidMail, match="control characters"):
        Mail(address, "Welcome", "Hello")


@pytest.mark.parametrize(
    "subject", ["Hi\r\nBcc: mallory@example.com", "Hi\nthere", "Hi\r", "Hi\x00", "Hi\x1b[31m"]
)
def test_a_header_injection_in_the_subject_is_refused(subject: str) -> None:
    with pytest.raises(InvalidMail, match="subject contains control characters"):
        Mail("alice@example.com", subject, "Hello")


def test_the_body_may_span_lines_and_hold_any_text() -> None:
    mail = Mail("alice@example.com", "Ünïcödé ✓", "line 1\r\nline 2\n\tindented ✓\n")

    assert mail.text == "line 1\r\nline 2\n\tindented ✓\n"


def test_fields_that_are_not_strings_are_refused() -> None:
    with pytest.raises(InvalidMail):
        Mail(42, "Welcome", "Hello")  # type: ignore[arg-type]
    with pytest.raises(InvalidMail):
        Mail("alice@example.com", None, "Hello")  # type: ignore[arg-type]
    with pytest.raises(InvalidMail):
        Mail("alice@example.com", "Welcome", b"Hello")  # type: ignore[arg-type]


def test_the_repr_leaves_out_the_body_which_may_hold_a_secret_link() -> None:
    mail = Mail("alice@example.com", "Verify", "https://x.example.com/verify?token=s3cr3t")

    assert "s3cr3t" not in repr(mail)
    assert "s3cr3t" not in repr(SendMail(mail))
    assert "alice@example.com" in repr(mail)


def test_send_mail_crosses_the_wire_and_is_checked_again_on_arrival() -> None:
    sent = SendMail(Mail("alice@example.com", "Welcome", "Hello"))
    wire = default_registry.dump(sent)

    assert default_registry.load(wire["type"], wire["v"], wire["body"]) == sent

    forged = {"mail": {"to": "alice@example.com", "subject": "Hi\r\nBcc: x@y.com", "text": "t"}}
    with pytest.raises(MalformedMessage, match="subject contains control characters"):
        default_registry.load(wire["type"], wire["v"], forged)
