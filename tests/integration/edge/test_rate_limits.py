"""Rate limits per client address, per token subject and per route: 429 with Retry-After.

The counters live in the front's memory (quart-rate-limiter's GCRA), so a
limit holds per front node; quart-rate-limiter keys every limit by route too.
"""

from __future__ import annotations

import httpx

from enotime.edge import RateLimit
from tests.integration.edge.conftest import Edge, StartEdge

THREE_A_MINUTE = (RateLimit(count=3, period=60.0),)


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_a_client_address_over_its_limit_gets_429_with_retry_after(
    start_edge: StartEdge,
) -> None:
    edge = await start_edge(address_limits=THREE_A_MINUTE)
    headers = edge.bearer()

    answers = [await edge.client.get("/whoami", headers=headers) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]

    assert_limited(await edge.client.get("/whoami", headers=headers))


async def test_requests_refused_for_their_token_still_count_against_the_address(
    start_edge: StartEdge,
) -> None:
    edge = await start_edge(address_limits=THREE_A_MINUTE)

    for _ in range(3):
        response = await edge.client.get("/whoami", headers=edge.bearer("guess"))
        assert response.status_code == 401

    assert_limited(await edge.client.get("/whoami", headers=edge.bearer()))


async def test_each_subject_has_its_own_limit_behind_one_address(start_edge: StartEdge) -> None:
    edge = await start_edge(subject_limits=(RateLimit(count=2, period=60.0),))
    alice, bob = edge.bearer(edge.token("alice")), edge.bearer(edge.token("bob"))

    for _ in range(2):
        assert (await edge.client.get("/whoami", headers=alice)).status_code == 200

    assert_limited(await edge.client.get("/whoami", headers=alice))
    assert (await edge.client.get("/whoami", headers=bob)).status_code == 200


async def test_a_route_can_add_its_own_limit(edge: Edge) -> None:
    # /public/whoami declares RateLimit(count=3, period=60.0); the defaults are generous.
    for _ in range(3):
        assert (await edge.client.get("/public/whoami")).status_code == 200

    assert_limited(await edge.client.get("/public/whoami"))
    assert (await edge.client.get("/whoami", headers=edge.bearer())).status_code == 200


async def test_limits_count_per_route_and_health_checks_are_exempt(start_edge: StartEdge) -> None:
    edge = await start_edge(address_limits=THREE_A_MINUTE)
    for _ in range(3):
        await edge.client.get("/whoami", headers=edge.bearer())
    assert_limited(await edge.client.get("/whoami", headers=edge.bearer()))

    assert (await edge.client.get("/.well-known/jwks.json")).status_code == 200
    for _ in range(10):
        assert (await edge.client.get("/healthz")).status_code == 200


async def test_answers_say_how_much_of_the_limit_is_left(start_edge: StartEdge) -> None:
    edge = await start_edge(address_limits=THREE_A_MINUTE)

    response = await edge.client.get("/whoami", headers=edge.bearer())

    assert response.headers["RateLimit-Limit"] == "3"
    assert response.headers["RateLimit-Remaining"] == "2"


async def test_a_forged_forwarded_for_header_does_not_escape_the_address_limit(
    start_edge: StartEdge,
) -> None:
    edge = await start_edge(address_limits=THREE_A_MINUTE)

    for index in range(3):
        forwarded = {"X-Forwarded-For": f"203.0.113.{index}"}
        assert (await edge.client.get("/public/whoami", headers=forwarded)).status_code == 200

    limited = await edge.client.get("/public/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert_limited(limited)


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    start_edge: StartEdge,
) -> None:
    edge = await start_edge(address_limits=THREE_A_MINUTE, trusted_proxy_hops=1)
    first, second = {"X-Forwarded-For": "203.0.113.1"}, {"X-Forwarded-For": "203.0.113.2"}

    for _ in range(3):
        assert (await edge.client.get("/public/whoami", headers=first)).status_code == 200

    assert_limited(await edge.client.get("/public/whoami", headers=first))
    assert (await edge.client.get("/public/whoami", headers=second)).status_code == 200


async def test_a_route_limit_equal_to_the_front_limit_counts_each_request_once(
    start_edge: StartEdge,
) -> None:
    edge = await start_edge(address_limits=THREE_A_MINUTE)  # /public/whoami also says 3/min

    answers = [await edge.client.get("/public/whoami") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert_limited(await edge.client.get("/public/whoami"))
