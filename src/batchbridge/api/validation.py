"""Server-side validation of a request against its input shape, with AWS's wording.

botocore checks only required members, member types and minimum lengths on the client side;
raw HTTP clients, other SDKs and the CLI's ``--cli-input-json`` can send anything.  Every value
is therefore checked here, nested everywhere: type, ``enum``, integer and float ranges
(``min``/``max``), string lengths and patterns (whole-string match), list and map sizes, and
required members.  The same pass converts wire values to Python ones: timestamps to aware
``datetime`` objects, base64 blobs to ``bytes``.

Violations are reported the way AWS's request validation (Coral) words them::

    1 validation error detected: Value 'x' at 'name' failed to satisfy constraint:
    Member must have length less than or equal to 64

Paths use the member name with a lower-case first letter; list items read ``tags.1.member.key``
(1-based); scalar map keys and values read ``Map keys must satisfy constraint: [...]`` at the
map's path.  A value of the wrong JSON type has no published Coral text (AWS answers an empty
``SerializationException``); the choice made here is the same validation message with a
constraint such as ``Member must be an integer``, so that the field is named.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batchbridge.api.shapes import Node

_TYPE_TEXT = {
    "string": "Member must be a string",
    "integer": "Member must be an integer",
    "long": "Member must be an integer",
    "float": "Member must be a number",
    "double": "Member must be a number",
    "boolean": "Member must be a boolean",
    "structure": "Member must be an object",
    "list": "Member must be a list",
    "map": "Member must be a map",
    "timestamp": "Member must be a timestamp (epoch seconds or ISO 8601)",
    "blob": "Member must be base64-encoded binary data",
}


#: The Java types behind the model's ``integer`` and ``long``: a value outside them never reaches
#: an AWS service (Jackson refuses it), so it is refused here with the field named.
_INT_LIMITS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_WIDTH_TEXT = {
    "integer": "Member must be an integer between -2147483648 and 2147483647",
    "long": "Member must be an integer between -9223372036854775808 and 9223372036854775807",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed constraint: the member path, the offending value and AWS's constraint text."""

    path: str
    value: Any
    constraint: str

    def text(self) -> str:
        value = render_value(self.value)
        return f"Value {value} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def render_value(value: Any) -> str:
    """Render a value as AWS's Java-based validation does: ``null``, ``'x'``, ``'[a, b]'``."""
    if value is None:
        return "null"
    return f"'{_java_text(value)}'"


def _java_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java_text(k)}={_java_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if value is None:
        return "null"
    return str(value)


def format_violations(violations: list[Violation]) -> str:
    """AWS's summary line: ``N validation error(s) detected: <v1>; <v2>``."""
    count = len(violations)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(v.text() for v in violations)


def member_path(parent: str, name: str) -> str:
    """Coral's path segment for a member: its name with a lower-case first letter."""
    segment = name[:1].lower() + name[1:]
    return f"{parent}.{segment}" if parent else segment


def _number(limit: float) -> str:
    return str(int(limit)) if float(limit).is_integer() else str(limit)


def check_structure(
    node: Node,
    body: dict[str, Any],
    path: str,
    errors: list[Violation],
    located: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check a JSON object (keyed by wire names) plus already-located values (keyed by member).

    Unknown keys are ignored, as AWS's JSON deserialisers do.  Returns the parameters keyed by
    member name.
    """
    result: dict[str, Any] = {}
    members = node.body_members
    for wire, raw in body.items():
        member = members.get(wire)
        if member is None or raw is None:
            continue
        result[member.name] = check_value(member.node, raw, member_path(path, member.name), errors)
    if located:
        for name, raw in located.items():
            result[name] = check_value(node.members[name].node, raw, member_path(path, name), errors)
    for name in node.required:
        if name not in result:
            errors.append(Violation(member_path(path, name), None, "Member must not be null"))
    return result


def check_value(node: Node, value: Any, path: str, errors: list[Violation]) -> Any:
    """Check one value against ``node`` and return it converted to its Python type."""
    kind = node.type
    if kind == "string":
        if not isinstance(value, str):
            errors.append(Violation(path, value, _TYPE_TEXT[kind]))
            return value
        _check_string(node, value, path, errors)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                errors.append(Violation(path, value, _TYPE_TEXT[kind]))
                return value
        if not _INT_LIMITS[kind][0] <= value <= _INT_LIMITS[kind][1]:
            errors.append(Violation(path, value, _WIDTH_TEXT[kind]))
            return value
        _check_range(node, value, path, errors)
        return value
    if kind == "structure":
        if node.document:
            return value
        if not isinstance(value, dict):
            errors.append(Violation(path, value, _TYPE_TEXT[kind]))
            return value
        return check_structure(node, value, path, errors)
    if kind == "list":
        return _check_list(node, value, path, errors)
    if kind == "map":
        return _check_map(node, value, path, errors)
    if kind == "boolean":
        if not isinstance(value, bool):
            errors.append(Violation(path, value, _TYPE_TEXT[kind]))
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(Violation(path, value, _TYPE_TEXT[kind]))
            return value
        _check_range(node, value, path, errors)
        return float(value)
    if kind == "timestamp":
        return _check_timestamp(value, path, errors)
    if kind == "blob":
        return _check_blob(node, value, path, errors)
    return value


def _check_string(node: Node, value: str, path: str, errors: list[Violation]) -> None:
    if node.enum is not None and value not in node.enum:
        folded = node.enum_folded
        if folded is None or value.upper() not in folded:
            errors.append(Violation(path, value, f"Member must satisfy enum value set: {node.enum_text}"))
            return
    length = len(value)
    if node.min is not None and length < node.min:
        errors.append(
            Violation(path, value, f"Member must have length greater than or equal to {_number(node.min)}")
        )
    if node.max is not None and length > node.max:
        errors.append(
            Violation(path, value, f"Member must have length less than or equal to {_number(node.max)}")
        )
    if node.pattern is not None and node.pattern.fullmatch(value) is None:
        errors.append(
            Violation(path, value, f"Member must satisfy regular expression pattern: {node.pattern_text}")
        )


def _check_range(node: Node, value: float, path: str, errors: list[Violation]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        errors.append(Violation(path, value, "Member must be a finite number"))
        return
    if node.min is not None and value < node.min:
        errors.append(
            Violation(path, value, f"Member must have value greater than or equal to {_number(node.min)}")
        )
    if node.max is not None and value > node.max:
        errors.append(
            Violation(path, value, f"Member must have value less than or equal to {_number(node.max)}")
        )


def _check_size(node: Node, value: Any, size: int, path: str, errors: list[Violation]) -> None:
    if node.min is not None and size < node.min:
        errors.append(
            Violation(path, value, f"Member must have length greater than or equal to {_number(node.min)}")
        )
    if node.max is not None and size > node.max:
        errors.append(
            Violation(path, value, f"Member must have length less than or equal to {_number(node.max)}")
        )


def _check_list(node: Node, value: Any, path: str, errors: list[Violation]) -> Any:
    if not isinstance(value, list):
        errors.append(Violation(path, value, _TYPE_TEXT["list"]))
        return value
    _check_size(node, value, len(value), path, errors)
    item_node = node.member
    assert item_node is not None
    result = []
    for index, item in enumerate(value, start=1):
        item_path = f"{path}.{index}.member"
        if item is None:
            errors.append(Violation(item_path, None, "Member must not be null"))
            continue
        result.append(check_value(item_node, item, item_path, errors))
    return result


def _check_map(node: Node, value: Any, path: str, errors: list[Violation]) -> Any:
    if not isinstance(value, dict):
        errors.append(Violation(path, value, _TYPE_TEXT["map"]))
        return value
    _check_size(node, value, len(value), path, errors)
    key_node, value_node = node.key, node.value
    assert key_node is not None and value_node is not None
    scalar_values = value_node.type not in ("structure", "list", "map")
    key_texts: dict[str, None] = {}
    value_texts: dict[str, None] = {}
    result: dict[str, Any] = {}
    for key, item in value.items():
        found: list[Violation] = []
        check_value(key_node, key, path, found)
        key_texts.update((v.constraint, None) for v in found)
        if item is None:
            continue
        found = []
        result[key] = check_value(value_node, item, f"{path}.{key}", found)
        if scalar_values:
            value_texts.update((v.constraint, None) for v in found)
        else:
            errors.extend(found)
    if key_texts:
        errors.append(Violation(path, value, f"Map keys must satisfy constraint: [{', '.join(key_texts)}]"))
    if value_texts:
        errors.append(
            Violation(path, value, f"Map value must satisfy constraint: [{', '.join(value_texts)}]")
        )
    return result


def _check_timestamp(value: Any, path: str, errors: list[Violation]) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        parsed = parse_timestamp_text(value)
        if parsed is not None:
            return parsed
    errors.append(Violation(path, value, _TYPE_TEXT["timestamp"]))
    return value


def parse_timestamp_text(text: str) -> datetime | None:
    """Parse epoch seconds, ISO 8601 or RFC 822 text into an aware datetime, else ``None``."""
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _check_blob(node: Node, value: Any, path: str, errors: list[Violation]) -> Any:
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            errors.append(Violation(path, "***", _TYPE_TEXT["blob"]))
            return value
    else:
        errors.append(Violation(path, value, _TYPE_TEXT["blob"]))
        return value
    _check_size(node, "***", len(data), path, errors)
    return data
