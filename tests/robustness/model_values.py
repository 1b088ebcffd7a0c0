"""Requests generated from botocore's service models: valid ones, then mutations of them.

:func:`valid_params` builds an input that satisfies the model's constraints (types, enums,
ranges, lengths, patterns where a candidate fits) with deliberately awkward values inside the
rules: empty strings where allowed, unicode, NUL characters, the extreme integers, names of
resources that exist (``pool``) and of ones that do not.  :func:`mutations` then breaks one
thing at a time: a wrong JSON type at a member, a required member left out, an integer out of
range, a string one character too long, an unknown enum value, a huge list, a garbage
``nextToken``.  Everything is drawn from a seeded :class:`random.Random`, so a run is
reproducible.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.model import Shape

#: Strings that are legal wherever a string without constraints is; none names a real command.
AWKWARD = (
    "",
    "a",
    "ünïcødé ☃ 𝄞",
    "nul\u0000byte",
    "line\nbreak",
    "../../etc/passwd",
    "%s%n{0}",
    "arn:aws:batch:us-east-1:123456789012:job-queue/nowhere",
    "arn:aws:lambda:us-east-1:123456789012:function:nowhere",
    "arn:aws:sqs:us-east-1:123456789012:nowhere",
    "http://127.0.0.1:1/123456789012/nowhere",
    "-1",
    "null",
    '{"a": [1, {"b": null}]}',
    "x" * 300,
)

GARBAGE_TOKENS = ("garbage", "", "eyJub3QiOiAidG9rZW4ifQ==", "%%%", "\u0000", "9" * 400, "ünï", "-1")

#: Members whose valid value is pinned: long polls would stall the run.
PINNED = {"WaitTimeSeconds": 0, "waitTimeSeconds": 0}

_WRONG_TYPES: dict[str, tuple[Any, ...]] = {
    "string": (12, True, ["a"], {"a": "b"}, 1.5),
    "integer": ("12", "x", 1.5, True, [1], {"n": 1}),
    "long": ("12", "x", 2.5, False, [1]),
    "float": ("1.5", "x", True, [1.0]),
    "double": ("1.5", "x", True, [1.0]),
    "boolean": ("true", 1, 0, "yes", [True]),
    "structure": ("x", 1, [], True),
    "list": ("x", 1, {"a": 1}, True),
    "map": ("x", 1, [["a", "b"]], True),
    "timestamp": ("not a time", True, [1], {"t": 1}),
    "blob": ("!!! not base64 !!!", 12, [1], {"b": 1}),
}


class Generator:
    """Builds values for shapes from a seeded random source and a pool of existing names."""

    def __init__(
        self, seed: int, pool: Mapping[str, Sequence[str]] | None = None, max_depth: int = 5
    ) -> None:
        self.rng = random.Random(seed)
        self.pool = {key.lower(): list(values) for key, values in (pool or {}).items()}
        self.max_depth = max_depth

    def value(self, shape: Shape, name: str = "", depth: int = 0) -> Any:
        kind = shape.type_name
        if name in PINNED:
            return PINNED[name]
        if kind == "structure":
            return self.structure(shape, depth)
        if kind == "list":
            return self.list(shape, name, depth)
        if kind == "map":
            return self.map(shape, depth)
        if kind == "string":
            return self.string(shape, name)
        if kind in ("integer", "long"):
            return self.integer(shape)
        if kind in ("float", "double"):
            low = shape.metadata.get("min", 0)
            return self.rng.choice([float(low), float(low) + 0.5])
        if kind == "boolean":
            return self.rng.choice([True, False])
        if kind == "timestamp":
            return self.rng.choice([0, 1_700_000_000, 4_102_444_800, 1_700_000_000.5])
        if kind == "blob":
            return self.rng.choice(["", "eyJhIjogMX0=", "AAECAwQ=", "UEsDBAo="])
        return None

    def structure(self, shape: Shape, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        required = set(shape.required_members)
        for member_name, member in shape.members.items():
            if member.serialization.get("location") in ("headers", "statusCode"):
                continue
            if member_name not in required and (depth >= self.max_depth or self.rng.random() < 0.5):
                continue
            result[member_name] = self.value(member, member_name, depth + 1)
        return result

    def list(self, shape: Shape, name: str, depth: int) -> list[Any]:
        low = int(shape.metadata.get("min", 0))
        high = int(shape.metadata.get("max", 3))
        count = self.rng.randint(low, max(low, min(high, low + 3)))
        if depth >= self.max_depth:
            count = low
        return [self.value(shape.member, name, depth + 1) for _ in range(count)]

    def map(self, shape: Shape, depth: int) -> dict[str, Any]:
        low = int(shape.metadata.get("min", 0))
        count = self.rng.randint(low, low + 2) if depth < self.max_depth else low
        result: dict[str, Any] = {}
        for index in range(count * 3):
            if len(result) >= count:
                break
            key = self.string(shape.key, f"key{index}")
            result[key] = self.value(shape.value, "", depth + 1)
        return result

    def string(self, shape: Shape, name: str) -> str:
        enum = shape.enum
        if enum:
            return str(self.rng.choice(list(enum)))
        low = int(shape.metadata.get("min", 0))
        high = int(shape.metadata.get("max", 1024))
        pattern = shape.metadata.get("pattern")
        candidates: list[str] = []
        pooled = self.pool.get(name.lower(), [])
        if pooled and self.rng.random() < 0.7:
            candidates.extend(self.rng.sample(pooled, len(pooled)))
        if name.lower() == "nexttoken":
            candidates.extend(self.rng.sample(GARBAGE_TOKENS, len(GARBAGE_TOKENS)))
        candidates.extend(self.rng.sample(AWKWARD, len(AWKWARD)))
        candidates += [f"fuzz-{self.rng.randrange(10**6)}", "a" * max(low, 1), "A1", "1", "a" * high]
        compiled = _compile(pattern)
        for candidate in candidates:
            if not low <= len(candidate) <= high:
                continue
            if compiled is not None and compiled.fullmatch(candidate) is None:
                continue
            return candidate
        return "a" * max(low, 1)

    def integer(self, shape: Shape) -> int:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        limit = 2**63 - 1 if shape.type_name == "long" else 2**31 - 1
        low = int(low) if low is not None else -limit - 1
        high = int(high) if high is not None else limit
        return int(self.rng.choice([low, high, max(low, min(high, 0)), max(low, min(high, 1))]))


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def member_paths(
    shape: Shape, value: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Shape]]:
    """Every (path, shape) present in ``value``, depth first; a path is a tuple of keys/indexes."""
    yield path, shape
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, item in value.items():
            if name in shape.members:
                yield from member_paths(shape.members[name], item, (*path, name))
    elif kind == "list" and isinstance(value, list):
        for index, item in enumerate(value[:2]):
            yield from member_paths(shape.member, item, (*path, index))
    elif kind == "map" and isinstance(value, dict):
        for key, item in list(value.items())[:2]:
            yield from member_paths(shape.value, item, (*path, key))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``document`` with the item at ``path`` replaced (``...`` deletes it)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        copy = dict(document)
        if not rest and value is Ellipsis:
            copy.pop(head, None)
        else:
            copy[head] = replaced(document[head], rest, value)
        return copy
    copy_list = list(document)
    if not rest and value is Ellipsis:
        del copy_list[head]
    else:
        copy_list[head] = replaced(document[head], rest, value)
    return copy_list


def mutations(
    shape: Shape, params: dict[str, Any], rng: random.Random
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One-fault variants of ``params``: (description, mutated parameters)."""
    for path, member in member_paths(shape, params):
        if not path:
            continue
        where = ".".join(str(p) for p in path)
        kind = member.type_name
        wrong = _WRONG_TYPES.get(kind)
        if wrong:
            yield f"wrong type at {where}", replaced(params, path, rng.choice(wrong))
        meta = member.metadata
        if kind in ("integer", "long"):
            if "min" in meta:
                yield f"below min at {where}", replaced(params, path, int(meta["min"]) - 1)
            if "max" in meta:
                yield f"above max at {where}", replaced(params, path, int(meta["max"]) + 1)
            yield f"huge integer at {where}", replaced(params, path, 2**70)
        elif kind == "string":
            if member.enum:
                yield f"unknown enum at {where}", replaced(params, path, "NOT_AN_ENUM_VALUE")
            if "max" in meta and int(meta["max"]) < 100_000:
                yield f"over-long at {where}", replaced(params, path, "x" * (int(meta["max"]) + 1))
            yield f"empty string at {where}", replaced(params, path, "")
            yield f"unicode at {where}", replaced(params, path, "ünï ☃ 𝄞 \u202e")
            if str(path[-1]).lower() == "nexttoken":
                for token in GARBAGE_TOKENS:
                    yield f"garbage nextToken {token[:10]!r}", replaced(params, path, token)
        elif kind == "list":
            yield f"huge list at {where}", replaced(params, path, ["x"] * 5000)
            yield f"list of nulls at {where}", replaced(params, path, [None, None])
        elif kind == "map":
            yield (
                f"map with odd keys at {where}",
                replaced(params, path, {"": "v", "ü ☃": "", "k" * 300: "v"}),
            )
        elif kind == "timestamp":
            yield f"far timestamp at {where}", replaced(params, path, 10**20)
            yield f"negative timestamp at {where}", replaced(params, path, -(10**12))
    for name in shape.required_members:
        if name in params:
            yield f"missing required {name}", replaced(params, (name,), Ellipsis)
