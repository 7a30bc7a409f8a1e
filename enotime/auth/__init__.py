"""Authentication and authorisation for the edge: tokens, keys, passwords, worker checks.

- :class:`JwtKeyring` holds the Ed25519 keys access tokens are signed with
  (rotated by ``kid``, published as a JWKS); :class:`TokenSigner` issues
  short-lived EdDSA ``at+jwt`` tokens; :class:`TokenVerifier` checks them
  (pinned algorithm, known kid, required claims, leeway, revocations) and
  raises :class:`InvalidToken` with a :class:`TokenProblem`.
- :class:`RevocationList` refuses single tokens (logout) and every token of
  a subject issued before a time (password reset).
- :class:`PasswordHasher` hashes with argon2id (OWASP parameters) off the
  event loop.
- :class:`Worker` with :func:`requires` / :func:`public`: the handler
  declares a permission, the worker checks the caller's claims before the
  body runs and refuses with :class:`Forbidden` or :class:`Unauthenticated`.
- :class:`Jwks`, :class:`Revocations`, :class:`RevocationsChanged`: the
  messages between the login actor and the fronts.

JWTs are PyJWT's, keys ``cryptography``'s, hashes argon2-cffi's: nothing here
is hand-rolled crypto.
"""

from enotime.auth._authorisation import Worker, public, requires
from enotime.auth._errors import Forbidden, InvalidToken, TokenProblem, Unauthenticated
from enotime.auth._keyring import JwtKeyring, SigningKey
from enotime.auth._messages import Jwks, Revocations, RevocationsChanged
from enotime.auth._passwords import PasswordHasher
from enotime.auth._revocations import RevocationList
from enotime.auth._tokens import ACCESS_TOKEN_TYPE, IssuedToken, TokenSigner
from enotime.auth._verifier import TokenVerifier

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "Forbidden",
    "InvalidToken",
    "IssuedToken",
    "Jwks",
    "JwtKeyring",
    "PasswordHasher",
    "RevocationList",
    "Revocations",
    "RevocationsChanged",
    "SigningKey",
    "TokenProblem",
    "TokenSigner",
    "TokenVerifier",
    "Unauthenticated",
    "Worker",
    "public",
    "requires",
]
