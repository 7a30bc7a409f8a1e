"""One object per node -- the running counts of a service's actors -- gone with the node."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from enotime._node import Node

__all__ = ["PerNode"]

T = TypeVar("T")


class PerNode(Generic[T]):
    """A ``T`` per node, made on first use and kept no longer than the node (weakly keyed).

    The statistics of a service live here rather than in its actors, so a
    restarted actor counts on where its predecessor stopped.

    Args:
        factory: Makes a node's ``T`` the first time :meth:`of` is asked for it.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._by_node: weakref.WeakKeyDictionary[Node, T] = weakref.WeakKeyDictionary()

    def of(self, node: Node) -> T:
        """``node``'s ``T``, made now if it has none yet."""
        found = self._by_node.get(node)
        if found is None:
            found = self._by_node[node] = self._factory()
        return found

    def get(self, node: Node) -> T | None:
        """``node``'s ``T``, or None if none was made (no actor of the service started there)."""
        return self._by_node.get(node)
