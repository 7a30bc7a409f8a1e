"""Acting as users of the accounts actor: claims as the login actor's TokenSigner issues them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from enotime import ActorRef, Node, RequestContext, request_context
from enotime.auth import TokenSigner
from enotime.login._accounts import AccountsService
from enotime.login._accounts_messages import AcceptInvite, CreateAccount, Invite
from enotime.login._memberships import roles_of
from enotime.mail import Mail, SendMail
from enotime.messages import Request
from enotime.store import StoreClient
from enotime.testing import Probe
from tests.unit._wall_clock import WallClock

R = TypeVar("R")

ELSEWHERE = "acct-elsewhere"  # the account in the token of someone acting for themselves


@dataclass
class World:
    node: Node
    store: StoreClient
    accounts: ActorRef[AccountsService]
    mailer: Probe
    clock: WallClock
    signer: TokenSigner

    def claims(
        self, user: str, account: str, roles: list[str], scope: str = "*"
    ) -> Mapping[str, Any]:
        return self.signer.issue(user, account=account, roles=roles, scope=scope).claims

    async def call(
        self,
        user: str,
        message: Request[R],
        *,
        account: str = ELSEWHERE,
        roles: list[str] | None = None,
        scope: str = "*",
    ) -> R:
        """``message`` as ``user`` with a token for ``account`` (their stored roles by default)."""
        if roles is None:
            roles = await roles_of(self.store, user, account)
        claims = self.claims(user, account, roles, scope)
        with request_context(RequestContext("req-test", claims)):
            return await self.accounts.call(message)

    async def create(self, user: str, name: str = "Acme") -> str:
        info = await self.call(user, CreateAccount(name))
        return info.account

    async def invite(self, inviter: str, account: str, email: str, role: str) -> str:
        """Invite ``email`` and return the token the mail carried."""
        await self.call(inviter, Invite(account, email, role), account=account)
        return token_in(await self.mail())

    async def join(self, user: str, account: str, role: str, *, inviter: str = "ada") -> None:
        token = await self.invite(inviter, account, f"{user}@example.com", role)
        await self.call(user, AcceptInvite(token))

    async def mail(self) -> Mail:
        sent = await self.mailer.expect(SendMail)
        return sent.mail


def token_in(mail: Mail) -> str:
    match = re.search(r"invitation code: (\S+)", mail.text)
    assert match is not None, "the invitation mail carries its code"
    return match.group(1)
