"""The mailer actor: sends mails through a mailer, retries with back-off, never drops one.

Actors cast :class:`SendMail` to it (registered as ``"mailer"`` by
convention) and move on. A failed attempt is retried on a timer of the node
(``send_after``: the actor keeps serving while a mail waits), with the delay
doubling each time; after the last attempt, or at once for a permanent
failure, the mail is logged as an error and recorded in the node's dead
letters. Mails still waiting when the actor stops are dead-lettered too.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass

from enotime._actor import Actor, Timer
from enotime._handler import handler
from enotime._reason import ExitReason
from enotime.mail._errors import MailError
from enotime.mail._message import Mail, masked
from enotime.mail._port import Mailer
from enotime.messages import Request
from enotime.transport._message import message

__all__ = ["Flush", "MailerService", "MailerStatistics", "Pending", "SendMail", "Statistics"]

log = logging.getLogger("enotime.mail")


@message("enotime.mail.SendMail", version=1)
@dataclass(frozen=True)
class SendMail:
    """Cast this to the :class:`MailerService`: deliver ``mail``, retrying on failure."""

    mail: Mail

    def __post_init__(self) -> None:
        if not isinstance(self.mail, Mail):
            raise TypeError(f"SendMail needs a Mail, not {type(self.mail).__qualname__}")


@dataclass(frozen=True)
class Pending(Request[int]):
    """How many mails are waiting for a retry."""


@dataclass(frozen=True)
class Flush(Request[int]):
    """Retry every waiting mail now instead of at its timer; the reply is how many still wait.

    Each counts as an attempt; one that fails again waits for its next retry
    (or is dead-lettered after the last attempt).
    """


@dataclass(frozen=True, slots=True)
class MailerStatistics:
    """Counters of one mailer service, for inspection and metrics."""

    pending: int
    """Mails waiting for a retry."""
    sent_total: int
    failed_attempts_total: int
    dead_lettered_total: int
    """Mails given up: failed permanently, ran out of attempts, or still waiting at stop."""


@dataclass(frozen=True)
class Statistics(Request[MailerStatistics]):
    """Ask the mailer service for its :class:`MailerStatistics`."""


@dataclass(frozen=True, slots=True)
class _Retry:
    key: int


@dataclass(slots=True)
class _Waiting:
    mail: Mail
    attempt: int
    """The number of the next attempt."""
    timer: Timer


class MailerService(Actor):
    """Sends the mails cast to it (:class:`SendMail`) through ``mailer``.

    One mail is sent at a time, in the order received; while a failed mail
    waits for its retry, the others go on.

    Args:
        mailer: :class:`~enotime.mail.Outbox` in development,
            :class:`~enotime.mail.SmtpMailer` in production.
        attempts: Attempts per mail, the first included.
        backoff: Seconds before the first retry; each later retry waits twice
            as long as the one before, up to ``max_backoff``.
        max_backoff: The longest wait between two attempts.
        send_timeout: Seconds one attempt may take before it counts as a
            (transient) failure, whatever the mailer does.

    A mail that fails permanently (:class:`~enotime.mail.MailError` with
    ``transient`` false), or still fails after ``attempts``, is logged as an
    error on ``enotime.mail`` and recorded in ``node.dead_letters`` as the
    :class:`SendMail` addressed to this actor. A mailer raising something
    other than ``MailError`` counts as a transient failure (and is logged with
    its traceback): the mail is retried, not lost with a crash.
    """

    def __init__(
        self,
        mailer: Mailer,
        *,
        attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        send_timeout: float = 60.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if backoff < 0 or max_backoff < 0:
            raise ValueError("backoff and max_backoff cannot be negative")
        if send_timeout <= 0:
            raise ValueError("send_timeout must be positive")
        self.mailer = mailer
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.send_timeout = send_timeout
        self._waiting: dict[int, _Waiting] = {}
        self._keys = itertools.count()
        self._sent = 0
        self._failed = 0
        self._dead = 0

    async def on_stop(self, reason: ExitReason) -> None:
        waiting, self._waiting = self._waiting, {}
        for entry in waiting.values():
            entry.timer.cancel()
            self._give_up(entry.mail, f"the mailer stopped ({reason}) before its next attempt")

    # -- the protocol ---------------------------------------------------------------------

    @handler
    async def send_mail(self, msg: SendMail) -> None:
        await self._attempt(msg.mail, 1)

    @handler
    async def retry(self, msg: _Retry) -> None:
        entry = self._waiting.pop(msg.key, None)
        if entry is not None:  # else a Flush took it already
            await self._attempt(entry.mail, entry.attempt)

    @handler
    async def flush(self, msg: Flush) -> int:
        waiting, self._waiting = self._waiting, {}
        for entry in waiting.values():
            entry.timer.cancel()
        for entry in waiting.values():
            await self._attempt(entry.mail, entry.attempt)
        return len(self._waiting)

    @handler
    def pending(self, msg: Pending) -> int:
        return len(self._waiting)

    @handler
    def statistics(self, msg: Statistics) -> MailerStatistics:
        return MailerStatistics(
            pending=len(self._waiting),
            sent_total=self._sent,
            failed_attempts_total=self._failed,
            dead_lettered_total=self._dead,
        )

    # -- sending --------------------------------------------------------------------------

    async def _attempt(self, mail: Mail, attempt: int) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):
                await self.mailer.send(mail)
        except MailError as error:
            self._failed_attempt(mail, attempt, str(error), transient=error.transient)
        except TimeoutError:
            reason = f"no answer within {self.send_timeout:g} s"
            self._failed_attempt(mail, attempt, reason, transient=True)
        except Exception as error:  # a mailer's bug must not lose the mail: retry it
            log.warning("mailer %r raised %r", self.mailer, error, exc_info=error)
            self._failed_attempt(mail, attempt, repr(error), transient=True)
        else:
            self._sent += 1
            log.info("mail %r sent to %s (attempt %d)", mail.subject, masked(mail.to), attempt)

    def _failed_attempt(self, mail: Mail, attempt: int, reason: str, *, transient: bool) -> None:
        self._failed += 1
        if not transient:
            self._give_up(mail, f"permanent failure: {reason}")
            return
        if attempt >= self.attempts:
            self._give_up(mail, f"{attempt} attempt(s) failed, the last: {reason}")
            return
        delay = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
        log.warning(
            "mail %r to %s failed (attempt %d of %d): %s; retrying in %g s",
            mail.subject,
            masked(mail.to),
            attempt,
            self.attempts,
            reason,
            delay,
        )
        key = next(self._keys)
        timer = self.send_after(delay, _Retry(key))
        self._waiting[key] = _Waiting(mail, attempt + 1, timer)

    def _give_up(self, mail: Mail, reason: str) -> None:
        self._dead += 1
        log.error("mail %r to %s not sent: %s", mail.subject, masked(mail.to), reason)
        # The node's dead-letter record (counted in its statistics and metrics, and
        # logged on enotime.deadletter): the mail is kept there, never dropped silently.
        self.node.dead_letter(self.ref, SendMail(mail), f"mail not sent: {reason}")
