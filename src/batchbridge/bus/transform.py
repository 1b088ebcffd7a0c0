"""What a target receives: the whole event, ``Input``, ``InputPath`` or ``InputTransformer``.

AWS rules emulated (EventBridge API reference ``Target``/``InputTransformer`` and the user guide
"Amazon EventBridge input transformation"):

* With none of the three, the target receives the event as JSON.  ``Input`` is constant JSON text
  sent as is.  ``InputPath`` is a JSONPath selecting the part of the event to send.  At most one
  of the three may be set on a target.
* JSONPath: the subset EventBridge evaluates — ``$``, dot notation (``$.detail.state``) with
  dashes, underscores, slashes and alphanumerics in names, and array indices (``$.resources[0]``).
* ``InputTransformer``: ``InputPathsMap`` of at most 100 variables (names ``[A-Za-z0-9_-]+``, not
  starting with ``aws.``) and an ``InputTemplate`` of at most 8192 characters.  ``<name>`` in the
  template is replaced by the variable's value.  Outside a JSON string a value is inserted as JSON
  (a string gains its quotes); inside a JSON string a string is inserted verbatim — EventBridge does
  not escape extracted values — and an object or array is inserted as compact JSON with its inner
  quotes removed.  A ``<name>`` that names no variable is left as written.
* Predefined variables: ``aws.events.rule-arn``, ``aws.events.rule-name``,
  ``aws.events.event.ingestion-time`` (ISO 8601), ``aws.events.event`` (the event without
  ``detail``) and ``aws.events.event.json`` (the whole event); the last two only as JSON values.

Choice where the guide is loose: a path that selects nothing yields ``null`` outside a string and
nothing inside one, so the output stays valid JSON.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from batchbridge.errors import ValidationException

MAX_PATHS = 100
MAX_TEMPLATE = 8192
_MISSING: Any = object()
_NAME = r"[A-Za-z0-9_\-/@]+"
_PATH_RE = re.compile(rf"^\$((\.{_NAME})|(\[\d+\]))*$")
_STEP_RE = re.compile(rf"\.({_NAME})|\[(\d+)\]")
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
_PLACEHOLDER_RE = re.compile(r"<([A-Za-z0-9_.\-]+)>")
PREDEFINED = (
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
)


def is_valid_path(path: str) -> bool:
    """Whether ``path`` is in the JSONPath subset EventBridge evaluates."""
    return isinstance(path, str) and _PATH_RE.match(path) is not None


def select(path: str, document: Any) -> Any:
    """Evaluate ``path`` on ``document``; :data:`_MISSING` when nothing is there."""
    value = document
    for name, index in _STEP_RE.findall(path[1:]):
        if name:
            if not isinstance(value, dict) or name not in value:
                return _MISSING
            value = value[name]
        else:
            position = int(index)
            if not isinstance(value, list) or position >= len(value):
                return _MISSING
            value = value[position]
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


@dataclasses.dataclass(frozen=True)
class RuleInfo:
    """The rule a delivery belongs to, for the predefined variables."""

    arn: str
    name: str


def validate_target_input(target: Mapping[str, Any], field: str) -> None:
    """Refuse a target whose input settings AWS refuses; ``field`` names it (``Targets[0]``)."""
    given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k) is not None]
    if len(given) > 1:
        raise ValidationException(
            f"Only one of Input, InputPath, or InputTransformer must be provided for {field}."
        )
    if target.get("Input") is not None:
        try:
            json.loads(target["Input"])
        except (TypeError, ValueError):
            raise ValidationException(f"{field}.Input is not valid JSON.") from None
    if target.get("InputPath") is not None and not is_valid_path(target["InputPath"]):
        raise ValidationException(f"{field}.InputPath is not a valid JSON path.")
    transformer = target.get("InputTransformer")
    if transformer is not None:
        _validate_transformer(transformer, f"{field}.InputTransformer")


def _validate_transformer(transformer: Mapping[str, Any], field: str) -> None:
    template = transformer.get("InputTemplate")
    if not isinstance(template, str) or not 1 <= len(template) <= MAX_TEMPLATE:
        raise ValidationException(f"{field}.InputTemplate must be 1 to {MAX_TEMPLATE} characters.")
    paths = transformer.get("InputPathsMap") or {}
    if len(paths) > MAX_PATHS:
        raise ValidationException(f"{field}.InputPathsMap can have at most {MAX_PATHS} entries.")
    for key, path in paths.items():
        if not _KEY_RE.match(key) or key.lower().startswith("aws."):
            raise ValidationException(f"{field}.InputPathsMap key {key} is not valid.")
        if key in PREDEFINED:
            raise ValidationException(f"{field}.InputPathsMap key {key} is reserved.")
        if not is_valid_path(path):
            raise ValidationException(f"{field}.InputPathsMap value {path} is not a valid JSON path.")


def receives_whole_event(target: Mapping[str, Any]) -> bool:
    """Whether ``target`` has none of ``Input``, ``InputPath``, ``InputTransformer``.

    Such a target receives the event's compact JSON, which the bus stores as it is (the dispatcher
    then sends the stored bytes instead of serialising the event once more per target).
    """
    return (
        target.get("Input") is None
        and target.get("InputPath") is None
        and target.get("InputTransformer") is None
    )


def render_input(
    target: Mapping[str, Any], event: Mapping[str, Any], rule: RuleInfo, ingestion_time: str
) -> bytes:
    """The bytes a target receives for ``event`` under ``target``'s input settings."""
    if target.get("Input") is not None:
        return str(target["Input"]).encode()
    if target.get("InputPath") is not None:
        value = select(target["InputPath"], event)
        return _json(None if is_missing(value) else value).encode()
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return render_template(
            transformer["InputTemplate"], transformer.get("InputPathsMap") or {}, event, rule, ingestion_time
        ).encode()
    return _json(event).encode()


def render_template(
    template: str,
    paths: Mapping[str, str],
    event: Mapping[str, Any],
    rule: RuleInfo,
    ingestion_time: str,
) -> str:
    """Substitute every ``<name>`` of ``template`` as EventBridge does (see module docstring)."""
    values: dict[str, Any] = {key: select(path, event) for key, path in paths.items()}
    values["aws.events.rule-arn"] = rule.arn
    values["aws.events.rule-name"] = rule.name
    values["aws.events.event.ingestion-time"] = ingestion_time
    values["aws.events.event"] = {k: v for k, v in event.items() if k != "detail"}
    values["aws.events.event.json"] = dict(event)
    out: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "<":
            found = _PLACEHOLDER_RE.match(template, position)
            if found is not None and found.group(1) in values:
                out.append(_substitute(values[found.group(1)], in_string))
                position = found.end()
                continue
        if char == "\\" and in_string:
            out.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        position += 1
    return "".join(out)


def _substitute(value: Any, in_string: bool) -> str:
    if is_missing(value):
        return "" if in_string else "null"
    if not in_string:
        return _json(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return _json(value).replace('"', "")
    return _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
