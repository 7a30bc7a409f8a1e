"""The public generics type-check as documented (mypy checks this file; pytest runs it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, assert_type

from enotime import Actor, ActorRef, Node, handler
from enotime.messages import Request


@dataclass(frozen=True)
class Square(Request[int]):
    n: int


class Squarer(Actor):
    @handler
    def square(self, msg: Square) -> int:
        return msg.n * msg.n


async def test_call_returns_the_reply_type_of_a_request(node: Node) -> None:
    ref = await node.spawn(Squarer)
    assert_type(ref, ActorRef[Squarer])
    reply = await ref.call(Square(7))
    assert_type(reply, int)
    assert reply == 49
    untyped = await ref.call(Square(2), timeout=None)
    assert_type(untyped, int)


async def _untyped_calls_are_any(ref: ActorRef[Squarer]) -> None:
    assert_type(await ref.call("a plain message"), Any)  # checked by mypy only
