"""Server-side checks AWS Batch makes that botocore's client does not.

botocore checks required members, member types and list minimums before sending; it does not check
string patterns, map sizes, integer ranges or cross-field rules, so AWS Batch does them on the
server and answers ``ClientException`` (HTTP 400).  AWS's exact texts for these cases are mostly
unpublished (spec §3.4 and §11.3): the messages below are our own, and every one names the field
(with its path inside the request, for example ``containerProperties.environment[0].name``) and
the value that broke the rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from batchbridge.errors import ClientException

NAME_MAX = 128
TAGS_MIN, TAGS_MAX = 1, 50
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256
RESERVED_TAG_PREFIX = "aws:"
RESERVED_ENV_PREFIX = "AWS_BATCH"
MIN_MEMORY_MIB = 4

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_TAG_CHARS = re.compile(r"^[\w\s+=.:/@-]*$", re.UNICODE)


def validate_name(value: Any, field: str) -> str:
    """A compute environment, queue or job definition name: 1..128 letters, digits, ``-``, ``_``.

    AWS documents exactly that character set and length; Terraform additionally requires an
    alphanumeric first character, which AWS's documentation does not state, so it is not enforced.
    """
    if not isinstance(value, str) or not _NAME.match(value):
        raise ClientException(
            f"{field} must be 1 to {NAME_MAX} characters long and contain only letters, numbers, "
            f"hyphens (-) and underscores (_); got {value!r}"
        )
    return value


def validate_tags(tags: Any, field: str = "tags") -> dict[str, str]:
    """AWS's tag rules: 1..50 entries, keys 1..128 characters, values 0..256, no ``aws:`` keys."""
    if not isinstance(tags, Mapping):
        raise ClientException(f"{field} must be a map of tag keys to values")
    if not TAGS_MIN <= len(tags) <= TAGS_MAX:
        raise ClientException(f"{field} must contain between {TAGS_MIN} and {TAGS_MAX} tags; got {len(tags)}")
    for key, value in tags.items():
        validate_tag_key(key, field)
        if not isinstance(value, str) or len(value) > TAG_VALUE_MAX or not _TAG_CHARS.match(value):
            raise ClientException(
                f"{field}: the value of tag {key!r} must be a string of 0 to {TAG_VALUE_MAX} "
                "characters (letters, numbers, spaces and _ . : / = + - @)"
            )
    return dict(tags)


def validate_tag_key(key: Any, field: str = "tagKeys") -> str:
    """A tag key: 1..128 characters from AWS's tag alphabet, not starting with ``aws:``."""
    if not isinstance(key, str) or not 1 <= len(key) <= TAG_KEY_MAX or not _TAG_CHARS.match(key):
        raise ClientException(
            f"{field}: tag key {key!r} must be 1 to {TAG_KEY_MAX} characters "
            "(letters, numbers, spaces and _ . : / = + - @)"
        )
    if key.lower().startswith(RESERVED_TAG_PREFIX):
        raise ClientException(f"{field}: tag key {key!r} uses the reserved prefix {RESERVED_TAG_PREFIX!r}")
    return key


def validate_int_range(value: Any, field: str, low: int, high: int | None = None) -> int:
    """An integer in ``low..high`` (``high`` ``None`` for no maximum)."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ClientException(f"{field} must be an integer {bound}; got {value!r}")
    return value


def validate_environment(env: Any, field: str) -> list[dict[str, str]]:
    """Environment entries ``{name, value}``; names must not start with ``AWS_BATCH`` (reserved)."""
    if not isinstance(env, list):
        raise ClientException(f"{field} must be a list of name/value pairs")
    for index, entry in enumerate(env):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ClientException(f"{field}[{index}].name is required")
        if name.upper().startswith(RESERVED_ENV_PREFIX):
            raise ClientException(
                f"{field}[{index}].name {name!r}: environment variables cannot start with "
                f'"{RESERVED_ENV_PREFIX}"; this naming convention is reserved for variables that Batch sets'
            )
    return list(env)


def _number(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def validate_resource_requirements(reqs: Any, field: str) -> list[dict[str, str]]:
    """``resourceRequirements``: each type at most once, values numeric, MEMORY an integer ≥ 4 MiB.

    VCPU may be fractional (Fargate accepts 0.25, 0.5, ...) but must be positive; GPU is a whole
    number ≥ 0.  The element order is kept as given, because AWS echoes it unchanged.
    """
    if not isinstance(reqs, list):
        raise ClientException(f"{field} must be a list of {{type, value}} entries")
    seen: set[str] = set()
    for index, req in enumerate(reqs):
        where = f"{field}[{index}]"
        if not isinstance(req, Mapping):
            raise ClientException(f"{where} must be a {{type, value}} entry")
        kind, raw = req.get("type"), req.get("value")
        if kind not in ("GPU", "VCPU", "MEMORY"):
            raise ClientException(f"{where}.type must be one of GPU, VCPU, MEMORY; got {kind!r}")
        if kind in seen:
            raise ClientException(f"{where}.type {kind} is given more than once")
        seen.add(kind)
        number = _number(raw)
        if number is None:
            raise ClientException(f"{where}.value for {kind} must be a number; got {raw!r}")
        if kind == "MEMORY" and (number != int(number) or number < MIN_MEMORY_MIB):
            raise ClientException(
                f"{where}.value for MEMORY must be a whole number of MiB, at least {MIN_MEMORY_MIB}; "
                f"got {raw!r}"
            )
        if kind == "VCPU" and number <= 0:
            raise ClientException(f"{where}.value for VCPU must be greater than 0; got {raw!r}")
        if kind == "GPU" and (number != int(number) or number < 0):
            raise ClientException(f"{where}.value for GPU must be a whole number, at least 0; got {raw!r}")
    return list(reqs)


def validate_string_list(values: Any, field: str, *, max_items: int | None = None) -> list[str]:
    """A list of strings (identifiers given by the caller), at most ``max_items`` long."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ClientException(f"{field} must be a list of strings")
    if max_items is not None and len(values) > max_items:
        raise ClientException(f"{field} must contain at most {max_items} entries; got {len(values)}")
    return list(values)


def validate_choice(value: Any, field: str, choices: Sequence[str]) -> str:
    """A value from a fixed set (for enums reached where the wire layer does not check them)."""
    if value not in choices:
        raise ClientException(f"{field} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def validate_retry_strategy(strategy: Any, field: str, request_id: str) -> dict[str, Any]:
    """``retryStrategy``: ``attempts`` 1..10, at most 5 ``evaluateOnExit`` entries with an action
    RETRY or EXIT (any case) and patterns of at most 512 characters; ``attempts`` is required when
    ``evaluateOnExit`` is given, answered with AWS's own text for that case."""
    if not isinstance(strategy, Mapping):
        raise ClientException(f"{field} must be a structure")
    rules = strategy.get("evaluateOnExit")
    if "attempts" not in strategy:
        if rules:
            raise ClientException(
                "Error executing request, Exception : RetryAttempts must be provided with retry "
                f"strategy, RequestId: {request_id}"
            )
    else:
        validate_int_range(strategy["attempts"], f"{field}.attempts", 1, 10)
    if rules is not None:
        if not isinstance(rules, list) or len(rules) > 5:
            raise ClientException(f"{field}.evaluateOnExit must be a list of at most 5 entries")
        for index, rule in enumerate(rules):
            where = f"{field}.evaluateOnExit[{index}]"
            if not isinstance(rule, Mapping):
                raise ClientException(f"{where} must be a structure")
            action = rule.get("action")
            if not isinstance(action, str) or action.upper() not in ("RETRY", "EXIT"):
                raise ClientException(f"{where}.action must be RETRY or EXIT; got {action!r}")
            for key in ("onStatusReason", "onReason", "onExitCode"):
                pattern = rule.get(key)
                if pattern is None:
                    continue
                if not isinstance(pattern, str) or len(pattern) > 512:
                    raise ClientException(f"{where}.{key} must be a pattern of at most 512 characters")
                if key == "onExitCode" and not re.fullmatch(r"[0-9]*\*?", pattern):
                    raise ClientException(
                        f"{where}.onExitCode may contain only digits and a trailing '*'; got {pattern!r}"
                    )
    return dict(strategy)


def validate_container_properties(props: Any, field: str) -> dict[str, Any]:
    """``containerProperties``: command strings, reserved environment names, numeric resources."""
    if not isinstance(props, Mapping):
        raise ClientException(f"{field} must be a structure")
    command = props.get("command")
    if command is not None:
        validate_string_list(command, f"{field}.command")
    if props.get("environment") is not None:
        validate_environment(props["environment"], f"{field}.environment")
    if props.get("resourceRequirements") is not None:
        validate_resource_requirements(props["resourceRequirements"], f"{field}.resourceRequirements")
    if props.get("vcpus") is not None:
        validate_int_range(props["vcpus"], f"{field}.vcpus", 1)
    if props.get("memory") is not None:
        validate_int_range(props["memory"], f"{field}.memory", MIN_MEMORY_MIB)
    return dict(props)


def validate_vcpus(resources: Mapping[str, Any]) -> None:
    """``computeResources`` vCPU bounds: 0 ≤ minvCpus ≤ desiredvCpus ≤ maxvCpus."""
    low = validate_int_range(resources.get("minvCpus", 0), "computeResources.minvCpus", 0)
    high = validate_int_range(resources.get("maxvCpus"), "computeResources.maxvCpus", 0)
    if low > high:
        raise ClientException(f"computeResources.minvCpus ({low}) cannot be greater than maxvCpus ({high})")
    desired = resources.get("desiredvCpus")
    if desired is not None:
        validate_int_range(desired, "computeResources.desiredvCpus", low, high)


def validate_time_limit_actions(actions: Any) -> list[dict[str, Any]]:
    """``jobStateTimeLimitActions``: ≤5 entries, state RUNNABLE, 600..86400 s, CANCEL or TERMINATE."""
    field = "jobStateTimeLimitActions"
    if not isinstance(actions, list) or len(actions) > 5:
        raise ClientException(f"{field} must be a list of at most 5 actions")
    for index, action in enumerate(actions):
        where = f"{field}[{index}]"
        if not isinstance(action, Mapping) or not isinstance(action.get("reason"), str):
            raise ClientException(f"{where}.reason is required")
        validate_choice(action.get("state"), f"{where}.state", ("RUNNABLE",))
        validate_int_range(action.get("maxTimeSeconds"), f"{where}.maxTimeSeconds", 600, 86400)
        validate_choice(action.get("action"), f"{where}.action", ("CANCEL", "TERMINATE"))
    return [dict(a) for a in actions]
