"""The ports: small async interfaces, each with an embedded and a production adapter.

Only interfaces live here; adapters subclass them (variants by subclass, not
flags). More ports join as their issues land (transport, registry, store,
crypto engine).
"""

from __future__ import annotations

import abc

__all__ = ["Clock"]


class Clock(abc.ABC):
    """Where the runtime reads time for restart windows and timeouts.

    Injected so tests can move time by hand (see ``enotime.testing.ManualClock``)
    instead of sleeping.
    """

    @abc.abstractmethod
    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
