"""A real login system per test: crypto, encrypted SQLite store, outbox mailer, a front stand-in.

Time is a hand-moved wall clock shared by the login actor, its TOTP and the
token verifier; passwords are hashed with cheap argon2 parameters.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyotp
import pytest

from enotime import ActorRef, Node, RequestContext, request_context
from enotime.auth import (
    Jwks,
    PasswordHasher,
    RevocationList,
    RevocationsChanged,
    TokenVerifier,
)
from enotime.crypto import CryptoClient, CryptoService, EmbeddedCryptoEngine
from enotime.login import (
    DOCUMENT_TYPES,
    Accepted,
    Login,
    LoginConfig,
    LoginService,
    Register,
    Tokens,
    VerifyEmail,
)
from enotime.login._totp import Totp
from enotime.mail import Mail, MailerService, Outbox, Pending
from enotime.messages import Request
from enotime.store import SQLiteStore, StoreClient, StoreService
from enotime.testing import Probe
from tests.unit._wall_clock import WallClock

R = TypeVar("R")

PASSWORD = "correct horse battery staple"


class CountingHasher(PasswordHasher):
    """argon2id that counts its real and dummy verifications: cheap, or as the system hashes."""

    def __init__(self, *, cheap: bool = True) -> None:
        if cheap:
            super().__init__(time_cost=1, memory_cost=8, parallelism=1, max_threads=1)
        else:  # the OWASP parameters a system runs with
            super().__init__()
        self.verifies = 0
        self.dummy_verifies = 0
        self.hashes = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return await super().hash(password)

    async def verify(self, hash: str, password: str) -> bool:
        self.verifies += 1
        return await super().verify(hash, password)

    async def dummy_verify(self, password: str) -> bool:
        self.dummy_verifies += 1
        self.verifies -= 1  # the dummy runs one real verify inside: count it once, as a dummy
        return await super().dummy_verify(password)


@dataclass
class LoginSystem:
    """One node running crypto, store, mailer, a front probe and the login actor."""

    node: Node
    login: ActorRef[LoginService]
    mailer: ActorRef[MailerService]
    outbox: Outbox
    front: Probe
    store: StoreClient
    directory: Path
    time: WallClock
    hasher: CountingHasher
    totp: Totp
    config: LoginConfig
    spawn_login: Callable[[], Awaitable[ActorRef[LoginService]]]
    front_revocations: RevocationList = field(init=False)

    def __post_init__(self) -> None:
        self.front_revocations = RevocationList(self.time)

    async def restart(self) -> None:
        """Stop the login actor and start a new one on the same store."""
        await self.node.stop(self.login)
        self.login = await self.spawn_login()

    async def call(self, message: Request[R], *, claims: Mapping[str, Any] | None = None) -> R:
        """Call the login actor, as the front would: with a context and maybe claims."""
        with request_context(RequestContext("test-request", dict(claims or {}))):
            result: R = await self.login.call(message, timeout=10)
            return result

    async def as_user(self, tokens: Tokens, message: Request[R]) -> R:
        """Call with the verified claims of ``tokens``' access token."""
        return await self.call(message, claims=await self.verify(tokens.access_token))

    async def verifier(self) -> TokenVerifier:
        """A verifier as a front holds it: the login actor's JWKS and the pushed revocations."""
        jwks: dict[str, Any] = await self.call(Jwks())
        return TokenVerifier(
            issuer=self.config.issuer,
            audience=self.config.audience,
            jwks=jwks,
            revocations=self.front_revocations,
            clock=self.time,
        )

    async def verify(self, access_token: str) -> dict[str, Any]:
        return (await self.verifier()).verify(access_token)

    async def revocations_pushed(self) -> RevocationsChanged:
        """The next revocation the front stand-in received, merged into its list."""
        changed = await self.front.expect(RevocationsChanged)
        self.front_revocations.merge(changed.snapshot)
        return changed

    async def mails(self) -> list[Mail]:
        """Every mail sent so far (once the login actor and the mailer did their queued work)."""
        await self.call(Jwks())  # the login actor's work after its replies is done
        await self.mailer.call(Pending())
        return list(self.outbox.sent)

    async def mails_to(self, address: str) -> list[Mail]:
        return [m for m in await self.mails() if m.to.lower() == address.lower()]

    async def last_token_to(self, address: str, path: str) -> str:
        """The token of the newest link to ``path`` mailed to ``address``."""
        for mail in reversed(await self.mails_to(address)):
            found = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", mail.text)
            if found:
                return found.group(1)
        raise AssertionError(f"no {path} link was mailed to {address}")

    async def register(self, email: str, password: str = PASSWORD, *, verify: bool = True) -> None:
        accepted: Accepted = await self.call(Register(email, password))
        assert isinstance(accepted, Accepted)
        if verify:
            token = await self.last_token_to(email, "/verify-email")
            await self.call(VerifyEmail(token))

    async def log_in(self, email: str, password: str = PASSWORD) -> Tokens:
        tokens = await self.call(Login(email, password))
        assert isinstance(tokens, Tokens)
        return tokens

    def totp_code(self, secret: str, at: float | None = None) -> str:
        return pyotp.TOTP(secret).at(self.time.now if at is None else at)

    def raw_store(self) -> bytes:
        """What a copy of the database holds: the SQLite file and its write-ahead log."""
        return b"".join(p.read_bytes() for p in sorted(self.directory.glob("store.sqlite3*")))


SystemFactory = Callable[..., Awaitable[LoginSystem]]


@pytest.fixture
async def start_system(tmp_path: Path) -> AsyncIterator[SystemFactory]:
    """Start a login system; ``await start_system(hasher=..., **LoginConfig overrides)``."""
    async with AsyncExitStack() as stack:

        async def start(*, hasher: CountingHasher | None = None, **overrides: Any) -> LoginSystem:
            engine = EmbeddedCryptoEngine(tmp_path / "keyring")
            for share in (await engine.initialize(shares=2, threshold=2))[:2]:
                await engine.submit_unseal_share(share)
            stack.push_async_callback(engine.aclose)
            adapter = await SQLiteStore.open(tmp_path / "store.sqlite3")
            stack.push_async_callback(adapter.aclose)
            counting = hasher if hasher is not None else CountingHasher()
            stack.push_async_callback(counting.aclose)
            node = await stack.enter_async_context(Node("login-test"))
            clock = WallClock()
            totp = Totp(clock=clock)
            config = LoginConfig(
                issuer="https://login.test.example",
                audience="enotime-tests",
                link_base_url="https://app.example.com/auth",
                **overrides,
            )
            crypto = await node.spawn(CryptoService, engine, name="crypto")
            store = await node.spawn(
                StoreService, adapter, CryptoClient(crypto), DOCUMENT_TYPES, name="store"
            )
            outbox = Outbox(stream=None)
            mailer = await node.spawn(MailerService, outbox, name="mailer")
            front = await Probe.start(node, name="front")

            async def spawn_login() -> ActorRef[LoginService]:
                return await node.spawn(
                    LoginService, config, hasher=counting, totp=totp, clock=clock, name="login"
                )

            system = LoginSystem(
                node=node,
                login=await spawn_login(),
                mailer=mailer,
                outbox=outbox,
                front=front,
                store=StoreClient(store),
                directory=tmp_path,
                time=clock,
                hasher=counting,
                totp=totp,
                config=config,
                spawn_login=spawn_login,
            )
            return system

        yield start


@pytest.fixture
async def system(start_system: SystemFactory) -> LoginSystem:
    """A login system with the default configuration."""
    return await start_system()
