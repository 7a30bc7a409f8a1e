"""Request ids: taken from ``X-Request-ID`` when well-formed, made up otherwise."""

from __future__ import annotations

import re
import secrets
from typing import Final

__all__ = ["REQUEST_ID_HEADER", "request_id_from"]

REQUEST_ID_HEADER: Final = "X-Request-ID"
"""The header a request id is read from and always answered in."""

_WELL_FORMED: Final = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def request_id_from(header: str | None) -> str:
    """The client's request id if it is 8-128 characters of ``A-Za-z0-9._:-``, else a new one.

    The pattern keeps ids safe to echo in a header and to write in a log line
    (no spaces, quotes or line breaks). A new id is 32 random hex digits.
    """
    if header is not None and _WELL_FORMED.fullmatch(header):
        return header
    return secrets.token_hex(16)
