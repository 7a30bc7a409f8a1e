"""Schemathesis against the reference system's served OpenAPI: whatever it sends, no 5xx.

The demo tree runs in this test's node. Its own front keeps the demo's rate
limits (10 logins a minute per address, ...), which would answer most
generated requests 429 before any handler saw them; so the same endpoints
are served by a second front on the same actors with every limit lifted,
and schemathesis (a separate process: it is synchronous) reads
``/openapi.json`` there and sends generated requests -- valid, invalid and
hostile -- to every operation, authenticated as a signed-up user.
``not_a_server_error`` fails the run on any 5xx. The front's own counts
(``ApiCounts``) then show that every operation was answered, none with 429,
and a count kept where the front builds each message (after authentication
and validation, right before it calls the actor) that generated requests
reached the handler of every declared endpoint.

``/auth/logout`` revokes the token every other operation is called with, so
it is fuzzed last, in a run of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from api import endpoints
from enotime import Node
from enotime.edge import EdgeConfig, Endpoint, FrontService, MessageFactory, Where
from enotime.edge._statistics import api_counts
from enotime.mail import Mail, Outbox
from supervisors.demo import system

PASSWORD = "correct horse battery staple"
LOGOUT = "/auth/logout"


class Inbox(Outbox):
    """The development outbox, silent, with an event to wait for the first mail on."""

    def __init__(self) -> None:
        super().__init__(stream=None)
        self.arrived = asyncio.Event()

    async def send(self, mail: Mail) -> None:
        await super().send(mail)
        self.arrived.set()


@dataclass
class Served:
    node: Node
    url: str
    access: str
    reached: Counter[str]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """The demo's actors behind a front without rate limits, and a verified user's token."""
    outbox = Inbox()
    async with Node("fuzzed", shutdown_timeout=5.0) as node:
        await node.start(system(port=0, mailer=outbox, data=tmp_path))
        reached: Counter[str] = Counter()
        unlimited = [
            dataclasses.replace(e, rate_limits=(), message=_counted(e, reached))
            for e in endpoints()
        ]
        config = EdgeConfig(address_limits=(), subject_limits=(), title="ENoTime demo")
        front = await node.spawn(FrontService, unlimited, config, name="fuzzed-front")
        url = (await front.call(Where())).url
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            credentials = {"email": "fuzz@example.com", "password": PASSWORD}
            assert (await http.post("/auth/register", json=credentials)).status_code == 202
            await asyncio.wait_for(outbox.arrived.wait(), 10)
            token = outbox.sent[0].text.split("token=")[1].split()[0]
            assert (await http.post("/auth/verify-email", json={"token": token})).is_success
            access = (await http.post("/auth/login", json=credentials)).json()["access_token"]
            reached.clear()
            yield Served(node, url, access, reached)


def _counted(endpoint: Endpoint, reached: Counter[str]) -> MessageFactory:
    """The endpoint's message, built as the front builds it, counted under its route name.

    The front builds the message only once the request passed authentication
    and validation, right before it calls the actor: each count is a
    generated request that reached a handler.
    """

    def build(data: BaseModel | None, params: Mapping[str, Any]) -> object:
        reached[endpoint.route_name] += 1
        # Query fields, if any, are in params already: build as if there were no query.
        return endpoint.build(data, None, dict(params))

    return build


async def schemathesis(served: Served, cwd: Path, *only_or_not: str) -> str:
    """Run schemathesis on the served document; its output (it must exit 0)."""
    run = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{served.url}/openapi.json"),
        *("--checks", "not_a_server_error", "--max-examples", "20", "--seed", "1"),
        *("--generation-database", "none", "--no-shrink", "--max-failures", "5"),
        *("--header", f"Authorization: Bearer {served.access}"),
        *only_or_not,
        cwd=cwd,  # where schemathesis may leave its files
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), 200)
    text = output.decode(errors="replace")
    assert run.returncode == 0, text
    assert "Server error" not in text, text
    return text


@pytest.mark.timeout(420)
async def test_generated_requests_to_every_operation_never_get_a_server_error(
    served: Served, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        document = (await http.get("/openapi.json")).json()
    operations = {
        (method.upper(), re.sub(r"\{(\w+)\}", r"<\1>", path))
        for path, item in document["paths"].items()
        for method in item
    }
    counts = api_counts(served.node)
    before = Counter(counts.requests)

    await schemathesis(served, tmp_path, "--exclude-path", LOGOUT)
    await schemathesis(served, tmp_path, "--include-path", LOGOUT)

    answered: dict[tuple[str, str], Counter[int]] = {op: Counter() for op in operations}
    for (route, method, status), n in (Counter(counts.requests) - before).items():
        if (method, route) in answered:
            answered[method, route][status] += n
    assert not counts.rate_limited, counts.rate_limited  # no generated request met a limit
    for operation, statuses in sorted(answered.items()):
        assert statuses, f"{operation} was never called"
        assert 429 not in statuses, (operation, statuses)
    # Every declared endpoint's handler was reached by generated requests (not only
    # answered by validation), and each page was shown.
    declared = {e.route_name for e in endpoints()}
    assert {name for name, n in served.reached.items() if n} == declared, served.reached
    for path in ("/auth/verify-email", "/auth/reset-password"):
        assert answered["GET", path][200], answered["GET", path]
