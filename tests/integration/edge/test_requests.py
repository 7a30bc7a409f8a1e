"""A request through the front: validated, authenticated, handed to the worker, answered."""

from __future__ import annotations

import logging
import re

import pytest

from tests.integration.edge.conftest import Edge, StartEdge


async def test_an_authenticated_call_reaches_the_worker_and_answers_the_output_model(
    edge: Edge,
) -> None:
    response = await edge.client.post(
        "/accounts/acme/notes",
        json={"title": "  groceries  ", "body": "milk"},
        headers=edge.bearer(),
    )

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    # Strings are stripped by the input model; fields outside the output model stay inside.
    assert response.json() == {"id": 1, "account": "acme", "title": "groceries", "body": "milk"}


async def test_the_claims_and_request_id_reach_the_worker_as_its_request_context(
    edge: Edge,
) -> None:
    token = edge.token("bob", account="acme", roles=("member",))

    response = await edge.client.get(
        "/whoami", headers={**edge.bearer(token), "X-Request-ID": "trace-0001"}
    )

    assert response.json() == {"request_id": "trace-0001", "sub": "bob"}
    assert edge.seen.request_id == "trace-0001"
    assert edge.seen.claims is not None
    assert edge.seen.claims["sub"] == "bob"
    assert edge.seen.claims["acct"] == "acme"
    assert edge.seen.claims["roles"] == ["member"]
    assert edge.seen.claims["iss"] == "https://login.test"


async def test_a_public_endpoint_needs_no_token_and_carries_no_claims(edge: Edge) -> None:
    response = await edge.client.get("/public/whoami")

    assert response.status_code == 200
    assert response.json()["sub"] is None
    assert edge.seen.claims == {}


async def test_a_well_formed_request_id_is_echoed(edge: Edge) -> None:
    response = await edge.client.get("/public/whoami", headers={"X-Request-ID": "abc.DEF:12-3_"})

    assert response.headers["X-Request-ID"] == "abc.DEF:12-3_"
    assert response.json()["request_id"] == "abc.DEF:12-3_"


async def test_a_missing_or_malformed_request_id_is_replaced_by_a_generated_one(
    edge: Edge,
) -> None:
    generated = re.compile(r"[0-9a-f]{32}")
    for header in ({}, {"X-Request-ID": "short"}, {"X-Request-ID": "has spaces in it"}):
        response = await edge.client.get("/public/whoami", headers=header)

        request_id = response.headers["X-Request-ID"]
        assert generated.fullmatch(request_id), header
        assert response.json()["request_id"] == request_id


async def test_every_answer_carries_a_request_id_errors_included(edge: Edge) -> None:
    for response in (
        await edge.client.get("/no/such/route", headers={"X-Request-ID": "trace-404-x"}),
        await edge.client.get("/whoami", headers={"X-Request-ID": "trace-401-x"}),
    ):
        assert response.headers["X-Request-ID"] == response.json()["request_id"]
        assert response.json()["request_id"].startswith("trace-")


async def test_path_parameters_are_typed_by_their_converter(edge: Edge) -> None:
    await edge.client.post("/accounts/acme/notes", json={"title": "one"}, headers=edge.bearer())

    found = await edge.client.get("/accounts/acme/notes/1", headers=edge.bearer())
    not_a_number = await edge.client.get("/accounts/acme/notes/one", headers=edge.bearer())

    assert found.json()["title"] == "one"
    assert not_a_number.status_code == 404


async def test_a_query_model_validates_and_feeds_the_message(edge: Edge) -> None:
    for title in ("a", "b", "c"):
        await edge.client.post("/accounts/acme/notes", json={"title": title}, headers=edge.bearer())

    two = await edge.client.get("/accounts/acme/notes?limit=2", headers=edge.bearer())
    too_many = await edge.client.get("/accounts/acme/notes?limit=1000", headers=edge.bearer())
    unknown = await edge.client.get("/accounts/acme/notes?sort=title", headers=edge.bearer())

    assert [note["title"] for note in two.json()["notes"]] == ["a", "b"]
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["loc"] == ["query", "limit"]
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["type"] == "extra_forbidden"


async def test_an_endpoint_without_output_answers_204_with_no_body(edge: Edge) -> None:
    await edge.client.post("/accounts/acme/notes", json={"title": "x"}, headers=edge.bearer())

    response = await edge.client.delete("/accounts/acme/notes/1", headers=edge.bearer())

    assert response.status_code == 204
    assert response.content == b""


async def test_health_and_jwks_are_public(edge: Edge) -> None:
    health = await edge.client.get("/healthz")
    jwks = await edge.client.get("/.well-known/jwks.json")

    assert health.json() == {"status": "ok"}
    assert jwks.json() == edge.keyring.jwks()
    assert "d" not in jwks.json()["keys"][0]  # public halves only


async def test_the_access_log_names_each_request_id(
    start_edge: StartEdge, caplog: pytest.LogCaptureFixture
) -> None:
    edge = await start_edge(access_log=True)

    with caplog.at_level(logging.INFO, logger="enotime.edge.access"):
        await edge.client.get("/public/whoami", headers={"X-Request-ID": "trace-log-1"})

    lines = [r.getMessage() for r in caplog.records if r.name == "enotime.edge.access"]
    assert any("GET /public/whoami" in line and "request_id=trace-log-1" in line for line in lines)
