"""OpenAPI and the docs page are served from the same declarations the front enforces."""

from __future__ import annotations

from typing import Any

from tests.integration.edge.conftest import Edge


async def openapi(edge: Edge) -> dict[str, Any]:
    response = await edge.client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_every_endpoint_is_listed_with_its_method(edge: Edge) -> None:
    paths = (await openapi(edge))["paths"]

    assert set(paths["/accounts/{account}/notes"]) == {"post", "get"}
    assert set(paths["/accounts/{account}/notes/{note_id}"]) == {"get", "delete"}
    assert "get" in paths["/whoami"]
    assert "get" in paths["/healthz"]
    assert "get" in paths["/.well-known/jwks.json"]


async def test_an_operation_carries_its_models_summary_tags_and_typed_parameters(
    edge: Edge,
) -> None:
    create = (await openapi(edge))["paths"]["/accounts/{account}/notes"]["post"]

    assert create["operationId"] == "post_accounts_account_notes"
    assert create["summary"] == "Create a note"
    assert create["tags"] == ["notes"]
    assert create["requestBody"]["required"] is True
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert set(body["properties"]) == {"title", "body"}
    assert body["required"] == ["title"]
    created = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert set(created["properties"]) == {"id", "account", "title", "body"}
    read = (await openapi(edge))["paths"]["/accounts/{account}/notes/{note_id}"]["get"]
    assert {p["name"]: p["schema"]["type"] for p in read["parameters"]} == {
        "account": "string",
        "note_id": "integer",
    }


async def test_errors_are_documented_as_problem_json(edge: Edge) -> None:
    create = (await openapi(edge))["paths"]["/accounts/{account}/notes"]["post"]

    for status in ("400", "401", "403", "413", "415", "429"):
        content = create["responses"][status]["content"]
        assert list(content) == ["application/problem+json"], status
        assert "request_id" in content["application/problem+json"]["schema"]["properties"]


async def test_a_bodiless_success_is_documented_as_such(edge: Edge) -> None:
    delete = (await openapi(edge))["paths"]["/accounts/{account}/notes/{note_id}"]["delete"]

    assert "content" not in delete["responses"]["204"]


async def test_only_non_public_endpoints_require_the_bearer_scheme(edge: Edge) -> None:
    document = await openapi(edge)

    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert document["paths"]["/whoami"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/public/whoami"]["get"]
    assert "security" not in document["paths"]["/healthz"]["get"]


async def test_the_docs_page_points_at_the_document(edge: Edge) -> None:
    response = await edge.client.get("/docs")

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text


async def test_the_title_and_version_come_from_the_configuration(edge: Edge) -> None:
    info = (await openapi(edge))["info"]

    assert info == {"title": "ENoTime API", "version": "0.1.0"}
