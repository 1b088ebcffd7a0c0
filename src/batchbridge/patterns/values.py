"""Event values as EventBridge compares them, and the event flattened into leaves.

AWS's type rules (EventBridge user guide, aws/event-ruler, checked against AWS):

* a string never equals a number or a boolean (``5`` is not ``"5"``, ``true`` is not ``"true"``);
  ``null`` and ``""`` are distinct values and neither is a missing field;
* numbers compare by value, ``300`` equals ``300.0``;
* an event is read as a set of *leaves*: the dotted path of object keys down to a scalar.  Arrays
  add nothing to the path; each scalar element is a leaf of the array's path, an empty array or an
  empty object yields no leaf, and a key with a dot in the event (``"state.status"``) is the same
  path as the nested form;
* every leaf remembers which element of each array of objects it came from, so that two fields of
  a pattern can be required to come from the same element (array consistency).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

Membership = tuple[tuple[int, int], ...]
Leaf = tuple[Any, Membership]
Leaves = dict[str, list[Leaf]]


class _Token:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


TRUE_KEY: Final = _Token("true")
FALSE_KEY: Final = _Token("false")
NULL_KEY: Final = _Token("null")


def value_key(value: Any) -> Any:
    """A hashable key under which equal event values (by AWS's rules) collide.

    Strings key as themselves, numbers as themselves (Python compares ``300 == 300.0`` by value),
    and ``true``/``false``/``null`` as sentinels so that they never collide with ``1``/``0``.
    """
    if value is None:
        return NULL_KEY
    if value is True:
        return TRUE_KEY
    if value is False:
        return FALSE_KEY
    return value


def is_number(value: Any) -> bool:
    """True for JSON numbers (``bool`` is not a number here)."""
    t = type(value)
    return t is int or t is float


def type_name(value: Any) -> str:
    """The JSON type of an event value, for explanations."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def render_value(value: Any) -> str:
    """A value as JSON text."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return str(value)


# -- IP addresses (aws/event-ruler CIDR: a regex filter, then the platform's address parser) ------
IPV4_RE: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
IPV6_RE: Final = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


def looks_like_ip(text: str) -> bool:
    """The ruler only treats strings of these two shapes as IP addresses."""
    return IPV4_RE.fullmatch(text) is not None or IPV6_RE.fullmatch(text) is not None


def parse_ip(text: str) -> tuple[int, int] | None:
    """``(version, integer)`` of an IPv4/IPv6 literal, or ``None`` when it is not one."""
    if IPV4_RE.fullmatch(text) is not None:
        try:
            return 4, int(ipaddress.IPv4Address(text))
        except ValueError:
            return None
    if IPV6_RE.fullmatch(text) is not None:
        try:
            return 6, int(ipaddress.IPv6Address(text))
        except ValueError:
            return None
    return None


# -- flattening ---------------------------------------------------------------------------------
def path_prefixes(paths: Collection[str]) -> frozenset[str]:
    """Every dotted prefix of every path (``a``, ``a.b``, ``a.b.c`` for ``a.b.c``)."""
    out: set[str] = set()
    for path in paths:
        parts = path.split(".")
        for i in range(1, len(parts) + 1):
            out.add(".".join(parts[:i]))
    return frozenset(out)


def flatten(
    event: Mapping[str, Any], paths: Collection[str], prefixes: Collection[str] | None = None
) -> Leaves:
    """The leaves of ``event`` whose path is one of ``paths`` (other parts are never visited)."""
    pre = path_prefixes(paths) if prefixes is None else prefixes
    out: Leaves = {}
    _walk_object(event, "", (), pre, paths, out)
    return out


def _walk_object(
    obj: Mapping[str, Any],
    base: str,
    membership: Membership,
    prefixes: Collection[str],
    paths: Collection[str],
    out: Leaves,
) -> None:
    for key, value in obj.items():
        path = base + key if base else key
        if path not in prefixes:
            continue
        t = type(value)
        if t is dict or (t is not str and isinstance(value, Mapping)):
            _walk_object(value, path + ".", membership, prefixes, paths, out)
        elif t is list or t is tuple:
            _walk_array(value, path, membership, prefixes, paths, out)
        elif path in paths:
            leaves = out.get(path)
            if leaves is None:
                out[path] = [(value, membership)]
            else:
                leaves.append((value, membership))


def _walk_array(
    arr: list[Any] | tuple[Any, ...],
    path: str,
    membership: Membership,
    prefixes: Collection[str],
    paths: Collection[str],
    out: Leaves,
) -> None:
    aid = id(arr)
    for index, value in enumerate(arr):
        t = type(value)
        if t is dict or (t is not str and isinstance(value, Mapping)):
            _walk_object(value, path + ".", (*membership, (aid, index)), prefixes, paths, out)
        elif t is list or t is tuple:
            _walk_array(value, path, (*membership, (aid, index)), prefixes, paths, out)
        elif path in paths:
            leaves = out.get(path)
            if leaves is None:
                out[path] = [(value, membership)]
            else:
                leaves.append((value, membership))


def compatible(merged: Mapping[int, int], membership: Membership) -> bool:
    """Whether a leaf from ``membership`` can sit with leaves already chosen (``merged``)."""
    for aid, index in membership:
        seen = merged.get(aid)
        if seen is not None and seen != index:
            return False
    return True
