"""The accounts actor: create accounts, invite people into them, change roles, remove members.

:class:`AccountsService` is a :class:`~enotime.auth.Worker` registered as
``"accounts"`` by convention. Each handler declares its permission (see
:data:`~enotime.login._memberships.ACCOUNT_PERMISSIONS`); the worker checks it
against the token's claims before the body runs, including that a message's
``account`` is the token's ``acct``. The body then checks the caller's role
*as stored now*: a member removed or demoted since their token was issued is
refused at once here, whatever the token still says.

Roles changed here reach other workers with the caller's next access token:
tokens are short-lived (``LoginConfig.access_ttl``, 5 minutes by default) and
the login actor reads the roles afresh at every refresh and account switch
(``SwitchAccount``).

Invitations: a random 256-bit token is mailed to the invitee; the store keeps
only its SHA-256 (itself blind-indexed), with an expiry. Accepting needs a
logged-in caller and the token; it is single-use (a second accept is refused,
also under a race: the write names the revision it consumes). The caller's
email address is *not* compared with the invited one -- only the login actor
knows it, and possession of the token, which only ever travelled to that
address, is the proof, as with a password-reset link. Forwarding the mail
forwards the invitation.

The actor handles one message at a time, so the "last owner" checks cannot
race each other on one node. Writes name the revision they replace, so two
accounts actors on different nodes cannot overwrite each other silently (the
loser gets the store's ``Conflict``, 409), but they could each remove one of
two owners at the same moment: run one accounts actor per cluster if that matters.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from enotime import handler
from enotime.auth import Forbidden, Worker, requires
from enotime.errors import Refused
from enotime.login._accounts_errors import (
    AccountFlowDisabled,
    AccountsUnavailable,
    AlreadyMember,
    InvalidInvitation,
    InvalidInviteeEmail,
    InvitationProblem,
    LastOwner,
    NotAMember,
    UnknownAccount,
)
from enotime.login._accounts_messages import (
    AcceptInvite,
    AccountInfo,
    AccountList,
    ChangeRole,
    CreateAccount,
    Invitation,
    Invite,
    ListMembers,
    ListMyAccounts,
    Member,
    MemberList,
    RemoveMember,
)
from enotime.login._caller import caller_subject, check_self_scope
from enotime.login._memberships import (
    ACCOUNT_PERMISSIONS,
    INVITATION,
    MEMBERSHIP,
    account_name,
    accounts_of,
    check_account_name,
    check_role,
    create_account,
    get_membership,
    members_of,
    membership_id,
    new_id,
)
from enotime.login._outage import answers_unavailable
from enotime.mail import InvalidMail, Mail, SendMail
from enotime.store import Conflict, NotFound, Record, StoreClient

__all__ = ["SELF", "AccountsConfig", "AccountsService"]

log = logging.getLogger("enotime.accounts")

SELF: Final = "account:self"
"""The permission of what any logged-in caller may do for themselves (create, list, accept).

Granted by no role: it needs only an authenticated caller whose token's scope
covers it (``account:self``, ``account:*`` or ``*``).
"""

MAX_TOKEN_CHARS: Final = 128


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    """How an accounts actor is configured.

    Attributes:
        store: Name of the store actor (it must keep ``DOCUMENT_TYPES``).
        mailer: Name of the mailer actor (``SendMail`` casts).
        invitation_ttl: Seconds an invitation can be accepted.
        invitation_url: The mailed link is this plus ``?token=...``.
        product: How the mails name the service.
        account_creation: Let users create accounts (``CreateAccount``) beyond
            the personal one the login actor makes at sign-up.
        invitations: Let owners and admins invite people (``Invite``) and
            invitees accept (``AcceptInvite``; invitations already mailed
            stop working too).

    A flow switched off is refused with :class:`AccountFlowDisabled` (403)
    before anything is read or written; its routes stay declared.
    """

    store: str = "store"
    mailer: str = "mailer"
    invitation_ttl: float = 7 * 24 * 3600.0
    invitation_url: str = "http://127.0.0.1:8000/accounts/invitations/accept"
    product: str = "ENoTime"
    account_creation: bool = True
    invitations: bool = True

    def __post_init__(self) -> None:
        if not self.invitation_ttl > 0:
            raise ValueError("invitation_ttl must be positive")


# A store, crypto actor or mailer that is down, slow or sealed: answer 503, do not crash.
_answers_503 = answers_unavailable(AccountsUnavailable, log=log, prefix="accounts")


class AccountsService(Worker):
    """The accounts actor (register it as ``"accounts"``).

    Args:
        config: Actor names, invitation lifetime and link.
        clock: Wall-clock seconds since the epoch, for invitation expiry.
    """

    role_permissions: ClassVar[Mapping[str, frozenset[str]]] = ACCOUNT_PERMISSIONS
    refusals: ClassVar[tuple[type[Exception], ...]] = (Refused, Conflict, NotFound)

    def __init__(
        self, config: AccountsConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config or AccountsConfig()
        self.clock = clock

    @property
    def _store(self) -> StoreClient:
        # Looked up on each use: the store actor may have restarted under a supervisor.
        return StoreClient(self.node.lookup(self.config.store))

    def authorise(self, permission: str, message: object) -> None:
        """``SELF`` needs only an authenticated caller whose scope covers it."""
        if permission != SELF:
            super().authorise(permission, message)
            return
        check_self_scope(SELF, "account:*")

    # -- for oneself ------------------------------------------------------------------------

    @handler
    @requires(SELF)
    @_answers_503
    async def create(self, msg: CreateAccount) -> AccountInfo:
        if not self.config.account_creation:
            raise AccountFlowDisabled("creating accounts is switched off")
        caller = caller_subject()
        name = check_account_name(msg.name)
        account = await create_account(self._store, name=name, owner=caller)
        log.info("accounts: %s created account %s", caller, account)
        return AccountInfo(account, name, "owner")

    @handler
    @requires(SELF)
    @_answers_503
    async def list_mine(self, msg: ListMyAccounts) -> AccountList:
        store = self._store
        found: list[AccountInfo] = []
        for account, roles in await accounts_of(store, caller_subject()):
            try:
                name = await account_name(store, account)
            except UnknownAccount:  # a membership left behind by a deleted account
                continue
            found.append(AccountInfo(account, name, roles[0]))
        return AccountList(tuple(found))

    @handler
    @requires(SELF)
    @_answers_503
    async def accept(self, msg: AcceptInvite) -> AccountInfo:
        self._check_invitations()
        caller = caller_subject()
        store = self._store
        token = msg.token
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise InvalidInvitation(InvitationProblem.UNKNOWN)
        found = await store.find(INVITATION.name, token_hash=_token_hash(token))
        if len(found) != 1:
            raise InvalidInvitation(InvitationProblem.UNKNOWN)
        invitation = found[0]
        fields = invitation.fields
        account, role = fields.get("account"), check_role(fields.get("role"))
        if not isinstance(account, str):
            raise InvalidInvitation(InvitationProblem.UNKNOWN)
        if fields.get("state") != "pending":
            raise InvalidInvitation(InvitationProblem.USED)
        expires_at = fields.get("expires_at")
        if not isinstance(expires_at, int | float) or self.clock() >= expires_at:
            raise InvalidInvitation(InvitationProblem.EXPIRED)
        name = await account_name(store, account)
        if await get_membership(store, account, caller) is not None:
            raise AlreadyMember("you are already a member of this account")
        # Consume the invitation first, naming the revision read: of two accepts racing,
        # exactly one wins, and a token never admits two people. (Should the store fail
        # between the two writes, the invitation is spent without a membership: the
        # safe side; the inviter sends a new one.)
        consumed = Record(
            invitation.id,
            INVITATION.name,
            {**fields, "state": "accepted", "accepted_by": caller},
        )
        try:
            await store.put(consumed, invitation.rev)
        except Conflict:
            raise InvalidInvitation(InvitationProblem.USED) from None
        try:
            await _put_membership(store, account, caller, role)
        except Conflict:  # joined by another way in between
            raise AlreadyMember("you are already a member of this account") from None
        log.info("accounts: %s joined %s as %s (%s)", caller, account, role, invitation.id)
        return AccountInfo(account, name, role)

    # -- on one account -----------------------------------------------------------------------

    @handler
    @requires("account:read")
    @_answers_503
    async def list_members(self, msg: ListMembers) -> MemberList:
        store = self._store
        await _acting_role(store, msg.account, caller_subject(), "account:read")
        members = await members_of(store, msg.account)
        return MemberList(msg.account, tuple(Member(user, role) for user, role in members))

    @handler
    @requires("account:invite")
    @_answers_503
    async def invite(self, msg: Invite) -> Invitation:
        self._check_invitations()
        caller = caller_subject()
        role = check_role(msg.role)
        store = self._store
        caller_role = await _acting_role(store, msg.account, caller, "account:invite")
        if role == "owner" and caller_role != "owner":
            raise Forbidden("only an owner can invite an owner")
        mailer = self.node.whereis(self.config.mailer)
        if mailer is None:
            log.error("accounts: no mailer %r: invitation not created", self.config.mailer)
            raise AccountsUnavailable
        name = await account_name(store, msg.account)
        token = secrets.token_urlsafe(32)
        try:  # Mail checks and normalises the address (email-validator)
            mail = Mail(msg.email, *self._invitation_mail(name, role, token))
        except InvalidMail as error:
            raise InvalidInviteeEmail(str(error)) from None
        address = mail.to
        invitation = new_id("inv")
        expires_at = self.clock() + self.config.invitation_ttl
        await store.put(
            Record(
                invitation,
                INVITATION.name,
                {
                    "account": msg.account,
                    "role": role,
                    "email": address,
                    "token_hash": _token_hash(token),
                    "expires_at": expires_at,
                    "inviter": caller,
                    "state": "pending",
                    "accepted_by": None,
                },
            )
        )
        mailer.send(SendMail(mail))
        log.info(
            "accounts: %s invited someone to %s as %s (%s)", caller, msg.account, role, invitation
        )
        return Invitation(invitation, msg.account, role, expires_at)

    @handler
    @requires("account:manage")
    @_answers_503
    async def change_role(self, msg: ChangeRole) -> Member:
        caller = caller_subject()
        role = check_role(msg.role)
        store = self._store
        caller_role = await _acting_role(store, msg.account, caller, "account:manage")
        target = await get_membership(store, msg.account, msg.user)
        if target is None:
            raise NotAMember("this user is not a member of this account")
        current = check_role(target.fields.get("role"))
        if caller_role != "owner" and "owner" in (current, role):
            raise Forbidden("only an owner can make or change an owner")
        if current == role:
            return Member(msg.user, role)
        if current == "owner":
            await _keep_an_owner(store, msg.account, msg.user, "demoted")
        await store.put(
            Record(target.id, MEMBERSHIP.name, {**target.fields, "role": role}), target.rev
        )
        log.info("accounts: %s made %s %s in %s", caller, msg.user, role, msg.account)
        return Member(msg.user, role)

    @handler
    @requires("account:read")  # any member may leave; removing another needs account:manage
    @_answers_503
    async def remove(self, msg: RemoveMember) -> None:
        caller = caller_subject()
        store = self._store
        if msg.user == caller:
            caller_role = await _acting_role(store, msg.account, caller, "account:read")
        else:
            self.authorise("account:manage", msg)  # the token must grant it too
            caller_role = await _acting_role(store, msg.account, caller, "account:manage")
        target = await get_membership(store, msg.account, msg.user)
        if target is None:
            raise NotAMember("this user is not a member of this account")
        if target.fields.get("role") == "owner":
            if caller_role != "owner":
                raise Forbidden("only an owner can remove an owner")
            await _keep_an_owner(store, msg.account, msg.user, "removed")
        assert target.rev is not None
        await store.delete(target.id, target.rev)
        log.info("accounts: %s removed %s from %s", caller, msg.user, msg.account)

    def _check_invitations(self) -> None:
        if not self.config.invitations:
            raise AccountFlowDisabled("invitations are switched off")

    # -- mail ---------------------------------------------------------------------------------

    def _invitation_mail(self, name: str, role: str, token: str) -> tuple[str, str]:
        """The subject and text of an invitation mail."""
        hours = self.config.invitation_ttl / 3600
        lifetime = f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"
        link = f"{self.config.invitation_url}?token={token}"
        subject = f"{self.config.product}: you are invited to join {name}"
        text = (
            f"You have been invited to join the account {name!r} on {self.config.product} "
            f"as {role}.\n\n"
            f"To accept, log in (or register first) and open:\n\n    {link}\n\n"
            f"or give this invitation code: {token}\n\n"
            f"The invitation can be used once and expires in {lifetime}. "
            "If you did not expect it, ignore this mail."
        )
        return subject, text


# -- helpers -------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    # The token carries 256 random bits: a fast hash is enough (no dictionary to try).
    return hashlib.sha256(token.encode()).hexdigest()


async def _acting_role(store: StoreClient, account: str, user: str, permission: str) -> str:
    """``user``'s role in ``account`` as stored now; ``Forbidden`` unless it grants it."""
    membership = await get_membership(store, account, user)
    if membership is None:
        raise Forbidden("you are not a member of this account")
    role = check_role(membership.fields.get("role"))
    if permission not in ACCOUNT_PERMISSIONS[role]:
        raise Forbidden(f"your role in this account does not grant {permission}")
    return role


async def _keep_an_owner(store: StoreClient, account: str, leaving: str, how: str) -> None:
    """Refuse with :class:`LastOwner` unless an owner other than ``leaving`` remains."""
    others = [u for u, r in await members_of(store, account) if r == "owner" and u != leaving]
    if not others:
        raise LastOwner(
            f"the last owner of an account cannot be {how}: make another member owner first"
        )


async def _put_membership(store: StoreClient, account: str, user: str, role: str) -> None:
    """Create ``user``'s membership; the store's ``Conflict`` if one exists."""
    fields = {"account": account, "user": user, "role": role}
    await store.put(Record(membership_id(account, user), MEMBERSHIP.name, fields))
