"""The sweeper: expired mailed tokens and sessions leave the store; live ones stay and work."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from enotime import ActorRef
from enotime.errors import NameNotFound
from enotime.login import LoginSweeper, Refresh, RequestPasswordReset, SweepExpired, Tokens
from tests.unit._log_lines import LogLines, log_lines

from .conftest import LoginSystem

WAIT = 10.0


async def ids(system: LoginSystem, doc_type: str) -> set[str]:
    await system.mails()  # the login actor has finished the work it does after its replies
    records, cursor = await system.store.list(doc_type, limit=1000)
    assert cursor is None
    return {record.id for record in records}


async def start_sweeper(system: LoginSystem, **options: float) -> ActorRef[LoginSweeper]:
    options.setdefault("first_sweep", 3600.0)
    return await system.node.spawn(
        LoginSweeper, clock=system.time, page_size=2, **options, name="login-sweeper"
    )


@pytest.fixture
def sweeper_log() -> Iterator[LogLines]:
    """Lines of the ``enotime.login`` logger that speak of the sweeper."""
    with log_lines("enotime.login", "login sweeper") as lines:
        yield lines


async def test_expired_tokens_go_and_a_live_session_stays_and_still_refreshes(
    system: LoginSystem,
) -> None:
    await system.register("alice@example.com", verify=False)  # a verification token
    await system.register("bob@example.com")  # his token is spent by verifying
    tokens = await system.log_in("bob@example.com")  # a session
    await system.call(RequestPasswordReset("bob@example.com"))  # a reset token
    mailed = await ids(system, "login.token")
    sessions = await ids(system, "login.session")
    assert len(mailed) == 2
    assert len(sessions) == 1
    sweeper = await start_sweeper(system)

    assert await sweeper.call(SweepExpired()) == 0  # nothing has expired yet
    assert await ids(system, "login.token") == mailed

    system.time.advance(max(system.config.verification_ttl, system.config.reset_ttl))
    assert await sweeper.call(SweepExpired()) == 2
    assert await ids(system, "login.token") == set()
    assert await ids(system, "login.session") == sessions
    renewed = await system.call(Refresh(tokens.refresh_token or ""))
    assert isinstance(renewed, Tokens)


async def test_a_session_goes_once_its_refresh_tokens_have_expired(system: LoginSystem) -> None:
    await system.register("alice@example.com")
    await system.log_in("alice@example.com")
    system.time.advance(60)
    newer = await system.log_in("alice@example.com")  # a second session, a minute younger
    sweeper = await start_sweeper(system)

    system.time.advance(system.config.refresh_ttl - 30)  # the first one just expired
    assert await sweeper.call(SweepExpired()) == 1
    assert len(await ids(system, "login.session")) == 1
    renewed = await system.call(Refresh(newer.refresh_token or ""))
    assert isinstance(renewed, Tokens)


async def test_every_page_is_swept(system: LoginSystem) -> None:
    for n in range(7):  # page_size is 2: four pages of verification tokens
        await system.register(f"user{n}@example.com", verify=False)
    assert len(await ids(system, "login.token")) == 7
    sweeper = await start_sweeper(system)
    system.time.advance(system.config.verification_ttl)

    assert await sweeper.call(SweepExpired()) == 7
    assert await ids(system, "login.token") == set()


async def test_the_timed_sweep_runs_and_comes_again(
    system: LoginSystem, sweeper_log: LogLines
) -> None:
    await system.register("alice@example.com", verify=False)
    assert len(await ids(system, "login.token")) == 1
    system.time.advance(system.config.verification_ttl)
    await start_sweeper(system, first_sweep=0.0, interval=0.05)

    async with asyncio.timeout(WAIT):
        await sweeper_log.seen.wait()
    assert sweeper_log.messages == ["login sweeper: deleted 1 expired tokens and sessions"]
    assert await ids(system, "login.token") == set()

    sweeper_log.seen.clear()
    for n in range(2):
        await system.register(f"user{n}@example.com", verify=False)
    assert len(await ids(system, "login.token")) == 2
    system.time.advance(system.config.verification_ttl)
    async with asyncio.timeout(WAIT):
        await sweeper_log.seen.wait()
    assert sweeper_log.messages[1] == "login sweeper: deleted 2 expired tokens and sessions"


async def test_without_its_store_a_sweep_is_refused_or_skipped_and_the_sweeper_lives_on(
    system: LoginSystem, sweeper_log: LogLines
) -> None:
    sweeper = await start_sweeper(system, first_sweep=0.0, interval=3600.0)
    await system.node.stop(system.node.lookup("store"))

    async with asyncio.timeout(WAIT):
        await sweeper_log.seen.wait()  # the timed sweep met no store actor
    assert sweeper_log.messages[0].startswith("login sweeper: sweep skipped, the next in 3600 s")
    with pytest.raises(NameNotFound):
        await sweeper.call(SweepExpired())
    assert sweeper.is_alive


@pytest.mark.parametrize(
    "options",
    [{"interval": 0.0}, {"first_sweep": -1.0}, {"page_size": 0}, {"page_size": 1001}],
)
def test_settings_that_cannot_work_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        LoginSweeper(**options)  # type: ignore[arg-type]
