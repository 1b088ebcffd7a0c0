"""``PutEvents`` entries: per-entry validation with AWS's error codes, and the event envelope.

AWS rules emulated (EventBridge ``PutEvents`` API reference and the user guide "Calculating
Amazon EventBridge PutEvents event entry size"):

* 1 to 10 entries per call; their total size at most 256 KB.  An entry's size is 14 bytes for
  ``Time`` when given plus the UTF-8 bytes of ``Source``, ``DetailType``, ``Detail`` and each of
  ``Resources``.  Breaking either limit fails the whole call with a ValidationException.
* A bad entry fails alone: its result carries ``ErrorCode``/``ErrorMessage`` and the others are put.
  Missing ``Source``/``DetailType``/``Detail``: ``InvalidArgument`` "Parameter X is not valid.
  Reason: X is a required argument."; ``Detail`` that is not a JSON object: ``MalformedDetail``
  "Detail is malformed."; a ``Source`` starting with ``aws.`` is reserved to AWS services:
  ``NotAuthorizedForSourceException`` "Not authorized for the source.".
* The envelope, in AWS's field order: ``version`` "0", ``id`` (UUID), ``detail-type``, ``source``,
  ``account``, ``time`` (UTC, second precision ``YYYY-MM-DDThh:mm:ssZ``), ``region``,
  ``resources``, ``detail``.

Choice: an entry naming a bus that does not exist fails alone with ``ResourceNotFoundException``
"Event bus X does not exist.", the text the bus operations use.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from batchbridge.domain.arns import new_uuid
from batchbridge.errors import ValidationException

MAX_ENTRIES = 10
MAX_TOTAL_BYTES = 256 * 1024
TIME_BYTES = 14


@dataclasses.dataclass(frozen=True)
class EntryError:
    """A failed entry's ``ErrorCode`` and ``ErrorMessage``."""

    code: str
    message: str

    def to_result(self) -> dict[str, str]:
        return {"ErrorCode": self.code, "ErrorMessage": self.message}


def entry_size(entry: Mapping[str, Any]) -> int:
    """AWS's size of one entry, in bytes."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if isinstance(value, str):
            size += len(value.encode())
    for resource in entry.get("Resources") or []:
        if isinstance(resource, str):
            size += len(resource.encode())
    return size


def check_request(entries: Sequence[Mapping[str, Any]]) -> None:
    """Refuse the whole call when the entry count or total size breaks AWS's limits."""
    if not 1 <= len(entries) <= MAX_ENTRIES:
        bound = "greater than or equal to 1" if not entries else "less than or equal to 10"
        raise ValidationException(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
            f"Member must have length {bound}"
        )
    if sum(entry_size(e) for e in entries) > MAX_TOTAL_BYTES:
        raise ValidationException("Total size of the entries in the request is over the limit.")


def check_entry(entry: Mapping[str, Any]) -> EntryError | None:
    """The error AWS answers for this entry alone, or ``None`` when it is valid."""
    for key in ("Source", "DetailType", "Detail"):
        if not entry.get(key):
            return EntryError(
                "InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a required argument."
            )
    try:
        detail = json.loads(entry["Detail"])
    except (TypeError, ValueError):
        detail = None
    if not isinstance(detail, dict):
        return EntryError("MalformedDetail", "Detail is malformed.")
    if str(entry["Source"]).startswith("aws."):
        return EntryError("NotAuthorizedForSourceException", "Not authorized for the source.")
    resources = entry.get("Resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        return EntryError("InvalidArgument", "Parameter Resources is not valid.")
    return None


def format_time(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ`` in UTC, as every EventBridge envelope carries it."""
    value = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_event(
    *,
    source: str,
    detail_type: str,
    detail: Any,
    account: str,
    region: str,
    time: datetime,
    resources: Sequence[str] = (),
    event_id: str | None = None,
) -> dict[str, Any]:
    """An event envelope in AWS's field order."""
    return {
        "version": "0",
        "id": event_id or new_uuid(),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": format_time(time),
        "region": region,
        "resources": list(resources),
        "detail": detail,
    }


def event_from_entry(entry: Mapping[str, Any], account: str, region: str, now: datetime) -> dict[str, Any]:
    """The envelope for a valid ``PutEvents`` entry (``Time`` defaults to ``now``)."""
    when = entry.get("Time")
    return build_event(
        source=entry["Source"],
        detail_type=entry["DetailType"],
        detail=json.loads(entry["Detail"]),
        account=account,
        region=region,
        time=when if isinstance(when, datetime) else now,
        resources=entry.get("Resources") or [],
    )


def scheduled_event(rule_arn: str, account: str, region: str, time: datetime) -> dict[str, Any]:
    """The ``Scheduled Event`` a schedule rule sends: ``source`` aws.events, empty ``detail``."""
    return build_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        account=account,
        region=region,
        time=time,
        resources=[rule_arn],
    )
