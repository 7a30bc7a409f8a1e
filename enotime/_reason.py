"""Why an actor stopped: Erlang's exit reasons as one typed record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

__all__ = [
    "KILL",
    "KILLED",
    "NOCONNECTION",
    "NOPROC",
    "NORMAL",
    "SHUTDOWN",
    "ExitReason",
]


@dataclass(frozen=True, slots=True)
class ExitReason:
    """Why an actor stopped, or the exit signal sent to make it stop.

    ``kind`` is one of ``normal``, ``shutdown``, ``kill`` (the untrappable
    signal), ``killed`` (what linked actors see after a ``kill``), ``noproc``
    (the actor was not alive), ``noconnection`` (its node vanished) or
    ``crash`` (``exception`` holds what was raised). ``detail`` carries
    Erlang's ``{shutdown, Term}`` term.
    """

    kind: str
    detail: str | None = None
    exception: BaseException | None = None

    KINDS: ClassVar[frozenset[str]] = frozenset(
        {"normal", "shutdown", "kill", "killed", "noproc", "noconnection", "crash"}
    )

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown exit reason kind {self.kind!r}")
        if (self.kind == "crash") != (self.exception is not None):
            raise ValueError("an exception goes with kind 'crash', and only with it")

    @classmethod
    def crash(cls, exception: BaseException) -> ExitReason:
        """The reason for an actor that raised ``exception``."""
        return cls("crash", exception=exception)

    @classmethod
    def shutdown(cls, detail: str | None = None) -> ExitReason:
        """An orderly stop, optionally with a detail (Erlang's ``{shutdown, Term}``)."""
        return cls("shutdown", detail)

    @property
    def is_normal(self) -> bool:
        """True for ``normal`` and ``shutdown``: a transient child is not restarted."""
        return self.kind in ("normal", "shutdown")

    def __str__(self) -> str:
        if self.exception is not None:
            return f"crash: {self.exception!r}"
        return self.kind if self.detail is None else f"{self.kind}({self.detail})"


NORMAL: Final = ExitReason("normal")
SHUTDOWN: Final = ExitReason("shutdown")
KILL: Final = ExitReason("kill")
KILLED: Final = ExitReason("killed")
NOPROC: Final = ExitReason("noproc")
NOCONNECTION: Final = ExitReason("noconnection")
