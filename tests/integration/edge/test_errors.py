"""Every error is application/problem+json with a status that says what went wrong."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.integration.edge.conftest import Edge

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["instance"] == response.request.url.path
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def test_a_worker_refusing_with_forbidden_answers_403(edge: Edge) -> None:
    await edge.client.post("/accounts/acme/notes", json={"title": "x"}, headers=edge.bearer())
    member = edge.token("bob", roles=("member",))

    response = await edge.client.delete("/accounts/acme/notes/1", headers=edge.bearer(member))

    body = assert_problem(response, 403)
    assert body["detail"] == "only an owner may delete notes"
    assert body["type"] == "urn:enotime:problem:forbidden"


async def test_an_unknown_route_is_a_404_problem(edge: Edge) -> None:
    assert_problem(await edge.client.get("/nowhere"), 404)


async def test_a_wrong_method_is_a_405_problem_naming_the_allowed_ones(edge: Edge) -> None:
    response = await edge.client.put("/public/whoami")

    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


async def test_a_body_over_the_size_limit_is_a_413_problem(edge: Edge) -> None:
    response = await edge.client.post(
        "/accounts/acme/notes",
        content=b'{"title": "' + b"x" * 5000 + b'"}',
        headers={**edge.bearer(), "Content-Type": "application/json"},
    )

    assert_problem(response, 413)


async def test_a_body_that_is_not_json_is_a_400_problem(edge: Edge) -> None:
    response = await edge.client.post(
        "/accounts/acme/notes",
        content=b"{not json",
        headers={**edge.bearer(), "Content-Type": "application/json"},
    )

    body = assert_problem(response, 400)
    assert body["errors"] == [
        {"loc": ["body"], "msg": body["errors"][0]["msg"], "type": "json_invalid"}  # type: ignore[index]
    ]


async def test_a_body_of_another_media_type_is_a_415_problem(edge: Edge) -> None:
    response = await edge.client.post(
        "/accounts/acme/notes",
        content=b"title=x",
        headers={**edge.bearer(), "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert_problem(response, 415)


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"title": 42}, ["body", "title"], "string_type"),
        ({"title": "x", "admin": True}, ["body", "admin"], "extra_forbidden"),
        ({"body": "no title"}, ["body", "title"], "missing"),
        ({"title": "   "}, ["body", "title"], "string_too_short"),
        ([], ["body"], "model_type"),
    ],
)
async def test_invalid_fields_are_a_400_problem_listing_them(
    edge: Edge, body: object, loc: list[str], error_type: str
) -> None:
    response = await edge.client.post("/accounts/acme/notes", json=body, headers=edge.bearer())

    problem = assert_problem(response, 400)
    assert problem["type"] == "urn:enotime:problem:validation"
    assert problem["errors"] == [
        {"loc": loc, "msg": problem["errors"][0]["msg"], "type": error_type}  # type: ignore[index]
    ]


async def test_validation_problems_never_echo_the_input(edge: Edge) -> None:
    response = await edge.client.post(
        "/accounts/acme/notes", json={"title": 1, "password": "hunter2"}, headers=edge.bearer()
    )

    assert "hunter2" not in response.text


async def test_a_store_not_found_is_a_404_without_the_document_id(edge: Edge) -> None:
    response = await edge.client.get("/accounts/acme/notes/99", headers=edge.bearer())

    body = assert_problem(response, 404)
    assert "note:99" not in response.text
    assert body["detail"] == "the resource was not found"


async def test_a_store_conflict_is_a_409(edge: Edge) -> None:
    assert_problem(await edge.client.post("/misbehave", json={"how": "conflict"}), 409)


async def test_a_refusal_with_its_own_status_and_title_keeps_them(edge: Edge) -> None:
    body = assert_problem(await edge.client.post("/misbehave", json={"how": "teapot"}), 418)

    assert body["title"] == "Teapot"
    assert body["detail"] == "I am a teapot"


async def test_any_other_refusal_is_a_400_with_its_message(edge: Edge) -> None:
    body = assert_problem(await edge.client.post("/misbehave", json={"how": "refuse"}), 400)

    assert body["detail"] == "notes are read-only today"


async def test_a_target_that_is_not_running_is_a_503(edge: Edge) -> None:
    response = await edge.client.get("/nobody")

    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"


async def test_a_target_that_does_not_answer_in_time_is_a_504(edge: Edge) -> None:
    assert_problem(await edge.client.get("/slow"), 504)
    edge.parked.set()


async def test_a_crashing_worker_is_a_503_and_the_front_keeps_serving(edge: Edge) -> None:
    crashed = await edge.client.post("/misbehave", json={"how": "explode"})

    assert_problem(crashed, 503)
    assert "unknown misbehaviour" not in crashed.text
    assert (await edge.client.get("/healthz")).status_code == 200


async def test_an_unexpected_error_is_a_500_without_internals_logged_with_the_request_id(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="enotime.edge"):
        response = await edge.client.post(
            "/misbehave", json={"how": "bad-reply"}, headers={"X-Request-ID": "trace-500-x"}
        )

    body = assert_problem(response, 500)
    # The fixed sentence, and nothing of the failure: neither the worker's reply
    # ({"unexpected": "shape"}) nor what pydantic said about it.
    assert body["detail"] == "an unexpected error occurred; quote the request id to the operators"
    assert body["request_id"] == "trace-500-x"
    assert set(body) == {"type", "title", "status", "detail", "instance", "request_id"}
    for internal in ('"unexpected"', "shape", "ValidationError", "NoteOut", "Field required"):
        assert internal not in response.text, internal
    logged = [record for record in caplog.records if record.name == "enotime.edge"]
    assert logged
    assert "trace-500-x" in logged[0].getMessage()
    assert logged[0].exc_info is not None
