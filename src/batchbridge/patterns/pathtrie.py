"""An event's leaves read along a trie of the rule set's paths, for the multi-rule matcher.

:func:`read` gives the same leaves as :func:`batchbridge.patterns.values.flatten` (AWS's reading
of an event: dotted paths of object keys, arrays add nothing to the path, a key with a dot is the
same path as the nested form, empty arrays and objects give no leaf), with two differences that
make it cheap enough to run once per event in front of the machine:

* values come out as their :func:`~batchbridge.patterns.values.value_key`, ready for the machine's
  tables, a path with one leaf maps to the value itself, and the event is walked along a trie of
  path components, so no path strings are built;
* leaves carry no array-element memberships.  Array consistency (aws/event-ruler: two fields of
  one pattern matched inside an array of objects must come from the same element) can only
  constrain a branch with two fields at or under the array's path.  The trie marks those paths as
  *guarded* (see :func:`guarded_paths`).  An array of objects or of arrays met at a guarded path
  makes :func:`read` return ``None`` and the matcher falls back to the full reading with
  memberships; anywhere else the elements are read as if the array were not there, which is exact
  because no branch has two fields that could tell the elements apart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from batchbridge.patterns.model import Branch
from batchbridge.patterns.values import FALSE_KEY, NULL_KEY, TRUE_KEY

# A trie level maps a path component to (the path if a rule uses it, the next level, guarded).
Trie = dict[str, tuple[str | None, "Trie | None", bool]]
FlatLeaves = dict[str, Any]


def guarded_paths(branch: Branch) -> set[str]:
    """Paths under which an array of objects could make two fields of ``branch`` inconsistent.

    A path is guarded when it is a dotted prefix of (or equal to) the paths of two different
    fields of the branch: leaves below an array there could come from different elements.
    """
    out: set[str] = set()
    parts = [fld.path.split(".") for fld in branch]
    for i, first in enumerate(parts):
        for second in parts[i + 1 :]:
            common = 0
            for a, b in zip(first, second, strict=False):
                if a != b:
                    break
                common += 1
            for size in range(1, common + 1):
                out.add(".".join(first[:size]))
    return out


class _Level:
    __slots__ = ("below", "guarded", "path")

    def __init__(self) -> None:
        self.path: str | None = None
        self.guarded = False
        self.below: dict[str, _Level] = {}

    def at(self, path: str) -> _Level:
        level = self
        for part in path.split("."):
            nxt = level.below.get(part)
            if nxt is None:
                nxt = level.below[part] = _Level()
            level = nxt
        return level

    def freeze(self) -> Trie:
        return {
            part: (level.path, level.freeze() if level.below else None, level.guarded)
            for part, level in self.below.items()
        }


def build_trie(paths: Collection[str], guarded: Collection[str]) -> Trie:
    """The trie of ``paths`` with the ``guarded`` ones marked."""
    top = _Level()
    for path in paths:
        top.at(path).path = path
    for path in guarded:
        top.at(path).guarded = True
    return top.freeze()


def _dotted(trie: Trie, key: str) -> tuple[str | None, Trie | None, bool] | None:
    level: Trie | None = trie
    entry = None
    for part in key.split("."):
        if level is None:
            return None
        entry = level.get(part)
        if entry is None:
            return None
        level = entry[1]
    return entry


def read(event: Mapping[str, Any], trie: Trie) -> FlatLeaves | None:
    """``path -> value key`` (a list when the path has several leaves) for the trie's paths.

    A leaf value is never a list (arrays are read element by element), so a list always means
    several leaves.  ``None`` when the event needs the reading with memberships.
    """
    out: FlatLeaves = {}
    if _object(event, trie, out):
        return out
    return None


def _object(obj: Mapping[str, Any], trie: Trie, out: FlatLeaves) -> bool:
    for key, value in obj.items():
        entry = trie.get(key)
        if entry is None:
            if type(key) is not str or "." not in key:
                continue
            entry = _dotted(trie, key)
            if entry is None:
                continue
        path, sub, guarded = entry
        t = type(value)
        if t is dict:
            if sub is not None and not _object(value, sub, out):
                return False
            continue
        if t is list or t is tuple:
            if not _array(value, path, sub, guarded, out):
                return False
            continue
        if path is None:
            if (
                sub is not None
                and t is not str
                and isinstance(value, Mapping)
                and not _object(value, sub, out)
            ):
                return False
            continue
        if t is not str and t is not int and t is not float:
            if value is None:
                value = NULL_KEY
            elif value is True:
                value = TRUE_KEY
            elif value is False:
                value = FALSE_KEY
            elif isinstance(value, Mapping):
                if sub is not None and not _object(value, sub, out):
                    return False
                continue
        found = out.get(path)
        if found is None:
            out[path] = value
        elif type(found) is list:
            found.append(value)
        else:
            out[path] = [found, value]
    return True


def _array(
    arr: list[Any] | tuple[Any, ...], path: str | None, sub: Trie | None, guarded: bool, out: FlatLeaves
) -> bool:
    for value in arr:
        t = type(value)
        if t is dict or (t is not str and t is not list and t is not tuple and isinstance(value, Mapping)):
            if sub is None:
                continue
            if guarded or not _object(value, sub, out):
                return False
            continue
        if t is list or t is tuple:
            if path is None and sub is None:
                continue
            if guarded or not _array(value, path, sub, guarded, out):
                return False
            continue
        if path is None:
            continue
        if value is None:
            value = NULL_KEY
        elif value is True:
            value = TRUE_KEY
        elif value is False:
            value = FALSE_KEY
        found = out.get(path)
        if found is None:
            out[path] = value
        elif type(found) is list:
            found.append(value)
        else:
            out[path] = [found, value]
    return True
