"""Schemathesis against the reference system's served OpenAPI: whatever it sends, no 5xx.

The demo tree runs in this test's node; schemathesis (a separate process: it
is synchronous) reads ``/openapi.json`` and sends generated requests --
valid, invalid and hostile -- to every operation, authenticated as a
signed-up user. ``not_a_server_error`` fails the run on any 5xx.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from enotime import Node
from enotime.edge import Where
from enotime.mail import Mail, Outbox
from supervisors.demo import system

PASSWORD = "correct horse battery staple"


class Inbox(Outbox):
    """The development outbox, silent, with an event to wait for the first mail on."""

    def __init__(self) -> None:
        super().__init__(stream=None)
        self.arrived = asyncio.Event()

    async def send(self, mail: Mail) -> None:
        await super().send(mail)
        self.arrived.set()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """The front's URL and an access token of a verified user."""
    outbox = Inbox()
    async with Node("fuzzed", shutdown_timeout=5.0) as node:
        await node.start(system(port=0, mailer=outbox, data=tmp_path))
        url = (await node.lookup("front").call(Where())).url
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            credentials = {"email": "fuzz@example.com", "password": PASSWORD}
            assert (await http.post("/auth/register", json=credentials)).status_code == 202
            await asyncio.wait_for(outbox.arrived.wait(), 10)
            token = outbox.sent[0].text.split("token=")[1].split()[0]
            assert (await http.post("/auth/verify-email", json={"token": token})).is_success
            access = (await http.post("/auth/login", json=credentials)).json()["access_token"]
            yield url, access


@pytest.mark.timeout(300)
async def test_generated_requests_to_every_operation_never_get_a_server_error(
    served: tuple[str, str], tmp_path: Path
) -> None:
    url, access = served
    run = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json"),
        *("--checks", "not_a_server_error", "--max-examples", "20", "--seed", "1"),
        *("--generation-database", "none", "--no-shrink", "--max-failures", "5"),
        *("--header", f"Authorization: Bearer {access}"),
        # Logging out would revoke the token every other operation is called with.
        *("--exclude-path", "/auth/logout"),
        cwd=tmp_path,  # where schemathesis may leave its files
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), 240)
    text = output.decode(errors="replace")
    assert run.returncode == 0, text
    assert "Tested: 26" in text, text
    assert "Server error" not in text
