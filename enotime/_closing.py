"""The one ``async with`` protocol of everything that owns resources: leaving closes it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncClosing"]


class AsyncClosing:
    """Mixin: ``async with thing:`` yields ``thing`` and ``await thing.aclose()`` on exit."""

    async def aclose(self) -> None:
        """Release what this object owns; subclasses define it."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
