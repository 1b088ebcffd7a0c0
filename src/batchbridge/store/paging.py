"""Opaque ``nextToken`` strings for keyset pagination.

AWS documents ``nextToken`` as opaque: clients pass back what they were given, unchanged.  A token
here is URL-safe base64 of a small JSON document holding the *scope* (which listing it belongs to,
for example ``"batch:DescribeJobQueues"``), the keyset position (the sort key of the last row
returned) and a checksum over both.  The checksum detects a token that was edited, truncated or
carried over to another listing; it is an integrity check, not a secret, so tokens stay valid
across restarts.  A bad token raises the error class the caller names (``ClientException`` for
Batch, ``ValidationException`` for EventBridge), with a message that names ``nextToken``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from batchbridge.errors import ClientException, ServiceError

Position = list[str | int]

T = TypeVar("T")

_SALT = b"batchbridge-page-token-v1"


def _checksum(scope: str, position: Sequence[str | int]) -> str:
    body = json.dumps([scope, list(position)], separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(_SALT + body.encode()).hexdigest()[:16]


def encode_token(scope: str, position: Sequence[str | int]) -> str:
    """A token that resumes the listing ``scope`` after ``position``."""
    doc = {"s": scope, "p": list(position), "c": _checksum(scope, position)}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(
    token: str,
    scope: str,
    *,
    error: type[ServiceError] = ClientException,
    field: str = "nextToken",
) -> Position:
    """The keyset position carried by ``token``; raise ``error`` naming ``field`` if it is not ours."""
    message = f"Invalid {field}: the token is not one this server returned for this request"
    try:
        padded = token + "=" * (-len(token) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise error(message) from exc
    if not isinstance(doc, dict) or doc.get("s") != scope:
        raise error(message)
    position = doc.get("p")
    if not isinstance(position, list) or not all(
        isinstance(item, str | int) and not isinstance(item, bool) for item in position
    ):
        raise error(message)
    if doc.get("c") != _checksum(scope, position):
        raise error(message)
    return position


def check_max_results(
    value: Any,
    *,
    low: int = 1,
    high: int = 100,
    error: type[ServiceError] = ClientException,
    field: str = "maxResults",
) -> int | None:
    """Validate an optional page size: ``None`` or an integer in ``low..high``."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise error(f"{field} must be between {low} and {high}, got {value!r}")
    return value


def split_page(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """Cut ``rows`` (fetched with ``LIMIT limit + 1``) into one page and whether more follow."""
    return list(rows[:limit]), len(rows) > limit
