"""A tree for ``enotime run --amqp``: an actor that nodes of other processes reach.

``enotime run tests.system._peer_trees:peer --amqp ...`` runs the actor
``peer``, which answers a cast (:class:`Note`) with a cast to the actor the
note names, and links itself to an actor of another node when asked
(:class:`LinkBack`). ``enotime run`` connects the node before the tree starts.
Each line is one ``write`` (processes sharing a pipe never interleave a line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from enotime import Actor, child, handler, supervisor
from enotime.messages import Request
from enotime.transport import message
from tests.system._connected_trees import say

PEER = "peer"


@message("enotime.tests.peer.Note", version=1)
@dataclass(frozen=True)
class Note:
    """A cast: ``text``, and the actor (``node``, ``actor``) a cast in return goes to."""

    text: str
    node: str
    actor: str


@message("enotime.tests.peer.LinkBack", version=1)
@dataclass(frozen=True)
class LinkBack(Request[None]):
    """Link yourself to ``actor`` on ``node``; answered once both nodes hold the link."""

    node: str
    actor: str


class Peer(Actor):
    """Casts each note back in capitals, signed; links where it is told to."""

    async def on_start(self) -> None:
        say(f"peer {self.node.name} {os.getpid()}")

    @handler
    def note(self, msg: Note) -> None:
        say(f"peer got {msg.text}")
        self.node.remote(msg.node, msg.actor).send(Note(msg.text.upper(), self.node.name, PEER))

    @handler
    async def link_back(self, msg: LinkBack) -> None:
        self.link(self.node.remote(msg.node, msg.actor))
        assert self.node.gateway is not None, "enotime run --amqp connects the node"
        await self.node.gateway.settled()
        say(f"peer linked to {msg.actor} on {msg.node}")


peer = supervisor("peer", [child(Peer, name=PEER)])
