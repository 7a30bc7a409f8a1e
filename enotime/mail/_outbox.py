"""The development mailer: it keeps every mail and prints it to the console."""

from __future__ import annotations

import enum
import sys
from typing import Final, TextIO

from enotime.mail._message import Mail
from enotime.mail._port import Mailer

__all__ = ["Outbox"]

_WIDTH = 72


class _Stdout(enum.Enum):
    STDOUT = "stdout"


STDOUT: Final = _Stdout.STDOUT
"""The default stream: ``sys.stdout`` as it is when a mail is printed (redirections apply)."""


class Outbox(Mailer):
    """A mailer for development and tests: nothing leaves the process.

    Every mail is appended to :attr:`sent` and, unless ``stream`` is None,
    printed to ``stream`` (by default ``sys.stdout`` as it is at the time,
    so a redirection applies) as a framed block with
    its recipient, subject and **whole body**. Printing the body is the point:
    in the demo, the verification link a user must open appears on the
    console. So an outbox prints secrets on purpose — never use it in
    production; :class:`~enotime.mail.SmtpMailer` never logs a body.

    Example:
        >>> outbox = Outbox()
        >>> await outbox.send(Mail("alice@example.com", "Hello", "Hi Alice"))
        >>> outbox.sent[-1].subject
        'Hello'
    """

    def __init__(self, stream: TextIO | _Stdout | None = STDOUT) -> None:
        self.stream = stream
        self.sent: list[Mail] = []

    async def send(self, mail: Mail) -> None:
        """Keep ``mail`` in :attr:`sent` and print it."""
        self.sent.append(mail)
        stream = sys.stdout if self.stream is STDOUT else self.stream
        if stream is not None:
            stream.write(self.render(mail))
            stream.flush()

    @staticmethod
    def render(mail: Mail) -> str:
        """The framed block :meth:`send` prints for ``mail``.

        The body's lines are printed as they are, unindented, so a link can be
        copied from the console as it stands.
        """
        title = " mail (development outbox: not sent) "
        body = mail.text if mail.text.endswith("\n") else mail.text + "\n"
        return (
            f"{title:=^{_WIDTH}}\n"
            f"To:      {mail.to}\n"
            f"Subject: {mail.subject}\n"
            f"{'-' * _WIDTH}\n"
            f"{body}"
            f"{'=' * _WIDTH}\n"
        )
