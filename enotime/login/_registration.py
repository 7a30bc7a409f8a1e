"""Registration and email verification.

No answer may tell whether an address has an account: a registration is
answered once the password is hashed, and a request for a new verification
link at once; the lookup, and the writes or mails that depend on it, run
after the reply, as a message the login actor sends itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enotime.login import _mails, _onetime
from enotime.login._errors import (
    FlowDisabled,
    InvalidOrExpiredToken,
    LoginError,
    RegistrationClosed,
)
from enotime.login._identity import Email, check_password, parse_email
from enotime.login._messages import Accepted, Register, ResendVerification, VerifyEmail
from enotime.login._onetime import Purpose
from enotime.login._parts import LoginParts

__all__ = ["FinishRegistration", "MailVerificationAgain", "RegistrationFlow"]


@dataclass(frozen=True)
class FinishRegistration:
    """Internal: the lookup and writes of a registration, after its reply."""

    email: Email = field(repr=False)
    hashed: str = field(repr=False)


@dataclass(frozen=True)
class MailVerificationAgain:
    """Internal: the lookup and mail of a new verification link, after its reply."""

    email: Email = field(repr=False)


class RegistrationFlow:
    """New users: ``Register``, ``VerifyEmail``, ``ResendVerification``."""

    def __init__(self, parts: LoginParts) -> None:
        self._parts = parts

    async def register(self, msg: Register) -> Accepted:
        """Check the address and password, hash it; the rest after the reply."""
        parts = self._parts
        config = parts.config
        try:
            if not config.registration:
                raise RegistrationClosed
            email = parse_email(msg.email)
            password = check_password(
                msg.password,
                min_chars=config.min_password_chars,
                max_bytes=config.max_password_bytes,
            )
        except LoginError:
            parts.counts.registrations["refused"] += 1
            raise
        # Hash now, look up after the reply: the answer and its delay are the same for
        # a known address and a new one (the work that differs runs after the reply).
        hashed = await parts.hasher.hash(password)
        parts.actors.tell_self(FinishRegistration(email, hashed))
        if config.email_verification:
            return Accepted("check your mailbox: follow the link we sent to continue")
        return Accepted("you can now log in (if the address already had an account, we mailed it)")

    async def finish(self, msg: FinishRegistration) -> None:
        """Create the user, or mail the owner of a known address."""
        parts = self._parts
        lookup = await parts.users.lookup(msg.email)
        existing = await parts.users.find(lookup)
        if existing is None:
            verified = not parts.config.email_verification
            user_id = await parts.users.create(msg.email, lookup, msg.hashed, verified=verified)
            if not verified:
                await self._mail_verification(user_id, msg.email.address)
            parts.counts.registrations["accepted"] += 1
            return
        if parts.config.email_verification and not existing.verified:
            await self._mail_verification(existing.id, msg.email.address)
        else:
            parts.actors.mail(_mails.already_registered, msg.email.address)
        parts.counts.registrations["duplicate"] += 1

    async def verify_email(self, msg: VerifyEmail) -> Accepted:
        """Mark the user of a verification link verified."""
        parts = self._parts
        if not parts.config.email_verification:
            raise FlowDisabled("email verification is switched off")
        user_id = await _onetime.consume(
            parts.actors.store, Purpose.VERIFY_EMAIL, msg.token, now=parts.clock()
        )
        user = await parts.users.get(user_id)
        if user is None:
            raise InvalidOrExpiredToken
        if not user.verified:
            await parts.actors.store.put(user.changed(verified=True), user.record.rev)
        return Accepted("your email address is verified: you can log in")

    async def resend_verification(self, msg: ResendVerification) -> Accepted:
        """Answer at once; the lookup and the mail after the reply."""
        parts = self._parts
        if not parts.config.email_verification:
            raise FlowDisabled("email verification is switched off")
        parts.actors.tell_self(MailVerificationAgain(parse_email(msg.email)))
        return Accepted("if the address waits for verification, we have mailed a new link")

    async def mail_again(self, msg: MailVerificationAgain) -> None:
        """Mail a new verification link if the address waits for one."""
        users = self._parts.users
        user = await users.find_email(msg.email)
        if user is not None and not user.verified:
            await self._mail_verification(user.id, await users.address(user))

    async def _mail_verification(self, user_id: str, address: str) -> None:
        parts = self._parts
        token = await _onetime.issue(
            parts.actors.store,
            Purpose.VERIFY_EMAIL,
            user_id,
            expires_at=parts.clock() + parts.config.verification_ttl,
        )
        url = _mails.link(parts.config.link_base_url, "/verify-email", token)
        parts.actors.mail(_mails.verify_email, address, url, parts.config.verification_ttl)
