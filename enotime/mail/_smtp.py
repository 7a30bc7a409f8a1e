"""The production mailer: SMTP through aiosmtplib, one connection per mail."""

from __future__ import annotations

import datetime
import logging
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from enotime.mail._errors import MailError
from enotime.mail._message import Mail, check_address, masked
from enotime.mail._port import Mailer

try:
    import aiosmtplib
except ImportError as exc:  # pragma: no cover - the extra is installed in development
    raise ImportError('SmtpMailer needs aiosmtplib: pip install "enotime[edge]"') from exc

__all__ = ["SmtpMailer"]

log = logging.getLogger("enotime.mail")


class SmtpMailer(Mailer):
    """Sends each mail over SMTP with aiosmtplib, on a fresh connection.

    Args:
        host: The SMTP server (a relay or the provider's submission host).
        port: Its port: 25 (relay), 587 (submission with ``starttls``), 465
            (``use_tls``).
        sender: The ``From`` address, checked like a recipient's.
        username: Log in with this name (and ``password``); credentials are
            only ever sent over TLS, so they need ``starttls`` or ``use_tls``.
        password: The password of ``username``.
        starttls: Upgrade the connection with STARTTLS (required: a server
            that does not offer it is a permanent :class:`MailError`).
        use_tls: Speak TLS from the first byte (implicit TLS, port 465).
        timeout: Seconds allowed for each network operation.
        tls_context: The TLS settings (certificate checks on by default);
            tests pass one that trusts their own certificate.

    The body is never logged: it may hold a verification or reset link.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_tls: bool = False,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if starttls and use_tls:
            raise ValueError("choose starttls (upgrade on connect) or use_tls (implicit TLS)")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if username is not None and not (starttls or use_tls):
            raise ValueError("SMTP credentials are only sent over TLS: set starttls or use_tls")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.host = host
        self.port = port
        self.sender = check_address(sender, what="sender")
        self.username = username
        self._password = password
        self.starttls = starttls
        self.use_tls = use_tls
        self.timeout = timeout
        self.tls_context = tls_context
        self._domain = self.sender.rpartition("@")[2]

    def __repr__(self) -> str:
        return f"<SmtpMailer {self.sender} via {self.host}:{self.port}>"

    def _message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(datetime.datetime.now(datetime.UTC))
        # With the domain given, make_msgid does not look up this host's name (DNS).
        message["Message-ID"] = make_msgid(domain=self._domain)
        message.set_content(mail.text)
        return message

    async def send(self, mail: Mail) -> None:
        """Deliver ``mail`` to the SMTP server, or raise :class:`MailError`."""
        where = f"{self.host}:{self.port}"
        log.debug("sending mail %r to %s via %s", mail.subject, masked(mail.to), where)
        try:
            await aiosmtplib.send(
                self._message(mail),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                start_tls=self.starttls,
                use_tls=self.use_tls,
                timeout=self.timeout,
                tls_context=self.tls_context,
            )
        except aiosmtplib.SMTPException as error:
            transient, code = _classify(error)
            raise MailError(
                f"SMTP delivery via {where} failed: {error}", transient=transient, code=code
            ) from error
        except OSError as error:  # refused, reset, unreachable, TLS handshake
            raise MailError(
                f"SMTP delivery via {where} failed: {error!r}", transient=True
            ) from error


_NO_ANSWER = (
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPTimeoutError,
    aiosmtplib.SMTPServerDisconnected,
)
"""Failures where the server gave no verdict: unreachable, too slow, or hung up."""


def _classify(error: aiosmtplib.SMTPException) -> tuple[bool, int | None]:
    """Whether a later attempt may succeed, and the server's reply code if it answered."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        # Transient only if every refusal was: one permanent refusal will not heal.
        code = max(codes) if codes else None
        return code is None or code < 500, code
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500, error.code
    if isinstance(error, _NO_ANSWER):
        return True, None
    # What remains is a mismatch of capabilities or settings that no retry fixes:
    # STARTTLS or AUTH not offered, SMTPUTF8 needed but not supported.
    return False, None
