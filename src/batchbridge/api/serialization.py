"""Response serialisation for the JSON 1.0/1.1 and rest-json protocols.

Only modelled members are written, under their wire names and in the model's types, so a
service may return richer dictionaries than the output shape without leaking anything.

* Timestamps: the member's ``timestampFormat`` when the model sets one, else the protocol's
  default for the place it travels (JSON body: epoch seconds; header: RFC 822).  Batch's and
  Logs' times are ``long`` members in epoch milliseconds in the model, so they travel as the
  integers the service returns; Lambda's are strings in the model, and a ``datetime`` given for
  a string member is written as Lambda writes them (``2024-05-06T07:08:09.123+0000``).
* Blobs in a JSON body are base64; a blob ``payload`` member is the raw response body (Lambda
  ``Invoke``'s ``Payload``), a structure payload member is the JSON body.
* rest-json: ``header`` members become response headers (``X-Amz-Function-Error``,
  ``X-Amz-Log-Result``, ``X-Amz-Executed-Version``), a ``statusCode`` member sets the HTTP
  status, otherwise the model's ``http.responseCode`` does.
"""

from __future__ import annotations

import base64
import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from batchbridge.api.catalog import OperationSpec
from batchbridge.api.shapes import BODY_TIMESTAMP_FORMAT, HEADER_TIMESTAMP_FORMAT, Member, Node


@dataclass(slots=True)
class WireResponse:
    """An HTTP answer, independent of the web framework."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def format_timestamp(value: Any, fmt: str) -> Any:
    """Format a datetime (or epoch seconds) as ``unixTimestamp``, ``iso8601`` or ``rfc822``."""
    moment = _as_datetime(value)
    if moment is None:
        return value
    if fmt == "iso8601":
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if fmt == "rfc822":
        return format_datetime(moment.astimezone(UTC), usegmt=True)
    return round(moment.timestamp(), 3)


def format_iso_offset(value: datetime) -> str:
    """A datetime for a string member, as Lambda writes them: ``2024-05-06T07:08:09.123+0000``."""
    moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def to_wire(node: Node, value: Any, member: Member | None = None) -> Any:
    """Convert a service value to its JSON wire form according to ``node``."""
    kind = node.type
    if kind == "structure":
        if node.document or not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        members = node.members
        for name, item in value.items():
            child = members.get(name)
            if child is None or item is None or child.location is not None:
                continue
            out[child.wire] = to_wire(child.node, item, child)
        return out
    if kind == "list":
        item_node = node.member
        assert item_node is not None
        if item_node.type in ("string", "integer", "long", "boolean"):
            return [item.value if isinstance(item, enum.Enum) else item for item in value]
        return [to_wire(item_node, item) for item in value]
    if kind == "map":
        value_node = node.value
        assert value_node is not None
        return {str(key): to_wire(value_node, item) for key, item in value.items() if item is not None}
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, datetime):
            return format_iso_offset(value)
        return str(value)
    if kind in ("integer", "long"):
        if isinstance(value, enum.Enum):
            value = value.value
        return int(value) if isinstance(value, float | str) else value
    if kind == "timestamp":
        fmt = (member.timestamp_format if member else None) or node.timestamp_format or BODY_TIMESTAMP_FORMAT
        return format_timestamp(value, fmt)
    if kind == "blob":
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return base64.b64encode(data).decode("ascii")
    return value


def _header_text(member: Member, value: Any) -> str:
    node = member.node
    if node.type == "timestamp":
        fmt = member.timestamp_format or node.timestamp_format or HEADER_TIMESTAMP_FORMAT
        return str(format_timestamp(value, fmt))
    if member.json_value:
        return base64.b64encode(json.dumps(value).encode("utf-8")).decode("ascii")
    if node.type == "boolean":
        return "true" if value else "false"
    if node.type == "list":
        return ",".join(str(item) for item in value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def serialize_result(operation: OperationSpec, result: dict[str, Any] | None) -> WireResponse:
    """Serialise a service's result dict for ``operation``'s protocol."""
    service = operation.service
    node = operation.output
    result = result or {}
    if service.protocol == "json":
        body = dumps(to_wire(node, result)) if node is not None else b"{}"
        return WireResponse(200, body, service.content_type)
    status = operation.status
    headers: dict[str, str] = {}
    if node is None:
        return WireResponse(status, b"{}", service.content_type)
    for member in node.located_members:
        value = result.get(member.name)
        if value is None:
            continue
        if member.location == "header":
            headers[member.wire] = _header_text(member, value)
        elif member.location == "headers" and isinstance(value, dict):
            for key, text in value.items():
                headers[f"{member.wire}{key}"] = str(text)
        elif member.location == "statusCode":
            status = int(value)
    payload_name = node.payload
    if payload_name is not None:
        payload = node.members[payload_name]
        value = result.get(payload_name)
        if payload.node.type == "blob":
            data = b"" if value is None else value.encode("utf-8") if isinstance(value, str) else bytes(value)
            return WireResponse(status, data, "application/json", headers)
        if payload.node.type == "string":
            return WireResponse(status, ("" if value is None else str(value)).encode(), "text/plain", headers)
        body = dumps(to_wire(payload.node, value)) if value is not None else b"{}"
        return WireResponse(status, body, service.content_type, headers)
    return WireResponse(status, dumps(to_wire(node, result)), service.content_type, headers)
