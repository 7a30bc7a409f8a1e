"""Two-factor authentication: enrolment, codes (TOTP or recovery), challenges, disabling."""

from __future__ import annotations

import logging

from enotime.login import _mails, _onetime
from enotime.login._caller import caller_claims
from enotime.login._errors import (
    FlowDisabled,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidOrExpiredToken,
    MfaAlreadyEnabled,
    MfaNotEnabled,
)
from enotime.login._identity import login_password
from enotime.login._messages import (
    Accepted,
    ConfirmMfa,
    DisableMfa,
    EnrolMfa,
    MfaChallenge,
    MfaEnrolment,
    RecoveryCodes,
)
from enotime.login._onetime import Purpose
from enotime.login._parts import LoginParts
from enotime.login._totp import hash_recovery_code, match_recovery_code, new_recovery_codes
from enotime.login._users import Mfa, User
from enotime.store import Conflict, Record

__all__ = ["MfaFlow", "with_step"]

log = logging.getLogger("enotime.login")


class MfaFlow:
    """A user's second factor: set up, checked at login, switched off."""

    def __init__(self, parts: LoginParts) -> None:
        self._parts = parts

    async def secret(self, mfa: Mfa) -> str:
        """The user's TOTP secret, unsealed."""
        parts = self._parts
        return (await parts.actors.crypto.decrypt(parts.config.secret_key, mfa.secret)).decode(
            "ascii"
        )

    async def check_code(self, user: User, mfa: Mfa, code: object) -> Mfa | None:
        """``mfa`` after accepting ``code`` (TOTP or recovery code), or None if refused."""
        secret = await self.secret(mfa)
        step = self._parts.totp.verify(secret, code, last_step=mfa.last_step)
        events = self._parts.counts.mfa_events
        if step is not None:
            events["verified"] += 1
            return with_step(mfa, step)
        used = match_recovery_code(code, mfa.recovery)
        if used is not None:
            log.info("login: user %s used a recovery code", user.id)
            events["recovery_used"] += 1
            remaining = tuple(h for h in mfa.recovery if h != used)
            return Mfa(mfa.secret, mfa.active, mfa.last_step, remaining)
        self.code_refused(secret, code, mfa.last_step)
        return None

    def code_refused(self, secret: str, code: object, last_step: int | None) -> None:
        """Count a refused code: ``replayed`` if it matches a time step already used.

        The second check runs whenever a step was used before, whatever the
        code, so how long a refusal takes does not tell a replay from a wrong code.
        """
        replayed = (
            last_step is not None
            and self._parts.totp.verify(secret, code, last_step=None) is not None
        )
        self._parts.counts.mfa_events["replayed" if replayed else "failed"] += 1

    async def challenge(self, user: User) -> MfaChallenge:
        """A challenge for the code step of a login whose password step passed."""
        parts = self._parts
        token = await _onetime.issue(
            parts.actors.store,
            Purpose.MFA_CHALLENGE,
            user.id,
            expires_at=parts.clock() + parts.config.mfa_challenge_ttl,
            extra={"attempts": 0},
        )
        return MfaChallenge(token)

    async def challenge_failed(self, challenge: Record) -> None:
        """Count a refused code against ``challenge``; spend it after the last attempt."""
        store = self._parts.actors.store
        attempts = challenge.fields.get("attempts")
        attempts = (attempts if isinstance(attempts, int) else 0) + 1
        if attempts >= self._parts.config.mfa_challenge_attempts:
            await _onetime.spend(store, challenge)
            return
        fields = {**challenge.fields, "attempts": attempts}
        try:
            await store.put(Record(challenge.id, challenge.type, fields), challenge.rev)
        except Conflict:
            raise InvalidOrExpiredToken from None

    async def enrol(self, msg: EnrolMfa) -> MfaEnrolment:
        """Start an enrolment: a new secret, inactive until a code confirms it."""
        parts = self._parts
        if not parts.config.mfa:
            raise FlowDisabled("two-factor authentication is switched off")
        user = await parts.users.caller(caller_claims())
        if user.mfa_active:
            raise MfaAlreadyEnabled
        secret = parts.totp.new_secret()
        sealed = await parts.actors.crypto.encrypt(parts.config.secret_key, secret.encode("ascii"))
        pending = Mfa(secret=sealed, active=False, last_step=None, recovery=())
        await parts.users.save(user.changed(mfa=pending.to_json()))
        uri = parts.totp.provisioning_uri(secret, await parts.users.address(user))
        parts.counts.mfa_events["enrolled"] += 1
        return MfaEnrolment(secret=secret, otpauth_uri=uri)

    async def confirm(self, msg: ConfirmMfa) -> RecoveryCodes:
        """Switch MFA on with a first code; hand out the recovery codes."""
        parts = self._parts
        user = await parts.users.caller(caller_claims())
        mfa = user.mfa
        if mfa is None or mfa.active:
            raise MfaNotEnabled("there is no enrolment to confirm: enrol first")
        secret = await self.secret(mfa)
        step = parts.totp.verify(secret, msg.code, last_step=mfa.last_step)
        if step is None:
            self.code_refused(secret, msg.code, mfa.last_step)
            raise InvalidMfaCode
        codes = new_recovery_codes()
        active = Mfa(mfa.secret, True, step, tuple(hash_recovery_code(c) for c in codes))
        await parts.users.save(user.changed(mfa=active.to_json()))
        parts.actors.mail(_mails.mfa_changed, await parts.users.address(user), enabled=True)
        parts.counts.mfa_events["confirmed"] += 1
        return RecoveryCodes(tuple(codes))

    async def disable(self, msg: DisableMfa) -> Accepted:
        """Switch MFA off, proven by a code or the password (each counts as a failure if wrong)."""
        parts = self._parts
        user = await parts.users.caller(caller_claims())
        mfa = user.mfa
        if mfa is None or not mfa.active:
            raise MfaNotEnabled
        now = parts.clock()
        if parts.lockout.locked(user, now):
            raise InvalidMfaCode if msg.password is None else InvalidCredentials
        if msg.code is not None:
            proven = await self.check_code(user, mfa, msg.code) is not None
            refusal: type[Exception] = InvalidMfaCode
        else:
            password = login_password(msg.password, max_bytes=parts.config.max_password_bytes)
            proven = password is not None and await parts.hasher.verify(user.password, password)
            refusal = InvalidCredentials
        if not proven:
            parts.lockout.failed(user)
            raise refusal
        parts.lockout.clear(user.id)
        await parts.users.save(user.changed(mfa=None, failures=0, locked_until=0))
        parts.actors.mail(_mails.mfa_changed, await parts.users.address(user), enabled=False)
        parts.counts.mfa_events["disabled"] += 1
        return Accepted("two-factor authentication is disabled")


def with_step(mfa: Mfa, step: int) -> Mfa:
    """``mfa`` with ``step`` recorded as the last time step used (no replay of it)."""
    return Mfa(mfa.secret, mfa.active, step, mfa.recovery)
