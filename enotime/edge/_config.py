"""How a front is configured: where it listens, whose tokens it accepts, its limits."""

from __future__ import annotations

import math
from dataclasses import dataclass

from enotime.edge._ratelimit import DEFAULT_MAX_KEYS, RateLimit

__all__ = ["EdgeConfig"]


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    """The configuration of one :class:`~enotime.edge.FrontService`.

    Attributes:
        host: The address to listen on (loopback by default).
        port: The TCP port; 0 picks a free one (read it back with ``Where()``).
        issuer: The ``iss`` every access token must carry (the login actor's).
        audience: The ``aud`` every access token must carry.
        jwks_source: The registered name of the actor answering ``Jwks()`` and
            ``Revocations()`` on this node: the login actor.
        jwks_refresh_floor: Seconds between two JWKS fetches triggered by
            tokens signed with an unknown ``kid``: a client inventing kids
            cannot make the front hammer the login actor.
        revocations_refresh: Seconds between two fetches of the login actor's
            revocations (None: only at start and by push). Pushes reach the
            fronts on the login actor's node at once; this bounds how long a
            front on another node accepts a revoked token.
        revocations: Refuse revoked tokens: fetch the login actor's
            ``Revocations()`` at start and merge every ``RevocationsChanged``.
        leeway: Seconds of clock skew tolerated on ``exp``/``nbf``/``iat``.
        max_token_bytes: Longer bearer tokens are refused before parsing.
        token_cache_size: How many verified tokens are remembered so their
            next requests skip the signature check (``exp`` and revocations
            are checked on every use; a new JWKS forgets them all); 0: none.
        address_limits: Limits every route counts per client address.
        subject_limits: Limits every authenticated route counts per token ``sub``.
        rate_limit_keys: How many counters the in-memory limiter keeps.
        trusted_proxy_hops: Proxies in front of this node whose
            ``X-Forwarded-For`` may be believed (0: use the peer address).
        max_body_bytes: Larger request bodies are refused with 413.
        call_timeout: Default seconds an endpoint waits for its target's reply.
        graceful_timeout: Seconds in-flight requests get when the front stops
            (keep it below the supervisor's shutdown timeout for this child).
        bind_retry: Seconds to keep retrying a port still held by a previous
            incarnation of this front (a restart after a crash or a kill).
        title: The OpenAPI title.
        version: The OpenAPI version of this API.
        description: The OpenAPI description.
        docs: Serve ``/openapi.json`` and ``/docs``.
        access_log: Log one line per request on ``enotime.edge.access``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    issuer: str = "enotime"
    audience: str = "enotime"
    jwks_source: str = "login"
    jwks_refresh_floor: float = 10.0
    revocations: bool = True
    revocations_refresh: float | None = 10.0
    leeway: float = 5.0
    max_token_bytes: int = 4096
    token_cache_size: int = 4096
    address_limits: tuple[RateLimit, ...] = (RateLimit(600, 60.0),)
    subject_limits: tuple[RateLimit, ...] = (RateLimit(300, 60.0),)
    rate_limit_keys: int = DEFAULT_MAX_KEYS
    trusted_proxy_hops: int = 0
    max_body_bytes: int = 64 * 1024
    call_timeout: float = 10.0
    graceful_timeout: float = 3.0
    bind_retry: float = 5.0
    title: str = "ENoTime API"
    version: str = "0.1.0"
    description: str = ""
    docs: bool = True
    access_log: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, not {self.port!r}")
        if not self.issuer or not self.audience:
            raise ValueError("issuer and audience must be non-empty")
        if self.revocations_refresh is not None and not (
            math.isfinite(self.revocations_refresh) and self.revocations_refresh > 0
        ):
            raise ValueError(
                f"revocations_refresh must be positive seconds or None, "
                f"not {self.revocations_refresh!r}"
            )
        for name in ("jwks_refresh_floor", "leeway", "graceful_timeout", "bind_retry"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
        if not (math.isfinite(self.call_timeout) and self.call_timeout > 0):
            raise ValueError(f"call_timeout must be positive seconds, not {self.call_timeout!r}")
        for name in ("max_token_bytes", "max_body_bytes", "rate_limit_keys"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        if self.trusted_proxy_hops < 0 or self.token_cache_size < 0:
            raise ValueError("trusted_proxy_hops and token_cache_size must be >= 0")
