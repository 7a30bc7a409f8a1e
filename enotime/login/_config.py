"""How a login actor is configured: who it is, which flows are on, and its limits."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LoginConfig"]


@dataclass(frozen=True, slots=True)
class LoginConfig:
    """The login actor's configuration; every flow can be switched off.

    Attributes:
        issuer: The ``iss`` of the access tokens (the fronts verify it).
        audience: Their ``aud``.
        link_base_url: Mailed links are this plus ``?token=...`` (for example
            ``https://app.example.com/verify``); the verification and reset
            links get their own path appended (``/verify-email``, ``/reset-password``).
        access_ttl: Seconds an access token lives.
        refresh_ttl: Seconds a refresh-token family lives from the login that
            started it (rotation does not extend it).
        registration: Accept new users.
        email_verification: Mail a verification link at registration.
        email_verification_required: Refuse to log in an unverified address
            (needs ``email_verification``).
        password_reset: Accept password-reset requests.
        login_notifications: Mail the owner after each successful login.
        mfa: Offer TOTP enrolment (users already enrolled are still asked for
            a code when this is switched off later).
        refresh_tokens: Answer a refresh token with each login, and accept
            them at ``/refresh``. Switched off, a login answers an access
            token only (``refresh_token`` is null), and ``Refresh`` -- or a
            ``SwitchAccount`` naming a refresh token -- is refused with
            ``FlowDisabled`` (403); refresh tokens issued before are refused
            too (logout still revokes them).
        lockout: Lock a user out after ``max_failures`` consecutive failed
            logins (back-off). Switched off, failures are neither counted nor
            written, for a known or an unknown address alike; only the
            front's per-route rate limits stop a password guesser.
        verification_ttl: Seconds a verification link is valid.
        reset_ttl: Seconds a password-reset link is valid.
        mfa_challenge_ttl: Seconds between the password step and the code step.
        mfa_challenge_attempts: Codes one MFA challenge accepts before it is spent.
        max_failures: Consecutive failed logins allowed before back-off starts.
        base_backoff: Seconds locked after the first failure past ``max_failures``;
            doubled for each further one.
        max_backoff: The longest lock.
        min_password_chars: The shortest password, in characters.
        max_password_bytes: The longest password, in UTF-8 bytes (argon2 hashes
            whatever it is given: an unbounded password is a denial of service).
        max_signing_keys: Signing keys kept after a rotation (the current one
            included); older ones are retired, so tokens they signed stop verifying.
        personal_account_name: The name of the account created for each new user.
        fronts: Names of the front actors that receive ``RevocationsChanged``.
        mailer: Name of the mailer actor (``SendMail`` casts).
        store: Name of the store actor.
        crypto: Name of the crypto actor.
        email_key: Crypto key that encrypts email addresses; only the login
            actor uses it (with Vault: only its policy grants it).
        lookup_key: Crypto key of the email lookup HMAC (see ``_records``). Do
            not rotate it: lookups would stop finding existing users.
        secret_key: Crypto key that encrypts TOTP secrets and JWT signing keys.
    """

    issuer: str = "enotime"
    audience: str = "enotime"
    link_base_url: str = "http://127.0.0.1:8000/auth"
    access_ttl: float = 300.0
    refresh_ttl: float = 14 * 24 * 3600.0
    registration: bool = True
    email_verification: bool = True
    email_verification_required: bool = True
    password_reset: bool = True
    login_notifications: bool = True
    mfa: bool = True
    refresh_tokens: bool = True
    lockout: bool = True
    verification_ttl: float = 24 * 3600.0
    reset_ttl: float = 3600.0
    mfa_challenge_ttl: float = 300.0
    mfa_challenge_attempts: int = 5
    max_failures: int = 5
    base_backoff: float = 30.0
    max_backoff: float = 3600.0
    min_password_chars: int = 12
    max_password_bytes: int = 1024
    max_signing_keys: int = 3
    personal_account_name: str = "Personal"
    fronts: tuple[str, ...] = ("front",)
    mailer: str = "mailer"
    store: str = "store"
    crypto: str = "crypto"
    email_key: str = "login-email"
    lookup_key: str = "login-email-index"
    secret_key: str = "login-secret"

    def __post_init__(self) -> None:
        if self.email_verification_required and not self.email_verification:
            raise ValueError("email_verification_required needs email_verification")
        for name in ("access_ttl", "refresh_ttl", "verification_ttl", "reset_ttl"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.mfa_challenge_ttl <= 0 or self.mfa_challenge_attempts < 1:
            raise ValueError("the MFA challenge needs a positive lifetime and attempts")
        if self.max_failures < 1 or self.base_backoff < 0 or self.max_backoff < self.base_backoff:
            raise ValueError("lockout: max_failures >= 1 and 0 <= base_backoff <= max_backoff")
        if not 8 <= self.min_password_chars <= self.max_password_bytes:
            raise ValueError("password policy: 8 <= min_password_chars <= max_password_bytes")
        if self.max_signing_keys < 2:
            raise ValueError("max_signing_keys must keep at least the previous key (>= 2)")
        fronts: object = self.fronts
        if isinstance(fronts, str):
            raise TypeError("fronts is a tuple of names, not one string")
