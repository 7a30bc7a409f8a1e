"""OpenAPI from the declarations: quart-schema's provider, taught about problems and 204s."""

from __future__ import annotations

import re
from typing import Any, Final

from quart_schema import OpenAPIProvider
from werkzeug.routing import Rule

from enotime.edge._page import FORM_CONTENT_TYPE
from enotime.edge._problem import PROBLEM_CONTENT_TYPE

__all__ = ["EMPTY_SUCCESS_ATTRIBUTE", "EdgeOpenAPIProvider"]

EMPTY_SUCCESS_ATTRIBUTE: Final = "_enotime_empty_success"
"""Set on a view that answers a bodiless success (204): its status."""
HTML_SUCCESS_ATTRIBUTE: Final = "_enotime_html_success"
"""Set on a page's view, which answers HTML: its status."""
FORM_BODY_ATTRIBUTE: Final = "_enotime_form_body"
"""Set on an endpoint with a page: its body may also come form-encoded, from the page."""

# quart-schema's own pattern, <(?:[^:]*:)?([^>]+)>, runs from the first parameter to
# the converter of the next: /a/<x>/b/<int:y> became /a/{y}. One parameter per match.
_PARAMETER: Final = re.compile(r"<(?:[^:<>]*:)?([^<>]+)>")


class EdgeOpenAPIProvider(OpenAPIProvider):
    """quart-schema's OpenAPI, with error responses as ``application/problem+json``.

    quart-schema documents every response as ``application/json``; errors are
    answered as problem documents, so their media type is corrected here. An
    endpoint without an output model gets its bodiless success response, a
    declared body is required, and paths with several parameters keep all of
    them.
    The document is built once: the routes do not change while a front serves.
    """

    _cached: dict[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        if self._cached is None:
            self._cached = super().schema()
        return self._cached

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        built, components = super().build_paths(rule)
        (operations,) = built.values()  # one path per rule
        view = self._app.view_functions[rule.endpoint]
        empty = getattr(view, EMPTY_SUCCESS_ATTRIBUTE, None)
        html = getattr(view, HTML_SUCCESS_ATTRIBUTE, None)
        form = getattr(view, FORM_BODY_ATTRIBUTE, False)
        for operation in operations.values():
            if "requestBody" in operation:  # an input model: the body is not optional
                body = operation["requestBody"]
                body["required"] = True
                if form:
                    body["content"][FORM_CONTENT_TYPE] = dict(body["content"]["application/json"])
            responses: dict[Any, Any] = operation["responses"]
            for status, response in responses.items():
                content = response.get("content")
                if int(status) >= 400 and content and "application/json" in content:
                    content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
            if empty is not None:
                responses[empty] = {"description": "Done: no content."}
            if html is not None:
                responses[html] = {
                    "description": "An HTML page for people.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
        paths = {_PARAMETER.sub(r"{\1}", rule.rule): operations}
        return paths, components
