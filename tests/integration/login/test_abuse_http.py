"""Password guessing over real HTTP: the per-user lockout, the per-address route limit, timing.

Two defences stand in a guesser's way, and both are exercised here through
Hypercorn: the login actor locks a user after ``max_failures`` consecutive
failures, for a back-off that doubles with each further one (on the login
system's hand-moved clock); the front's per-route limit on ``/auth/login``
(10 a minute per address, ``LOGIN_LIMIT``, counted on the real clock) answers
429 with ``Retry-After`` before the login actor sees the request.

Account enumeration by timing: the deterministic proxy (how many argon2
verifications and store writes each path costs) is in
``tests/unit/login/test_login.py``; here the real delays are measured over
HTTP with the system's own argon2 parameters.
"""

from __future__ import annotations

import statistics
import time

import httpx

from enotime.login import endpoints
from enotime.login._endpoints import LOGIN_LIMIT
from tests.integration.login.conftest import GENEROUS, Http, HttpFactory
from tests.unit.login.conftest import PASSWORD, CountingHasher

ALICE = {"email": "alice@example.com", "password": PASSWORD}
WRONG = {"email": "alice@example.com", "password": "not the password at all"}
UNKNOWN = {"email": "nobody@example.com", "password": "not the password at all"}


async def _login(http: Http, body: dict[str, str]) -> httpx.Response:
    return await http.post("/auth/login", body)


def _work(http: Http) -> tuple[int, int]:
    """The argon2 verifications so far: (real, dummy)."""
    return http.system.hasher.verifies, http.system.hasher.dummy_verifies


async def test_guessing_a_password_locks_the_user_then_the_route_limit_answers_429(
    http: Http,
) -> None:
    system = http.system
    backoff = system.config.base_backoff
    assert (LOGIN_LIMIT.count, system.config.max_failures) == (10, 5)
    await system.register("alice@example.com")

    for _ in range(5):  # requests 1-5: wrong guesses, the 5th locks the user
        assert (await _login(http, WRONG)).status_code == 401
    assert _work(http) == (5, 0)
    locked = await _login(http, ALICE)  # 6: the right password, refused while locked
    assert locked.status_code == 401
    assert locked.json()["detail"] == "the email or password is not correct"  # as any failure
    assert _work(http) == (5, 1)  # the lock is checked first: a dummy verify, no real one

    system.time.advance(backoff)
    assert (await _login(http, WRONG)).status_code == 401  # 7: one more failure, locks for 2x
    system.time.advance(backoff)
    assert (await _login(http, ALICE)).status_code == 401  # 8: still locked (back-off doubled)
    system.time.advance(backoff)
    assert (await _login(http, ALICE)).status_code == 200  # 9: the lock is over
    assert (await _login(http, WRONG)).status_code == 401  # 10: the last one the route allows
    work = _work(http)

    limited = await _login(http, ALICE)  # 11: over 10 a minute from this address
    assert limited.status_code == 429, limited.text
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= LOGIN_LIMIT.period
    assert _work(http) == work  # refused by the front: the login actor never saw it
    # The limit counts per route: this address may still ask for a reset link.
    assert (await http.post("/auth/forgot-password", {"email": "x@example.com"})).is_success


async def test_an_unknown_address_answers_as_slowly_as_a_wrong_password_over_http(
    start_http: HttpFactory,
) -> None:
    """Median delays of the two refusals, interleaved, with the system's argon2 parameters.

    A noisy shared machine moves single measurements a lot, so the band is
    wide (0.5-2x): an unknown address answered without the argon2 verify
    would be some 30 times faster, far outside it.
    """
    http = await start_http(
        hasher=CountingHasher(cheap=False),
        routes=endpoints(login_limit=GENEROUS),
        max_failures=10_000,  # every attempt takes the wrong-password path, never the lock's
    )
    await http.system.register("alice@example.com")
    rounds, warm_up = 12, 2
    delays: dict[str, list[float]] = {"unknown": [], "wrong": []}
    for index in range(warm_up + rounds):
        # Interleaved, in alternating order: drift and neighbours' load hit both alike.
        order = ("unknown", "wrong") if index % 2 else ("wrong", "unknown")
        for which in order:
            start = time.perf_counter()
            answer = await _login(http, UNKNOWN if which == "unknown" else WRONG)
            elapsed = time.perf_counter() - start
            assert answer.status_code == 401, answer.text
            if index >= warm_up:
                delays[which].append(elapsed)

    unknown, wrong = (statistics.median(delays[which]) for which in ("unknown", "wrong"))
    figures = f"medians: unknown {unknown * 1000:.1f} ms, wrong password {wrong * 1000:.1f} ms"
    print(figures)
    assert 0.5 <= unknown / wrong <= 2.0, figures
    assert _work(http) == (warm_up + rounds, warm_up + rounds)  # one verify each, as ever
