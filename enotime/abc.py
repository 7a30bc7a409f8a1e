"""The ports: small async interfaces, each with an embedded and a production adapter.

Only interfaces live here; adapters subclass them (variants by subclass, not
flags) and live in their subsystem's package:

- :class:`CryptoEngine`: ``enotime.crypto.EmbeddedCryptoEngine`` (embedded),
  ``enotime.crypto.VaultCryptoEngine`` (Vault transit).
- :class:`Store`: ``enotime.store.SQLiteStore`` (embedded),
  ``enotime.store.CouchDBStore`` (CouchDB).
- :class:`Registry`: ``enotime.registry.InMemoryRegistry`` (embedded),
  ``enotime.registry.ConsulRegistry`` (Consul).
- :class:`Transport`: ``enotime.transport.LocalTransport`` (embedded, in-process),
  ``enotime.transport.AmqpTransport`` (RabbitMQ).
- :class:`Clock`: the system clock; ``enotime.testing.ManualClock`` in tests.
"""

from __future__ import annotations

from enotime._clock import Clock
from enotime.crypto._port import AbstractCryptoEngine as CryptoEngine
from enotime.registry._port import AbstractRegistry as Registry
from enotime.store._port import AbstractStore as Store
from enotime.transport._port import AbstractTransport as Transport

__all__ = ["Clock", "CryptoEngine", "Registry", "Store", "Transport"]
