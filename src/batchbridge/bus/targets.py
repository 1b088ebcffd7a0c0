"""``PutTargets`` input checks and the names and ARNs of buses and rules.

AWS rules emulated (EventBridge API reference ``PutTargets``, ``Target``, ``PutRule``):

* 1 to 10 targets per call, at most 5 targets per rule (``LimitExceededException``); target
  ``Id`` 1-64 characters of ``[.\\-_A-Za-z0-9]``, ``Arn`` 1-1600 characters; at most one of
  ``Input``, ``InputPath``, ``InputTransformer``; ``RetryPolicy`` within its ranges.
* Rule names 1-64 characters of ``[.\\-_A-Za-z0-9]``; bus names 1-256 characters of
  ``[/.\\-_A-Za-z0-9]``; wherever an ``EventBusName`` is accepted, its ARN is accepted too.
* ARNs: bus ``arn:aws:events:{region}:{account}:event-bus/{name}``; rule ``.../rule/{name}`` on the
  default bus and ``.../rule/{bus}/{name}`` on any other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from batchbridge.bus.retry import RetryPolicy
from batchbridge.bus.transform import validate_target_input
from batchbridge.domain.arns import make_arn
from batchbridge.errors import ServiceError, ValidationException

DEFAULT_BUS = "default"
MAX_TARGETS_PER_RULE = 5
MAX_TARGETS_PER_CALL = 10
_RULE_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
_BUS_NAME = re.compile(r"^[/\.\-_A-Za-z0-9]{1,256}$")
_TARGET_ID = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")


class LimitExceededException(ServiceError):
    """A quota of EventBridge (targets per rule, buses per account)."""

    code = "LimitExceededException"


def constraint_error(field: str, value: object, constraint: str) -> ValidationException:
    """AWS's wording for a member that breaks its model constraint."""
    return ValidationException(
        f"1 validation error detected: Value '{value}' at '{field}' "
        f"failed to satisfy constraint: {constraint}"
    )


def bus_name(value: object) -> str:
    """A bus name from ``EventBusName`` (name or ARN); the default bus when absent."""
    if value is None or value == "":
        return DEFAULT_BUS
    if not isinstance(value, str):
        raise constraint_error("eventBusName", value, "Member must be a string")
    name = value.split(":event-bus/", 1)[1] if value.startswith("arn:") and ":event-bus/" in value else value
    if not _BUS_NAME.match(name):
        raise constraint_error(
            "eventBusName", value, "Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+"
        )
    return name


def rule_name(value: object, field: str = "name") -> str:
    if not isinstance(value, str) or not _RULE_NAME.match(value):
        raise constraint_error(
            field, value, "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        )
    return value


def bus_arn(region: str, account: str, name: str) -> str:
    return make_arn("events", region, account, f"event-bus/{name}")


def rule_arn(region: str, account: str, bus: str, name: str) -> str:
    resource = f"rule/{name}" if bus == DEFAULT_BUS else f"rule/{bus}/{name}"
    return make_arn("events", region, account, resource)


def check_targets(targets: object, existing: Sequence[str]) -> list[dict[str, Any]]:
    """Validate the ``Targets`` of a ``PutTargets`` call against the rule's ``existing`` ids."""
    if not isinstance(targets, list) or not 1 <= len(targets) <= MAX_TARGETS_PER_CALL:
        size = len(targets) if isinstance(targets, list) else 0
        bound = "greater than or equal to 1" if size < 1 else "less than or equal to 10"
        raise constraint_error("targets", "[...]", f"Member must have length {bound}")
    seen: set[str] = set()
    checked: list[dict[str, Any]] = []
    for index, target in enumerate(targets):
        field = f"targets.{index + 1}.member"
        if not isinstance(target, Mapping):
            raise constraint_error(field, target, "Member must be a structure")
        target_id = target.get("Id")
        if not isinstance(target_id, str) or not _TARGET_ID.match(target_id):
            raise constraint_error(
                f"{field}.id",
                target_id,
                "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
            )
        arn = target.get("Arn")
        if not isinstance(arn, str) or not 1 <= len(arn) <= 1600:
            raise constraint_error(f"{field}.arn", arn, "Member must have length between 1 and 1600")
        if target_id in seen:
            raise ValidationException(f"The same target ID cannot be used more than once: {target_id}")
        seen.add(target_id)
        validate_target_input(target, f"Targets[{index}]")
        RetryPolicy.from_params(target.get("RetryPolicy"))
        checked.append(dict(target))
    if len(set(existing) | seen) > MAX_TARGETS_PER_RULE:
        raise LimitExceededException(
            "The requested resource exceeds the maximum number allowed "
            f"({MAX_TARGETS_PER_RULE} targets per rule)."
        )
    return checked
