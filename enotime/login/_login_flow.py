"""Logging in: the password step, then -- for a user with MFA -- the code step.

No answer may tell whether an address has an account, by its content or by
its delay: an unknown address and a locked user get a dummy verify and a
decoy write, the same work as a wrong password.
"""

from __future__ import annotations

from enotime.login import _onetime
from enotime.login._errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidEmail,
    InvalidMfaCode,
    InvalidOrExpiredToken,
)
from enotime.login._identity import Email, login_password, parse_email
from enotime.login._messages import Login, LoginMfa, MfaChallenge, Tokens
from enotime.login._mfa import MfaFlow, with_step
from enotime.login._onetime import Purpose
from enotime.login._parts import LoginParts
from enotime.login._session_flow import AMR_MFA, AMR_PASSWORD, SessionFlow

__all__ = ["LoginFlow"]


class LoginFlow:
    """``Login`` and its second step ``LoginMfa``, with lockout and MFA."""

    def __init__(self, parts: LoginParts, mfa: MfaFlow, sessions: SessionFlow) -> None:
        self._parts = parts
        self._mfa = mfa
        self._sessions = sessions

    async def login(self, msg: Login) -> Tokens | MfaChallenge:
        """Check the password (and the code, if given); tokens, or a challenge for the code."""
        parts = self._parts
        logins, hasher, lockout = parts.counts.logins, parts.hasher, parts.lockout
        password = login_password(msg.password, max_bytes=parts.config.max_password_bytes)
        if password is None:
            logins["invalid_credentials"] += 1
            raise InvalidCredentials  # too long to be anyone's: refused before any hashing
        try:
            email: Email | None = parse_email(msg.email)
        except InvalidEmail:
            email = None
        user = None if email is None else await parts.users.find_email(email)
        now = parts.clock()
        if user is None or lockout.locked(user, now):
            # The same work as a real check, for the same answer at the same time:
            # a verify now, a (decoy) write after the reply.
            await hasher.dummy_verify(password)
            lockout.failed(None)
            logins["invalid_credentials" if user is None else "locked"] += 1
            raise InvalidCredentials
        if not await hasher.verify(user.password, password):
            lockout.failed(user)
            logins["invalid_credentials"] += 1
            raise InvalidCredentials
        if parts.config.email_verification_required and not user.verified:
            logins["unverified"] += 1
            raise EmailNotVerified  # only ever told to someone who knows the password
        if hasher.needs_rehash(user.password):
            rehashed = user.changed(password=await hasher.hash(password))
            user = await parts.users.save(rehashed)
        if not user.mfa_active:
            return await self._sessions.open(user, AMR_PASSWORD)
        if msg.totp is None:
            challenge = await self._mfa.challenge(user)
            logins["mfa_required"] += 1
            return challenge
        mfa = user.mfa
        assert mfa is not None
        secret = await self._mfa.secret(mfa)
        step = parts.totp.verify(secret, msg.totp, last_step=mfa.last_step)
        if step is None:
            lockout.failed(user)
            self._mfa.code_refused(secret, msg.totp, mfa.last_step)
            logins["invalid_mfa_code"] += 1
            raise InvalidMfaCode
        parts.counts.mfa_events["verified"] += 1
        user = await parts.users.save(user.changed(mfa=with_step(mfa, step).to_json()))
        return await self._sessions.open(user, AMR_MFA)

    async def login_mfa(self, msg: LoginMfa) -> Tokens:
        """The code step: a TOTP or recovery code against the challenge of the password step."""
        parts = self._parts
        store, now, logins = parts.actors.store, parts.clock(), parts.counts.logins
        try:
            challenge = await _onetime.open_token(
                store, Purpose.MFA_CHALLENGE, msg.challenge, now=now
            )
        except InvalidOrExpiredToken:
            logins["invalid_challenge"] += 1
            raise
        user = await parts.users.get(str(challenge.fields["user"]))
        mfa = None if user is None else user.mfa
        if user is None or mfa is None or not mfa.active:
            logins["invalid_challenge"] += 1
            await _onetime.spend(store, challenge)
            raise InvalidOrExpiredToken
        if parts.lockout.locked(user, now):
            logins["locked"] += 1
            await self._mfa.challenge_failed(challenge)
            raise InvalidMfaCode
        updated = await self._mfa.check_code(user, mfa, msg.code)
        if updated is None:
            parts.lockout.failed(user)
            logins["invalid_mfa_code"] += 1
            await self._mfa.challenge_failed(challenge)
            raise InvalidMfaCode
        await _onetime.spend(store, challenge)
        user = await parts.users.save(user.changed(mfa=updated.to_json()))
        return await self._sessions.open(user, AMR_MFA)
