"""The mail port: one coroutine that delivers a mail or raises."""

from __future__ import annotations

import abc

from enotime.mail._message import Mail

__all__ = ["Mailer"]


class Mailer(abc.ABC):
    """Delivers mails: :class:`~enotime.mail.Outbox` in development, SMTP in production.

    Actors do not call a mailer directly: they cast
    :class:`~enotime.mail.SendMail` to the :class:`~enotime.mail.MailerService`,
    which retries and never loses a mail silently.
    """

    @abc.abstractmethod
    async def send(self, mail: Mail) -> None:
        """Deliver ``mail``, or raise :class:`~enotime.mail.MailError`.

        Raises:
            MailError: It was not delivered; ``transient`` says whether a
                later attempt may succeed.
        """
