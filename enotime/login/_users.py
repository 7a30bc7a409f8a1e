"""A user record as the login actor reads it, and the lockout policy.

Lockout: every failed password or code counts against the user; the
``max_failures``-th consecutive failure, and each one after it, locks the
user for ``base_backoff * 2**(n - max_failures)`` seconds (at most
``max_backoff``). While locked, attempts are refused without being checked or
counted -- so an attacker cannot extend a lock forever -- and with the same
answer as a wrong password. A complete login clears the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enotime.login._config import LoginConfig
from enotime.login._records import USER
from enotime.store import JsonValue, Record

__all__ = ["Mfa", "Strikes", "User", "backoff"]


@dataclass(frozen=True, slots=True)
class Mfa:
    """A user's TOTP state: the encrypted secret, whether confirmed, replay and recovery data."""

    secret: str
    active: bool
    last_step: int | None
    recovery: tuple[str, ...]

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "secret": self.secret,
            "active": self.active,
            "last_step": self.last_step,
            "recovery": list(self.recovery),
        }

    @classmethod
    def from_json(cls, value: object) -> Mfa | None:
        if not isinstance(value, dict):
            return None
        secret, active, last_step = value.get("secret"), value.get("active"), value.get("last_step")
        recovery = value.get("recovery")
        if (
            not isinstance(secret, str)
            or not isinstance(active, bool)
            or not (last_step is None or isinstance(last_step, int))
            or not isinstance(recovery, list)
        ):
            raise ValueError("a stored MFA state is not in the expected shape")
        return cls(secret, active, last_step, tuple(str(code) for code in recovery))


@dataclass(frozen=True, slots=True)
class Strikes:
    """A user's consecutive failures and the time a lock they earned ends."""

    failures: int
    locked_until: float

    def locked(self, now: float) -> bool:
        return now < self.locked_until

    def after_failure(self, config: LoginConfig, now: float) -> Strikes:
        """One more failure, and the lock it earns (if any)."""
        failures = self.failures + 1
        lock = backoff(failures, config)
        return Strikes(failures, now + lock if lock > 0 else self.locked_until)


@dataclass(frozen=True, slots=True)
class User:
    """A ``login.user`` record, typed. :meth:`changed` makes the record to write back."""

    record: Record

    def __post_init__(self) -> None:
        if self.record.type != USER.name:
            raise ValueError(f"{self.record.id!r} is not a user record")

    def _get(self, name: str, kind: type[Any] | tuple[type[Any], ...]) -> Any:
        value = self.record.fields.get(name)
        if not isinstance(value, kind):
            raise ValueError(f"user {self.record.id!r}: field {name!r} is missing or malformed")
        return value

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def email(self) -> str:
        """The address, encrypted under the login actor's ``email_key``."""
        return str(self._get("email", str))

    @property
    def password(self) -> str:
        return str(self._get("password", str))

    @property
    def verified(self) -> bool:
        return bool(self._get("verified", bool))

    @property
    def failures(self) -> int:
        return int(self._get("failures", int))

    @property
    def locked_until(self) -> float:
        return float(self._get("locked_until", (int, float)))

    @property
    def epoch(self) -> int:
        return int(self._get("epoch", int))

    @property
    def account(self) -> str:
        """The user's personal account, made at registration."""
        return str(self._get("account", str))

    @property
    def mfa(self) -> Mfa | None:
        return Mfa.from_json(self.record.fields.get("mfa"))

    @property
    def mfa_active(self) -> bool:
        mfa = self.mfa
        return mfa is not None and mfa.active

    @property
    def strikes(self) -> Strikes:
        """The failures as stored (the login actor may know of newer ones)."""
        return Strikes(self.failures, self.locked_until)

    def changed(self, **fields: JsonValue) -> Record:
        """The record with ``fields`` replaced, at the revision it was read."""
        return Record(self.id, USER.name, {**self.record.fields, **fields}, self.record.rev)


def backoff(failures: int, config: LoginConfig) -> float:
    """Seconds locked after the ``failures``-th consecutive failure (0: not locked)."""
    if failures < config.max_failures:
        return 0.0
    exponent = min(failures - config.max_failures, 32)  # no float overflow
    return float(min(config.base_backoff * 2**exponent, config.max_backoff))
