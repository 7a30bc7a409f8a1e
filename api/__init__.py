"""The reference system's HTTP API: endpoint declarations, wiring and no logic.

The front actor (:class:`enotime.edge.FrontService`) serves these
declarations; the login and accounts flows ship with ``enotime.login``, the
notes endpoints are the reference system's own (:mod:`api.notes`).
"""

from __future__ import annotations

from enotime.edge import Endpoint

__all__ = ["endpoints"]


def endpoints() -> list[Endpoint]:
    """Every endpoint the demo's front serves."""
    from api import notes
    from enotime.login import account_endpoints
    from enotime.login import endpoints as login_endpoints

    return [*login_endpoints(), *account_endpoints(), *notes.endpoints()]
