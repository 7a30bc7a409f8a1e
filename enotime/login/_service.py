"""The login actor: registration, login, sessions, password reset and MFA.

One login actor per system (registered as ``"login"``): it holds the signing
keys and the revocation list, and its mailbox serialises what must not race --
a registration and the uniqueness check before it, a refresh and the
rotation it makes, a failure and the lock it earns. Everything it keeps goes
through the store and crypto actors; passwords are hashed with argon2id off
the event loop (while a hash runs, the actor waits, the node does not).

No answer may tell whether an address has an account, by its content or by
its delay. So the work that depends on it runs *after* the reply, as a
message the actor sends itself: a registration is answered once the password
is hashed, then looked up; a reset request is answered at once, then looked
up; a failed login is answered after the (real or dummy) verify, then its
failure count -- or, for an unknown address, a decoy record -- is written.

The actor is the flows' one entry point and owns their parts; each flow lives
in its own module (``_registration``, ``_login_flow``, ``_session_flow``,
``_mfa``, ``_reset``), and what each flow ends in is counted per node
(``_statistics``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

from enotime._context import current_context
from enotime._handler import handler
from enotime._reason import ExitReason
from enotime.auth import (
    Forbidden,
    Jwks,
    PasswordHasher,
    Revocations,
    Worker,
    public,
    requires,
)
from enotime.login._caller import check_self_scope
from enotime.login._collaborators import Collaborators
from enotime.login._config import LoginConfig
from enotime.login._directory import UserDirectory
from enotime.login._errors import LoginUnavailable
from enotime.login._keys import SigningKeys
from enotime.login._lockout import Lockout, SaveStrikes
from enotime.login._login_flow import LoginFlow
from enotime.login._messages import (
    Accepted,
    ConfirmMfa,
    DisableMfa,
    EnrolMfa,
    Login,
    LoginMfa,
    Logout,
    Me,
    MfaChallenge,
    MfaEnrolment,
    RecoveryCodes,
    Refresh,
    Register,
    RequestPasswordReset,
    ResendVerification,
    ResetPassword,
    RotateSigningKey,
    SwitchAccount,
    Tokens,
    VerifyEmail,
    WhoAmI,
)
from enotime.login._mfa import MfaFlow
from enotime.login._outage import answers_unavailable, logs_unavailable
from enotime.login._parts import LoginParts
from enotime.login._registration import FinishRegistration, MailVerificationAgain, RegistrationFlow
from enotime.login._reset import MailReset, PasswordResetFlow
from enotime.login._revocation import RevocationPublisher
from enotime.login._session_flow import SessionFlow
from enotime.login._statistics import LoginCounts, node_counts
from enotime.login._totp import Totp

__all__ = ["SELF", "LoginService"]

log = logging.getLogger("enotime.login")

SELF: Final = "login:self"
"""The permission of the flows a user runs on their own identity (logout, MFA, switch account).

Granted to anyone authenticated whose token's scope covers it: it does not
depend on the caller's roles in the token's account.
"""


def _count_outage(service: LoginService, message: object) -> None:
    """Count a flow the store or crypto actor's outage stopped, under its own outcome."""
    counts = service._parts.counts
    if isinstance(message, Register | FinishRegistration):
        counts.registrations["unavailable"] += 1
    elif isinstance(message, Login | LoginMfa):
        counts.logins["unavailable"] += 1
    elif isinstance(message, Refresh):
        counts.refreshes["unavailable"] += 1


# A store or crypto actor that is down, slow or sealed: answer 503 (or log), do not crash.
_answers_503 = answers_unavailable(
    LoginUnavailable, log=log, prefix="login", on_outage=_count_outage
)
_logs_outage = logs_unavailable(log=log, prefix="login", on_outage=_count_outage)


class LoginService(Worker):
    """The login actor (register it as ``"login"``).

    Args:
        config: Issuer, audience, flows switched on, limits, actor and key names.
        hasher: The argon2id hasher; one with OWASP parameters is made (and
            closed at stop) if omitted. Tests pass cheap parameters.
        totp: TOTP settings and clock; ``Totp()`` if omitted.
        clock: Wall-clock seconds since the epoch, for every expiry and token.

    The store actor must keep :data:`~enotime.login.DOCUMENT_TYPES` (the
    login and accounts document types).
    """

    role_permissions: ClassVar[Mapping[str, frozenset[str]]] = {}

    def __init__(
        self,
        config: LoginConfig | None = None,
        *,
        hasher: PasswordHasher | None = None,
        totp: Totp | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config if config is not None else LoginConfig()
        self._owns_hasher = hasher is None
        self.hasher = hasher if hasher is not None else PasswordHasher()
        self.totp = totp if totp is not None else Totp(clock=clock)
        self.clock = clock
        actors = Collaborators(self.config, self)
        users = UserDirectory(self.config, clock, actors)
        self._parts = LoginParts(
            config=self.config,
            clock=clock,
            hasher=self.hasher,
            totp=self.totp,
            actors=actors,
            users=users,
            lockout=Lockout(self.config, clock, users, actors),
            keys=SigningKeys(self.config, clock, actors),
            revocations=RevocationPublisher(self.config, clock, actors),
            counts=LoginCounts(),  # replaced by the node's in on_start
        )
        self._registration = RegistrationFlow(self._parts)
        self._mfa = MfaFlow(self._parts)
        self._sessions = SessionFlow(self._parts)
        self._login = LoginFlow(self._parts, self._mfa, self._sessions)
        self._reset = PasswordResetFlow(self._parts)

    # -- lifecycle ----------------------------------------------------------------------

    async def on_start(self) -> None:
        self._parts.counts = node_counts(self.node)
        try:
            await self._load()
        except BaseException:
            if self._owns_hasher:  # on_stop does not run for an actor that failed to start
                await self.hasher.aclose()
            raise

    async def _load(self) -> None:
        """Create the login keys if needed; load the signing keys and the revocations."""
        parts = self._parts
        crypto, store = parts.actors.crypto, parts.actors.store
        for key in (self.config.email_key, self.config.lookup_key, self.config.secret_key):
            await crypto.create_key(key)
        await parts.keys.load(store, crypto)
        await parts.revocations.load(store)
        await parts.users.ensure_decoy()
        log.info("login: signing with key %s", parts.keys.keyring.current.kid)

    async def on_stop(self, reason: ExitReason) -> None:
        if self._owns_hasher:
            await self.hasher.aclose()

    def authorise(self, permission: str, message: object) -> None:
        """``SELF`` needs only an authenticated caller whose scope covers it."""
        if permission != SELF:
            super().authorise(permission, message)
            return
        check_self_scope(SELF, "login:*")

    # -- public flows ----------------------------------------------------------------------

    @handler
    @public
    @_answers_503
    async def register(self, msg: Register) -> Accepted:
        return await self._registration.register(msg)

    @handler
    @public
    @_answers_503
    async def verify_email(self, msg: VerifyEmail) -> Accepted:
        return await self._registration.verify_email(msg)

    @handler
    @public
    @_answers_503
    async def resend_verification(self, msg: ResendVerification) -> Accepted:
        return await self._registration.resend_verification(msg)

    @handler
    @public
    @_answers_503
    async def login(self, msg: Login) -> Tokens | MfaChallenge:
        return await self._login.login(msg)

    @handler
    @public
    @_answers_503
    async def login_mfa(self, msg: LoginMfa) -> Tokens:
        return await self._login.login_mfa(msg)

    @handler
    @public
    @_answers_503
    async def refresh(self, msg: Refresh) -> Tokens:
        return await self._sessions.refresh(msg)

    @handler
    @public
    @_answers_503
    async def request_password_reset(self, msg: RequestPasswordReset) -> Accepted:
        return await self._reset.request(msg)

    @handler
    @public
    @_answers_503
    async def reset_password(self, msg: ResetPassword) -> Accepted:
        return await self._reset.reset(msg)

    @handler
    @public
    def jwks(self, msg: Jwks) -> dict[str, Any]:
        return self._parts.keys.keyring.jwks()

    @handler
    @public
    def revocation_snapshot(self, msg: Revocations) -> dict[str, Any]:
        return self._parts.revocations.snapshot()

    # -- the work that runs after the reply (casts to itself) -----------------------------

    @handler
    @public
    @_logs_outage
    async def finish_registration(self, msg: FinishRegistration) -> None:
        """Create the user, or mail the owner of a known address (internal)."""
        await self._registration.finish(msg)

    @handler
    @public
    @_logs_outage
    async def mail_reset(self, msg: MailReset) -> None:
        """Mail a reset link if the address has an account (internal)."""
        await self._reset.mail(msg)

    @handler
    @public
    @_logs_outage
    async def mail_verification_again(self, msg: MailVerificationAgain) -> None:
        """Mail a new verification link if the address waits for one (internal)."""
        await self._registration.mail_again(msg)

    @handler
    @public
    async def save_strikes(self, msg: SaveStrikes) -> None:
        """Write back a user's failures counted in memory (internal, after a failed attempt)."""
        await self._parts.lockout.write_back(msg)

    # -- authenticated flows -------------------------------------------------------------

    @handler
    @requires(SELF)
    @_answers_503
    async def logout(self, msg: Logout) -> None:
        await self._sessions.logout(msg)

    @handler
    @requires(SELF)
    @_answers_503
    async def who_am_i(self, msg: WhoAmI) -> Me:
        return await self._sessions.who_am_i(msg)

    @handler
    @requires(SELF)
    @_answers_503
    async def switch_account(self, msg: SwitchAccount) -> Tokens:
        return await self._sessions.switch_account(msg)

    @handler
    @requires(SELF)
    @_answers_503
    async def enrol_mfa(self, msg: EnrolMfa) -> MfaEnrolment:
        return await self._mfa.enrol(msg)

    @handler
    @requires(SELF)
    @_answers_503
    async def confirm_mfa(self, msg: ConfirmMfa) -> RecoveryCodes:
        return await self._mfa.confirm(msg)

    @handler
    @requires(SELF)
    @_answers_503
    async def disable_mfa(self, msg: DisableMfa) -> Accepted:
        return await self._mfa.disable(msg)

    # -- operators ----------------------------------------------------------------------

    @handler
    @public
    @_answers_503
    async def rotate_signing_key(self, msg: RotateSigningKey) -> str:
        context = current_context()
        if context is not None and context.claims:
            # Operators call it on the node, without claims; no endpoint routes here.
            raise Forbidden("signing keys are rotated by operators only")
        return await self._parts.keys.rotate()
