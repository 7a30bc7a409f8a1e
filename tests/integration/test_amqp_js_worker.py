"""Any language can join: a Node.js worker serves a call from Python and calls back.

The worker (``js/worker.js``) uses only amqplib from the npm registry, JSON and
Node's built-in AES-256-GCM, following ``docs/wire.md``. Its npm dependencies
are installed with ``npm ci`` (from the committed lockfile) when missing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from enotime import RequestContext, current_context, request_context
from enotime.messages import Request
from enotime.transport import Address, Delivery, Keyring, message
from tests.contract.test_transport import AMQP_URL, WAIT, _amqp_answers

pytestmark = pytest.mark.services

JS_DIR = Path(__file__).parent / "js"
MAX_DELIVERIES = 5


@message("test.js.Greeting", version=1)
@dataclass(frozen=True)
class Greeting:
    text: str
    via: str


@message("test.js.Greet", version=1)
@dataclass(frozen=True)
class Greet(Request[Greeting]):
    name: str


@message("test.py.Shouted", version=1)
@dataclass(frozen=True)
class Shouted:
    text: str


@message("test.py.Shout", version=1)
@dataclass(frozen=True)
class Shout(Request[Shouted]):
    text: str


def _npm_ready() -> str | None:
    """None once amqplib is installed under js/node_modules, else why it cannot be."""
    if (JS_DIR / "node_modules" / "amqplib" / "package.json").exists():
        return None
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed for the JavaScript worker (apt-get install nodejs npm)"
    try:
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "npm ci did not finish within 180 s"
    if done.returncode != 0:
        return f"npm ci failed: {done.stderr.strip()[-500:]}"
    return None


@pytest.fixture
async def js_worker_env(
    require_service: Callable[[str], NoReturn],
) -> dict[str, str]:
    """Broker and node are there; the settings both sides share."""
    if (reason := _amqp_answers()) is not None:
        require_service(reason)
    if (reason := await asyncio.to_thread(_npm_ready)) is not None:
        require_service(reason)
    keyring = Keyring.generate("js-test")
    return {
        "AMQP_URL": AMQP_URL,
        "EXCHANGE": f"enotime-test-{uuid.uuid4().hex[:12]}",
        "SERVICE": "js-greeter",
        "CALLBACK_SERVICE": "py-shouter",
        "MAX_DELIVERIES": str(MAX_DELIVERIES),
        "ENOTIME_WIRE_KEYS": keyring.key("js-test").encoded(),
    }


async def test_a_javascript_worker_serves_a_python_call_and_calls_back(
    js_worker_env: dict[str, str],
) -> None:
    from enotime.transport import AmqpTransport

    settings = js_worker_env
    keyring = Keyring.parse(settings["ENOTIME_WIRE_KEYS"])
    seen: list[RequestContext | None] = []

    async def shout(delivery: Delivery) -> object:
        assert isinstance(delivery.message, Shout)
        seen.append(current_context())
        return Shouted(delivery.message.text.upper())

    transport = AmqpTransport(
        AMQP_URL,
        "py",
        keyring=keyring,
        exchange=settings["EXCHANGE"],
        max_deliveries=MAX_DELIVERIES,
    )
    await transport.open()
    worker: asyncio.subprocess.Process | None = None
    try:
        await transport.serve_service(settings["CALLBACK_SERVICE"], shout)
        worker = await asyncio.create_subprocess_exec(
            "node",
            str(JS_DIR / "worker.js"),
            cwd=JS_DIR,
            env={**os.environ, **settings},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert worker.stdout is not None
        async with asyncio.timeout(WAIT):
            line = await worker.stdout.readline()
        if line != b"ready\n":
            assert worker.stderr is not None
            pytest.fail(f"worker.js did not start: {(await worker.stderr.read()).decode()}")

        context = RequestContext("req-from-python", {"sub": "user-7"})
        with request_context(context):
            reply = await transport.call(
                Address.service(settings["SERVICE"]), Greet("ada"), timeout=WAIT
            )
        assert reply == Greeting(text="HELLO ADA", via="node")
        # The request context went Python -> JavaScript -> Python, encrypted all the way.
        assert seen == [context]
    finally:
        if worker is not None and worker.returncode is None:
            worker.terminate()
            try:
                async with asyncio.timeout(10):
                    await worker.wait()
            except TimeoutError:
                worker.kill()
                await worker.wait()
        assert transport._channel is not None
        await transport._channel.queue_delete(
            f"{settings['EXCHANGE']}.service.{settings['SERVICE']}"
        )
        await transport.delete_topology()
        await transport.aclose()
