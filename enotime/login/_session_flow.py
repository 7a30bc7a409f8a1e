"""Sessions: tokens issued at login, refreshed, switched to another account, ended."""

from __future__ import annotations

import logging
from typing import Final

from enotime.auth import Forbidden
from enotime.login import _mails, _sessions
from enotime.login._caller import caller_claims
from enotime.login._errors import FlowDisabled, InvalidRefreshToken
from enotime.login._memberships import accounts_of, roles_of
from enotime.login._messages import (
    AccountRoles,
    Logout,
    Me,
    Refresh,
    SwitchAccount,
    Tokens,
    WhoAmI,
)
from enotime.login._parts import LoginParts
from enotime.login._sessions import ReuseDetected, Session
from enotime.login._users import User

__all__ = ["AMR_MFA", "AMR_PASSWORD", "SessionFlow"]

log = logging.getLogger("enotime.login")

AMR_PASSWORD: Final = ("pwd",)
"""The ``amr`` of a session opened with the password alone."""
AMR_MFA: Final = ("pwd", "otp", "mfa")
"""The ``amr`` of a session opened with the password and a second factor."""


class SessionFlow:
    """A user's sessions: an access token and a family of refresh tokens each."""

    def __init__(self, parts: LoginParts) -> None:
        self._parts = parts

    async def open(self, user: User, amr: tuple[str, ...]) -> Tokens:
        """Log ``user`` in: clear their failures, issue tokens, maybe mail a notice."""
        parts = self._parts
        parts.lockout.clear(user.id)
        if user.failures or user.locked_until:
            user = await parts.users.save(user.changed(failures=0, locked_until=0))
        account, roles = await self._account_for(user, user.account)
        issued = parts.keys.signer.issue(user.id, account=account, roles=roles, amr=amr)
        refresh_token: str | None = None
        if parts.config.refresh_tokens:
            refresh_token = await _sessions.start(
                parts.actors.store,
                user=user.id,
                account=account,
                amr=amr,
                epoch=user.epoch,
                expires_at=parts.clock() + parts.config.refresh_ttl,
            )
        if parts.config.login_notifications:
            address = await parts.users.address(user)
            parts.actors.mail(_mails.login_notice, address, parts.clock(), with_mfa=amr == AMR_MFA)
        parts.counts.logins["success"] += 1
        return self._tokens(issued.token, refresh_token, account)

    async def refresh(self, msg: Refresh) -> Tokens:
        """Rotate a refresh token; a spent one presented again revokes its user's tokens."""
        parts = self._parts
        _check_refresh_tokens(parts)
        refreshes = parts.counts.refreshes
        try:
            session, refresh_token = await _sessions.rotate(
                parts.actors.store, msg.refresh_token, now=parts.clock()
            )
        except InvalidRefreshToken:
            refreshes["invalid"] += 1
            raise
        except ReuseDetected as reuse:
            refreshes["reuse_detected"] += 1
            log.warning(
                "login: a spent refresh token of user %s was presented again: "
                "its session and access tokens are revoked",
                reuse.session.user,
            )
            await parts.revocations.revoke_user(reuse.session.user)
            raise InvalidRefreshToken from None
        user = await parts.users.get(session.user)
        if user is None or user.epoch != session.epoch:
            refreshes["invalid"] += 1
            raise InvalidRefreshToken
        account, roles = await self._account_for(user, session.account)
        issued = parts.keys.signer.issue(user.id, account=account, roles=roles, amr=session.amr)
        refreshes["rotated"] += 1
        return self._tokens(issued.token, refresh_token, account)

    async def switch_account(self, msg: SwitchAccount) -> Tokens:
        """Tokens for another account of the caller's (and their refresh token rotated into it)."""
        parts = self._parts
        claims = caller_claims()
        user = await parts.users.caller(claims)
        if not isinstance(msg.target, str):
            raise Forbidden("you are not a member of this account")
        roles = await roles_of(parts.actors.store, user.id, msg.target)
        if not roles:
            raise Forbidden("you are not a member of this account")
        amr = claims.get("amr")
        amr_list = tuple(a for a in amr if isinstance(a, str)) if isinstance(amr, list) else ()
        refresh_token: str | None = None
        if msg.refresh_token is not None:
            _check_refresh_tokens(parts)
            session, refresh_token = await self._rotate_own(user, msg.refresh_token, msg.target)
            amr_list = session.amr
        issued = parts.keys.signer.issue(
            user.id, account=msg.target, roles=roles, amr=amr_list or AMR_PASSWORD
        )
        return self._tokens(issued.token, refresh_token, msg.target)

    async def logout(self, msg: Logout) -> None:
        """Revoke the caller's access token and refresh token, or every session of theirs."""
        parts = self._parts
        claims = caller_claims()
        user_id = str(claims["sub"])
        jti, exp = claims.get("jti"), claims.get("exp")
        if isinstance(jti, str) and jti and isinstance(exp, int | float):
            parts.revocations.revoke_token(jti, exp)
        if msg.refresh_token is not None:
            await _sessions.revoke(parts.actors.store, msg.refresh_token, user=user_id)
        if msg.everywhere:
            user = await parts.users.get(user_id)
            if user is not None:
                await parts.users.save(user.changed(epoch=user.epoch + 1))
            await parts.revocations.revoke_user(user_id)
        else:
            await parts.revocations.publish()

    async def who_am_i(self, msg: WhoAmI) -> Me:
        """The caller: their id, address, MFA state and accounts."""
        parts = self._parts
        claims = caller_claims()
        user = await parts.users.caller(claims)
        memberships = await accounts_of(parts.actors.store, user.id)
        mfa = user.mfa
        return Me(
            user=user.id,
            account=str(claims.get("acct", "")),
            email=await parts.users.address(user),
            mfa_enabled=mfa is not None and mfa.active,
            accounts=tuple(AccountRoles(a, tuple(r)) for a, r in memberships),
        )

    async def _account_for(self, user: User, wanted: str) -> tuple[str, list[str]]:
        """``wanted`` and the user's roles in it; if no longer a member, another account."""
        store = self._parts.actors.store
        roles = await roles_of(store, user.id, wanted)
        if roles:
            return wanted, roles
        if wanted != user.account:
            roles = await roles_of(store, user.id, user.account)
            if roles:
                return user.account, roles
        memberships = await accounts_of(store, user.id)
        if memberships:
            return memberships[0][0], memberships[0][1]
        return user.account, []

    async def _rotate_own(self, user: User, token: str, account: str) -> tuple[Session, str]:
        """Rotate the caller's own refresh token into ``account``."""
        parts = self._parts
        refreshes = parts.counts.refreshes
        try:
            rotated = await _sessions.rotate(
                parts.actors.store,
                token,
                now=parts.clock(),
                account=account,
                owner=(user.id, user.epoch),
            )
        except InvalidRefreshToken:
            refreshes["invalid"] += 1
            raise
        except ReuseDetected:
            refreshes["reuse_detected"] += 1
            await parts.revocations.revoke_user(user.id)
            raise InvalidRefreshToken from None
        refreshes["rotated"] += 1
        return rotated

    def _tokens(self, access_token: str, refresh_token: str | None, account: str) -> Tokens:
        self._parts.counts.tokens_issued += 1
        return Tokens(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_in=int(self._parts.config.access_ttl),
            account=account,
        )


def _check_refresh_tokens(parts: LoginParts) -> None:
    """Refuse with :class:`FlowDisabled` when refresh tokens are switched off."""
    if not parts.config.refresh_tokens:
        raise FlowDisabled("refresh tokens are switched off: log in again")
