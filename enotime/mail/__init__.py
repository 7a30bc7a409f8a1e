"""Mail: a development outbox, SMTP, and the mailer actor that retries.

Needs the ``edge`` extra (email-validator, aiosmtplib):
``pip install "enotime[edge]"``.

- :class:`Mail` is one plain-text mail, checked when built (address,
  header injection: :class:`InvalidMail`).
- :class:`Mailer` is the port: :class:`Outbox` keeps and prints mails in
  development, :class:`SmtpMailer` sends them with aiosmtplib.
- :class:`MailerService` is the actor the rest of a system talks to: cast it
  :class:`SendMail`; it retries with back-off and dead-letters what it cannot
  deliver, so a mail is never lost silently.

Example:
    >>> mailer = await node.spawn(MailerService, Outbox(), name="mailer")
    >>> mailer.send(SendMail(Mail("alice@example.com", "Welcome", "Hello Alice")))
"""

from __future__ import annotations

from enotime.mail._errors import InvalidMail, MailError
from enotime.mail._message import Mail
from enotime.mail._outbox import Outbox
from enotime.mail._port import Mailer
from enotime.mail._service import (
    Flush,
    MailerService,
    MailerStatistics,
    Pending,
    SendMail,
    Statistics,
)
from enotime.mail._smtp import SmtpMailer

__all__ = [
    "Flush",
    "InvalidMail",
    "Mail",
    "MailError",
    "Mailer",
    "MailerService",
    "MailerStatistics",
    "Outbox",
    "Pending",
    "SendMail",
    "SmtpMailer",
    "Statistics",
]
