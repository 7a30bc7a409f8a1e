"""Log output: JSON lines for pipelines, readable lines for people (``--log-format``)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from enotime import Actor, Node, RequestContext, handler, request_context
from enotime._cli import _parser
from enotime._logging import configure_logging

ROOT = Path(__file__).resolve().parents[2]


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_json_line_carries_every_field_in_order(stream: io.StringIO) -> None:
    configure_logging("DEBUG", json=True, stream=stream, node="node-a")
    logging.getLogger("enotime.test").info("order %s placed\nfor %d items", "A-1", 3)
    [entry] = lines(stream)
    assert list(entry) == [
        "ts", "level", "logger", "event", "message", "node", "actor", "request_id"
    ]  # fmt: skip
    assert entry["level"] == "INFO"
    assert entry["logger"] == "enotime.test"
    assert entry["event"] == "order %s placed\nfor %d items"
    assert entry["message"] == "order A-1 placed\nfor 3 items"  # one line, newline escaped
    assert entry["node"] == "node-a"
    assert entry["actor"] is None
    assert entry["request_id"] is None
    assert entry["ts"].endswith("+00:00")
    assert len(entry["ts"]) == len("2026-01-01T00:00:00.000+00:00")


def test_the_event_is_the_same_for_every_occurrence_of_a_log_call(stream: io.StringIO) -> None:
    """``event``: the message template, or the record's own ``event`` extra."""
    configure_logging(json=True, stream=stream)
    log = logging.getLogger("app.orders")
    for order in ("A-1", "B-2"):
        log.info("order %s placed", order)
    log.info("order %s shipped", "A-1", extra={"event": "order.shipped"})
    log.info("plain text")
    placed_a, placed_b, shipped, plain = lines(stream)
    assert placed_a["event"] == placed_b["event"] == "order %s placed"
    assert (placed_a["message"], placed_b["message"]) == ("order A-1 placed", "order B-2 placed")
    assert (shipped["event"], shipped["message"]) == ("order.shipped", "order A-1 shipped")
    assert plain["event"] == plain["message"] == "plain text"


def test_the_request_id_comes_from_the_current_context(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    with request_context(RequestContext("req-42")):
        logging.getLogger("app").warning("inside")
    logging.getLogger("app").warning("outside")
    inside, outside = lines(stream)
    assert inside["request_id"] == "req-42"
    assert outside["request_id"] is None
    assert inside["node"] is None  # no node given


def test_extras_name_the_actor_and_may_override_node_and_request_id(
    stream: io.StringIO,
) -> None:
    configure_logging(json=True, stream=stream, node="node-a")
    with request_context(RequestContext("from-context")):
        logging.getLogger("app").info(
            "hi", extra={"actor": "orders", "node": "other", "request_id": "explicit"}
        )
    [entry] = lines(stream)
    assert (entry["actor"], entry["node"], entry["request_id"]) == ("orders", "other", "explicit")


def test_an_exception_is_included_as_text(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    try:
        raise ValueError("bad input")
    except ValueError:
        logging.getLogger("app").exception("failed")
    [entry] = lines(stream)
    assert entry["message"] == "failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: bad input")


def test_an_unserialisable_argument_does_not_break_the_line(stream: io.StringIO) -> None:
    configure_logging(json=True, stream=stream)
    logging.getLogger("app").info("value: %r", object.__new__(object), extra={"actor": 17})
    [entry] = lines(stream)
    assert entry["message"].startswith("value: <object object at ")
    assert entry["actor"] == "17"


@dataclass(frozen=True)
class Hello:
    pass


class Greeter(Actor):
    @handler
    def hello(self, msg: Hello) -> None:
        logging.getLogger("app.greeter").info("hello handled", extra={"actor": "greeter"})


async def test_a_handler_logs_with_the_request_id_of_its_message(
    node: Node, stream: io.StringIO
) -> None:
    configure_logging(json=True, stream=stream, node=node.name)
    greeter = await node.spawn(Greeter)
    with request_context(RequestContext("req-7")):
        greeter.send(Hello())
    # A call after the send: the mailbox is FIFO, so the send was handled when it returns.
    await greeter.call(Hello(), timeout=5)
    first, second = [e for e in lines(stream) if e["logger"] == "app.greeter"]
    assert (first["request_id"], first["node"], first["actor"]) == ("req-7", "test", "greeter")
    assert second["request_id"] is None


def test_human_lines_stay_the_default(stream: io.StringIO) -> None:
    configure_logging(stream=stream)
    logging.getLogger("enotime.test").warning("plain %s", "text")
    line = stream.getvalue()
    assert "WARNING" in line
    assert line.rstrip().endswith("enotime.test         plain text")
    assert not line.startswith("{")


def test_run_offers_the_two_formats_and_defaults_to_human() -> None:
    parser = _parser()
    assert parser.parse_args(["run", "m:t"]).log_format == "human"
    assert parser.parse_args(["run", "m:t", "--log-format", "json"]).log_format == "json"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "m:t", "--log-format", "xml"])


def test_enotime_run_writes_json_lines(tmp_path: Path) -> None:
    (tmp_path / "doomed.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass
            from enotime import Actor, child, handler, supervisor

            @dataclass(frozen=True)
            class Crash:
                pass

            class Doomed(Actor):
                async def on_start(self) -> None:
                    self.send_after(0, Crash())

                @handler
                def crash(self, message: Crash) -> None:
                    raise RuntimeError("doomed")

            tree = supervisor("root", [child(Doomed)], max_restarts=1)
            """
        )
    )
    command = ["run", "doomed:tree", "--name", "n1", "--log-format", "json"]
    process = subprocess.run(
        [sys.executable, "-m", "enotime", *command],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert process.returncode == 1, process.stderr
    entries = [json.loads(line) for line in process.stderr.splitlines()]
    assert entries, "no log line"
    assert {entry["node"] for entry in entries} == {"n1"}
    assert any("giving up" in entry["message"] for entry in entries), entries
