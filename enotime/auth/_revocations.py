"""Revoked access tokens (by ``jti``) and revoked subjects (every token issued before a time)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

__all__ = ["RevocationList"]


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _entries(snapshot: object, key: str) -> dict[str, float]:
    entries = snapshot.get(key, {}) if isinstance(snapshot, Mapping) else None
    if not isinstance(entries, Mapping) or not all(
        isinstance(name, str) and name and _finite(at) for name, at in entries.items()
    ):
        raise ValueError("not a revocation snapshot")
    return {name: float(at) for name, at in entries.items()}


class RevocationList:
    """Which access tokens are refused before they expire.

    A token is revoked by its ``jti`` (logout), or every token of a subject
    issued before a time is (password reset, "log out everywhere", refresh
    token reuse). Entries are pruned once no token they cover can still be
    valid: a ``jti`` ``skew`` seconds after its ``exp``, a subject
    ``subject_retention`` seconds after its time — which must exceed the
    longest access-token lifetime. The login actor keeps the list and pushes
    :meth:`snapshot` to fronts, which :meth:`merge` it (JSON-able both ways).

    Args:
        clock: Seconds since the epoch (inject a fake one in tests).
        skew: Seconds a revoked ``jti`` is kept past its ``exp`` (verifier leeway
            and clock skew).
        subject_retention: Seconds a revoked subject is kept past its time.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        skew: float = 60.0,
        subject_retention: float = 86_400.0,
    ) -> None:
        self._clock = clock
        self.skew = skew
        self.subject_retention = subject_retention
        self._tokens: dict[str, float] = {}
        self._subjects: dict[str, float] = {}

    def revoke(self, jti: str, expires_at: float) -> None:
        """Refuse the token ``jti`` from now on (it expires at ``expires_at``)."""
        if not isinstance(jti, str) or not jti or not _finite(expires_at):
            raise ValueError("revoke takes a non-empty jti and a finite expiry time")
        self._tokens[jti] = max(float(expires_at), self._tokens.get(jti, -math.inf))
        self.prune()

    def revoke_subject(self, sub: str, issued_before: float) -> None:
        """Refuse every token of ``sub`` issued (``iat``) before ``issued_before``."""
        if not isinstance(sub, str) or not sub or not _finite(issued_before):
            raise ValueError("revoke_subject takes a non-empty subject and a finite time")
        self._subjects[sub] = max(float(issued_before), self._subjects.get(sub, -math.inf))
        self.prune()

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """True if the token with these (verified) claims has been revoked."""
        jti = claims.get("jti")
        if isinstance(jti, str) and jti in self._tokens:
            return True
        sub = claims.get("sub")
        before = self._subjects.get(sub) if isinstance(sub, str) else None
        if before is None:
            return False
        iat = claims.get("iat")
        return not _finite(iat) or iat < before

    def prune(self) -> None:
        """Forget the entries that can no longer match a valid token."""
        now = self._clock()
        self._tokens = {j: e for j, e in self._tokens.items() if e + self.skew > now}
        self._subjects = {
            s: t for s, t in self._subjects.items() if t + self.subject_retention > now
        }

    def snapshot(self) -> dict[str, Any]:
        """The live entries as JSON: ``{"tokens": {jti: exp}, "subjects": {sub: time}}``."""
        self.prune()
        return {"tokens": dict(self._tokens), "subjects": dict(self._subjects)}

    def merge(self, snapshot: Mapping[str, Any]) -> None:
        """Add the entries of another list's :meth:`snapshot` (the later time wins).

        Raises:
            ValueError: ``snapshot`` is not shaped like one; nothing is merged.
        """
        tokens = _entries(snapshot, "tokens")
        subjects = _entries(snapshot, "subjects")
        for jti, expires_at in tokens.items():
            self._tokens[jti] = max(expires_at, self._tokens.get(jti, -math.inf))
        for sub, before in subjects.items():
            self._subjects[sub] = max(before, self._subjects.get(sub, -math.inf))
        self.prune()

    def __len__(self) -> int:
        return len(self._tokens) + len(self._subjects)

    def __repr__(self) -> str:
        return f"<RevocationList tokens={len(self._tokens)} subjects={len(self._subjects)}>"
