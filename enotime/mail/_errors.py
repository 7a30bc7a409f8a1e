"""Errors of the mail subsystem, documented by contrast."""

from __future__ import annotations

from enotime.errors import EnotimeError, Refused

__all__ = ["InvalidMail", "MailError"]


class InvalidMail(Refused, ValueError):
    """A mail (or a mailer's sender) is malformed: a bad address, or a header injection.

    Raised when a :class:`~enotime.mail.Mail` is built, so a bad mail never
    reaches a mailer. A :class:`~enotime.errors.Refused` (a handler that builds
    a mail from user input answers its caller with it and keeps running) and a
    :class:`ValueError`. Its message is safe to show: it never repeats the
    address. Not :class:`MailError`, which is a failure to deliver a valid mail.
    """


class MailError(EnotimeError):
    """A mailer could not deliver a mail: the server is unreachable, refused it, or timed out.

    Raised by :meth:`~enotime.mail.Mailer.send`. ``transient`` says whether
    trying again later may help (connection failures, timeouts, SMTP ``4xx``)
    or not (SMTP ``5xx``, such as a refused recipient or bad credentials, or a
    server without the STARTTLS or AUTH the mailer is configured to use);
    :class:`~enotime.mail.MailerService` retries only transient failures.
    ``code`` is the SMTP reply code when the server answered. Not
    :class:`InvalidMail`, which is raised before anything is sent.
    """

    def __init__(self, text: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(text)
        self.transient = transient
        self.code = code
