"""The app factory: endpoint declarations to a Quart app with validation, auth and limits.

Per request, in order: the request id (``before_request``, first), the bearer
token verified for non-public routes (the claims, or the refusal, kept on
``g``), the rate limits (per address on every route, per subject when
authenticated, the route's own), then the view: the refusal answered as 401,
the body and query validated, the message built, the target called within
the request context, the reply converted to the output model. Every error
leaves through one handler as ``application/problem+json``.

Everything that can be prepared is prepared here, once: the compiled
pydantic validators, the target names, the statuses. The per-request path
does header parsing, one signature check, the limiter's counters, one
``call`` and one JSON dump.

Each request is counted into the node's :class:`~enotime.edge._statistics.ApiCounts`
(plain ints, read by ``enotime.metrics`` at scrape time): the app's
``handle_request`` counts it in flight and, once answered, by route, method
and status with its latency; a refused token is counted by problem where it
is refused, a rate-limited request where it is answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from hypercorn.middleware import ProxyFixMiddleware
from pydantic import BaseModel, ValidationError
from quart import Quart, Response, g, request
from quart.typing import ResponseTypes
from quart.wrappers import Request
from quart_rate_limiter import RateLimiter, RateLimitExceeded, rate_exempt, rate_limit
from quart_schema import (
    HttpSecurityScheme,
    Info,
    QuartSchema,
    document_querystring,
    document_request,
    document_response,
    operation_id,
    security_scheme,
    tag,
)
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.routing import Rule

from enotime._context import RequestContext, request_context
from enotime.auth import InvalidToken, Unauthenticated
from enotime.edge._bearer import BearerAuthentication
from enotime.edge._config import EdgeConfig
from enotime.edge._endpoint import Endpoint
from enotime.edge._jwks import JwksCache
from enotime.edge._openapi import (
    EMPTY_SUCCESS_ATTRIBUTE,
    FORM_BODY_ATTRIBUTE,
    HTML_SUCCESS_ATTRIBUTE,
    EdgeOpenAPIProvider,
)
from enotime.edge._page import (
    FORM_CONTENT_TYPE,
    Page,
    done_page,
    form_page,
    problem_page,
    query_model,
    wants_html,
)
from enotime.edge._problem import InvalidInput, Problem, ProblemDetails, problem_for
from enotime.edge._ratelimit import (
    BoundedMemoryStore,
    address_limits,
    client_address,
    route_limits,
    subject_limits,
)
from enotime.edge._request_id import REQUEST_ID_HEADER, request_id_from
from enotime.edge._statistics import UNMATCHED, ApiCounts, api_counts, route_label
from enotime.errors import NameNotFound

if TYPE_CHECKING:
    from enotime import Node

__all__ = ["HEALTH_PATH", "JWKS_PATH", "Health", "JwkSet", "create_app"]

log = logging.getLogger("enotime.edge")

HEALTH_PATH: Final = "/healthz"
JWKS_PATH: Final = "/.well-known/jwks.json"
_RESERVED_PATHS: Final = frozenset({HEALTH_PATH, JWKS_PATH, "/openapi.json", "/docs"})
_JSON: Final = "application/json"
_View = Callable[..., Coroutine[Any, Any, Response]]


class Health(BaseModel):
    """The front is serving."""

    status: str


class JwkSet(BaseModel):
    """The public keys access tokens are verified with (RFC 7517 JWK Set)."""

    keys: list[dict[str, str]]


class _CountingQuart(Quart):
    """Quart, counting every request into the node's API statistics.

    ``handle_request`` is where a request begins and ends whatever happens to
    it (an error handler's answer, a client gone mid-request: cancelled), so
    the in-flight count cannot leak; the request object is at hand, so no
    context-local lookups are needed.
    """

    def __init__(self, import_name: str, counts: ApiCounts) -> None:
        super().__init__(import_name)
        self.enotime_counts = counts
        self._route_labels: dict[str, str] = {}

    async def handle_request(self, request: Request) -> ResponseTypes:
        counts = self.enotime_counts
        counts.in_flight += 1
        start = time.perf_counter()
        try:
            response = await super().handle_request(request)
        finally:
            counts.in_flight -= 1
        seconds = time.perf_counter() - start
        counts.observe(
            self.route_of(request.url_rule), request.method, response.status_code, seconds
        )
        return response

    def route_of(self, rule: Rule | None) -> str:
        """The route label of a request that matched ``rule`` (None: ``unmatched``)."""
        if rule is None:
            return UNMATCHED
        label = self._route_labels.get(rule.rule)
        if label is None:  # once per route: the app's routes are fixed
            label = self._route_labels[rule.rule] = route_label(rule.rule)
        return label


def create_app(
    endpoints: Sequence[Endpoint],
    config: EdgeConfig,
    *,
    node: Node,
    authentication: BearerAuthentication,
    jwks: JwksCache,
) -> Quart:
    """A Quart app serving ``endpoints`` on ``node``'s actors (see the module docstring).

    Raises:
        ValueError: Two endpoints share a name, or a method and path (the front's
            own routes included).
    """
    counts = api_counts(node)
    app = _CountingQuart("enotime.edge", counts)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    QuartSchema(
        app,
        openapi_path="/openapi.json" if config.docs else None,
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=Info(
            title=config.title, version=config.version, description=config.description or None
        ),
        security_schemes={"bearer": HttpSecurityScheme(scheme="bearer", bearer_format="JWT")},
        openapi_provider_class=EdgeOpenAPIProvider,
    )
    protected = frozenset(endpoint.route_name for endpoint in endpoints if not endpoint.public)
    # The routes whose answers are pages for people: a page's GET, and its endpoint's form POSTs.
    pages: dict[str, Page] = {}
    for endpoint in endpoints:
        if endpoint.page is not None:
            pages[endpoint.route_name] = pages[_page_route_name(endpoint)] = endpoint.page

    async def begin() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.claims = None
        g.refusal = None
        if request.endpoint in protected and request.method != "OPTIONS":
            try:
                g.claims = await authentication.authenticate(request.headers.get("Authorization"))
            except Unauthenticated as refusal:
                g.refusal = refusal
                counts.refused(refusal.problem if isinstance(refusal, InvalidToken) else None)

    async def finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = _request_id()
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def answer_problem(error: Exception) -> Response:
        problem = problem_for(error)
        if isinstance(error, RateLimitExceeded):
            counts.limited(app.route_of(request.url_rule))
        request_id = _request_id()
        if problem.unexpected:
            log.error(
                "request %s: %s %s failed: %r",
                request_id,
                request.method,
                request.path,
                error,
                exc_info=error,
                extra={"request_id": request_id},
            )
        elif problem.status >= 500:
            log.warning(
                "request %s: %s %s answered %d: %s",
                request_id,
                request.method,
                request.path,
                problem.status,
                error,
                extra={"request_id": request_id},
            )
        if _answers_a_page(pages) and wants_html(request):
            return _problem_page(problem, request_id)
        return problem.response(request_id=request_id, instance=request.path)

    # Registered before the limiter: the claims must be known when it counts per subject.
    app.before_request(begin)
    app.after_request(finish)
    app.register_error_handler(Exception, answer_problem)
    RateLimiter(
        app,
        key_function=client_address,
        store=BoundedMemoryStore(config.rate_limit_keys),
        default_limits=[
            *address_limits(config.address_limits),
            *subject_limits(config.subject_limits),
        ],
    )

    names: set[str] = set()
    routes = {("GET", path) for path in _RESERVED_PATHS}

    def serve(name: str, method: str, path: str, view: _View, where: str) -> None:
        if name in names:
            raise ValueError(f"{where}: the name {name!r} is taken; give it another with name=...")
        if (method, path) in routes:
            raise ValueError(f"{where}: {method} {path} is served already")
        names.add(name)
        routes.add((method, path))
        app.add_url_rule(path, endpoint=name, view_func=view, methods=[method])

    for endpoint in endpoints:
        method, path = endpoint.method, endpoint.path
        where = f"endpoint {method} {path}"
        serve(endpoint.route_name, method, path, _endpoint_view(endpoint, config, node), where)
        if endpoint.page is not None:
            view = _page_view(endpoint, endpoint.page)
            serve(_page_route_name(endpoint), "GET", path, view, f"{where}, its page")
    app.add_url_rule(HEALTH_PATH, endpoint="healthz", view_func=_health_view(), methods=["GET"])
    app.add_url_rule(JWKS_PATH, endpoint="jwks", view_func=_jwks_view(jwks), methods=["GET"])
    if config.trusted_proxy_hops:
        app.asgi_app = ProxyFixMiddleware(  # type: ignore[method-assign]
            app.asgi_app, mode="legacy", trusted_hops=config.trusted_proxy_hops
        )
    return app


def _request_id() -> str:
    request_id = g.get("request_id")
    if request_id is None:
        request_id = g.request_id = request_id_from(None)
    return str(request_id)


def _page_route_name(endpoint: Endpoint) -> str:
    return f"get_{endpoint.operation_name}_page"


def _answers_a_page(pages: Mapping[str, Page]) -> bool:
    """Whether this request went to a page: its GET, or a form POST to its endpoint."""
    if request.endpoint not in pages:
        return False
    return request.method != "POST" or request.mimetype == FORM_CONTENT_TYPE


def _problem_page(problem: Problem, request_id: str) -> Response:
    errors = problem.extra.get("errors") or ()
    return problem_page(
        problem.status,
        problem.display_title,
        problem.detail,
        request_id=request_id,
        errors=[
            f"{'.'.join(str(part) for part in error['loc'][1:])}: {error['msg']}"
            for error in errors
        ],
        headers=problem.headers,
    )


def _is_json(mimetype: str) -> bool:
    return mimetype == _JSON or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _query_args(args: MultiDict[str, str]) -> dict[str, Any]:
    return {key: values[0] if len(values) == 1 else values for key, values in args.lists()}


def _endpoint_view(endpoint: Endpoint, config: EdgeConfig, node: Node) -> _View:
    input_model = endpoint.input
    query_model = endpoint.query
    output_model = endpoint.output
    target = endpoint.target
    build = endpoint.build
    status = endpoint.success_status
    timeout = endpoint.timeout or config.call_timeout
    public = endpoint.public
    page = endpoint.page

    async def view(**params: Any) -> Response:
        refusal = g.refusal
        if refusal is not None:
            raise refusal
        data = query = None
        from_form = page is not None and request.mimetype == FORM_CONTENT_TYPE
        if input_model is not None:
            try:
                if from_form:  # the form of the endpoint's page
                    data = input_model.model_validate(_query_args(await request.form))
                elif _is_json(request.mimetype):
                    data = input_model.model_validate_json(await request.get_data(as_text=False))
                else:
                    raise UnsupportedMediaType()
            except ValidationError as error:
                raise InvalidInput("body", error) from None
        if query_model is not None:
            try:
                query = query_model.model_validate(_query_args(request.args))
            except ValidationError as error:
                raise InvalidInput("query", error) from None
        try:
            message = build(data, query, params)
        except ValueError as error:  # the message's own checks refused the input
            raise InvalidInput("request", error) from None
        ref: Any = node.whereis(target)
        if ref is None:
            if node.gateway is None:
                raise NameNotFound(target)
            ref = node.service(target)  # a service of the cluster: one node exposing it answers
        context = (
            RequestContext(g.request_id)
            if public
            else RequestContext(g.request_id, MappingProxyType(g.claims))
        )
        with request_context(context):
            reply = await ref.call(message, timeout=timeout)
        answer = (
            None
            if output_model is None
            else output_model.model_validate(reply, from_attributes=True)
        )
        if from_form:
            assert page is not None
            detail = getattr(answer, "detail", None)
            return done_page(
                page, 200 if answer is None else status, detail if isinstance(detail, str) else None
            )
        if answer is None:
            return Response(b"", status=status)
        return Response(answer.model_dump_json(by_alias=True), status=status, content_type=_JSON)

    view.__name__ = view.__qualname__ = endpoint.route_name
    view.__doc__ = (
        "\n".join((endpoint.summary or endpoint.operation_name, endpoint.description))
    ).strip()
    return _document(view, endpoint)


def _page_view(endpoint: Endpoint, page: Page) -> _View:
    assert endpoint.input is not None  # checked by the Endpoint
    query_in = query_model(page, endpoint.input)

    async def view(**params: Any) -> Response:
        try:
            query = query_in.model_validate(_query_args(request.args))
        except ValidationError as error:
            raise InvalidInput("query", error) from None
        # Relative, so that the page works behind a proxy that serves the API under a prefix;
        # "./" so that a segment with a colon is not read as a scheme.
        action = "./" + quote(request.path.rsplit("/", 1)[-1])
        hidden = {name: str(value) for name, value in query.model_dump().items()}
        return form_page(page, action=action, hidden=hidden)

    view.__name__ = view.__qualname__ = _page_route_name(endpoint)
    view.__doc__ = f"{page.title} (an HTML page for people)\n" + (
        f"Shows a form that posts to {endpoint.method} {endpoint.path}; "
        "opening it changes nothing (mail scanners open links)."
    )
    view = document_querystring(query_in)(view)
    for status in (400, 429):
        view = document_response(ProblemDetails, status)(view)
    setattr(view, HTML_SUCCESS_ATTRIBUTE, 200)
    view = operation_id(_page_route_name(endpoint))(view)
    if endpoint.tags:
        view = tag(endpoint.tags)(view)
    return view


def _document(view: _View, endpoint: Endpoint) -> _View:
    """Attach what quart-schema and quart-rate-limiter read from a view function."""
    if endpoint.input is not None:
        view = document_request(endpoint.input)(view)
        if endpoint.page is not None:
            setattr(view, FORM_BODY_ATTRIBUTE, True)
    if endpoint.query is not None:
        view = document_querystring(endpoint.query)(view)
    if endpoint.output is not None:
        view = document_response(endpoint.output, endpoint.success_status)(view)
    else:
        setattr(view, EMPTY_SUCCESS_ATTRIBUTE, endpoint.success_status)
    errors = {400, 429, 503, 504, *endpoint.errors}
    if not endpoint.public:
        errors |= {401, 403}
    if endpoint.path_parameters:
        errors.add(404)
    if endpoint.input is not None:
        errors |= {413, 415}
    for status in sorted(errors):
        view = document_response(ProblemDetails, status)(view)
    view = operation_id(endpoint.operation_name)(view)
    if endpoint.tags:
        view = tag(endpoint.tags)(view)
    if not endpoint.public:
        view = security_scheme([{"bearer": []}])(view)
    if endpoint.rate_limits:
        view = rate_limit(limits=route_limits(endpoint.rate_limits))(view)
    return view


def _health_view() -> _View:
    async def healthz() -> Response:
        """The front is serving."""
        return Response(b'{"status":"ok"}', content_type=_JSON)

    healthz = document_response(Health)(healthz)
    view: _View = rate_exempt(tag(("edge",))(healthz))
    return view


def _jwks_view(jwks: JwksCache) -> _View:
    async def jwks_document() -> Response:
        """The public keys access tokens are verified with (JWKS)."""
        if not jwks.loaded:
            await jwks.refresh()
        return Response(jwks.document, content_type=_JSON)

    view: _View = document_response(JwkSet)(tag(("edge",))(jwks_document))
    return view
