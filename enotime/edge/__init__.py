"""The HTTP edge: endpoint declarations served by a front actor (Quart on Hypercorn).

An :class:`Endpoint` names an input model, the target actor and its message,
and an output model; :class:`FrontService` turns a list of them into a Quart
app — validation and OpenAPI from the same pydantic models (quart-schema),
bearer JWT authentication (:mod:`enotime.auth`), rate limits
(quart-rate-limiter), request ids, and errors as ``application/problem+json``
— and serves it with Hypercorn inside the node, under supervision.

Example:
    >>> endpoints = [
    ...     Endpoint(method="POST", path="/accounts/<account>/notes", target="notes",
    ...              message=CreateNote, input=NoteIn, output=NoteOut, status=201),
    ... ]
    >>> child(FrontService, endpoints, EdgeConfig(port=8080), name="front")

Rate limits are counted in each front's memory: they hold per front node and
per route, not across the cluster.

Every request is counted with plain ints into the node's statistics (by
route template, method and status, with its latency; refused tokens by
problem; rate-limited requests; requests in flight), which ``enotime.metrics``
exposes as ``enotime_api_*`` at scrape time (``docs/metrics.md``).
"""

from enotime.edge._config import EdgeConfig
from enotime.edge._endpoint import Endpoint, InputModel, MessageFactory
from enotime.edge._front import Address, FrontService, ServerStopped, Where
from enotime.edge._page import Page, PageField
from enotime.edge._problem import FieldError, ProblemDetails
from enotime.edge._ratelimit import RateLimit

__all__ = [
    "Address",
    "EdgeConfig",
    "Endpoint",
    "FieldError",
    "FrontService",
    "InputModel",
    "MessageFactory",
    "Page",
    "PageField",
    "ProblemDetails",
    "RateLimit",
    "ServerStopped",
    "Where",
]
