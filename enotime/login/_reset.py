"""Password reset: a mailed single-use link, then a new password that ends every session.

A request is answered at once, whether the address has an account or not; the
lookup and the mail run after the reply, as a message the login actor sends itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from enotime.login import _mails, _onetime
from enotime.login._errors import FlowDisabled, InvalidOrExpiredToken, WeakPassword
from enotime.login._identity import Email, check_password, parse_email
from enotime.login._messages import Accepted, RequestPasswordReset, ResetPassword
from enotime.login._onetime import Purpose
from enotime.login._parts import LoginParts

__all__ = ["MailReset", "PasswordResetFlow"]


@dataclass(frozen=True)
class MailReset:
    """Internal: the lookup and mail of a reset request, after its reply."""

    email: Email = field(repr=False)


class PasswordResetFlow:
    """``RequestPasswordReset`` and ``ResetPassword``."""

    def __init__(self, parts: LoginParts) -> None:
        self._parts = parts

    async def request(self, msg: RequestPasswordReset) -> Accepted:
        """Answer at once; the lookup and the mail after the reply."""
        parts = self._parts
        if not parts.config.password_reset:
            raise FlowDisabled("password reset is switched off")
        parts.actors.tell_self(MailReset(parse_email(msg.email)))
        parts.counts.password_resets["requested"] += 1
        return Accepted("if the address has an account, we have mailed it a reset link")

    async def mail(self, msg: MailReset) -> None:
        """Mail a reset link if the address has an account."""
        parts = self._parts
        user = await parts.users.find_email(msg.email)
        if user is None:
            return
        token = await _onetime.issue(
            parts.actors.store,
            Purpose.RESET_PASSWORD,
            user.id,
            expires_at=parts.clock() + parts.config.reset_ttl,
        )
        url = _mails.link(parts.config.link_base_url, "/reset-password", token)
        address = await parts.users.address(user)
        parts.actors.mail(_mails.reset_password, address, url, parts.config.reset_ttl)
        parts.counts.password_resets["mailed"] += 1

    async def reset(self, msg: ResetPassword) -> Accepted:
        """Set the new password of a reset link's user and end every session of theirs."""
        parts = self._parts
        config = parts.config
        if not config.password_reset:
            raise FlowDisabled("password reset is switched off")
        store, resets = parts.actors.store, parts.counts.password_resets
        try:
            record = await _onetime.open_token(
                store, Purpose.RESET_PASSWORD, msg.token, now=parts.clock()
            )
            # Check the password before spending the token: a weak one must not burn the link.
            try:
                password = check_password(
                    msg.new_password,
                    min_chars=config.min_password_chars,
                    max_bytes=config.max_password_bytes,
                )
            except WeakPassword:
                resets["weak_password"] += 1
                raise
            hashed = await parts.hasher.hash(password)
            await _onetime.spend(store, record)
            user = await parts.users.get(str(record.fields["user"]))
            if user is None:
                raise InvalidOrExpiredToken
        except InvalidOrExpiredToken:
            resets["invalid_token"] += 1
            raise
        # A new epoch ends every refresh family; revoke_user every access token so far.
        # Following the mailed link also proves the address.
        parts.lockout.clear(user.id)
        await parts.users.save(
            user.changed(
                password=hashed,
                verified=True,
                failures=0,
                locked_until=0,
                epoch=user.epoch + 1,
            )
        )
        await parts.revocations.revoke_user(user.id)
        parts.actors.mail(_mails.password_changed, await parts.users.address(user))
        resets["completed"] += 1
        return Accepted("your password is changed and every session ended: log in again")
