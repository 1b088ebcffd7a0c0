"""Why an event matches a pattern or not, field by field.

The explanation follows the matching rules of :mod:`batchbridge.patterns.evaluate` exactly (its
``matched`` always equals :func:`~batchbridge.patterns.matches`): for every branch of the pattern
(one per ``$or`` alternative), every field is reported with the values the event has at its path
(or their absence), the conditions it asked for, and whether it held; a branch whose fields all hold
can still fail because they were satisfied by different elements of one array of objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchbridge.patterns.evaluate import branch_candidates, consistent, event_mapping
from batchbridge.patterns.model import CompiledPattern, Field
from batchbridge.patterns.parse import compile_pattern
from batchbridge.patterns.values import Leaves, flatten, render_value


@dataclass(frozen=True, slots=True)
class FieldCheck:
    """One field of one branch: the path, what the event has there, the conditions, the outcome."""

    path: str
    present: bool
    values: tuple[Any, ...]
    conditions: tuple[str, ...]
    held: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "present": self.present,
            "values": list(self.values),
            "conditions": list(self.conditions),
            "held": self.held,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class BranchCheck:
    """One ``$or`` alternative (the whole pattern when it has no ``$or``)."""

    index: int
    matched: bool
    fields: tuple[FieldCheck, ...]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "matched": self.matched,
            "note": self.note,
            "fields": [f.to_dict() for f in self.fields],
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """The structured account returned by :func:`explain`."""

    matched: bool
    branches: tuple[BranchCheck, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"matched": self.matched, "branches": [b.to_dict() for b in self.branches]}

    @property
    def failures(self) -> list[FieldCheck]:
        """Every field that did not hold, over all branches."""
        return [f for b in self.branches for f in b.fields if not f.held]

    def render(self) -> str:
        """A human-readable report (for the CLI)."""
        lines = ["MATCH: the event matches the pattern" if self.matched else "NO MATCH"]
        many = len(self.branches) > 1
        for branch in self.branches:
            indent = "  "
            if many:
                state = "matched" if branch.matched else "failed"
                lines.append(f"  $or branch {branch.index + 1} of {len(self.branches)}: {state}")
                indent = "    "
            for check in branch.fields:
                mark = "ok " if check.held else "NO "
                lines.append(f"{indent}[{mark}] {check.path}: {check.reason}")
            if branch.note:
                lines.append(f"{indent}{branch.note}")
        return "\n".join(lines)


def _raw_at(event: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """What the event holds at a dotted path when it is not a leaf (an object or an array)."""
    node: Any = event
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, Mapping):
            return False, None
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                node = node[key]
                i = j
                break
        else:
            return False, None
    return True, node


def _shown(values: tuple[Any, ...]) -> str:
    shown = ", ".join(render_value(v) for v in values[:5])
    return shown + (", ..." if len(values) > 5 else "")


def _check_field(fld: Field, leaves: Leaves, event: Mapping[str, Any]) -> FieldCheck:
    conditions = tuple(c.describe() for c in fld.conditions)
    wanted = "[" + ", ".join(conditions) + "]"
    found = leaves.get(fld.path, [])
    values = tuple(v for v, _ in found)
    if not found:
        if fld.allows_absent:
            return FieldCheck(fld.path, False, (), conditions, True, f"absent, as {wanted} allows")
        exists, raw = _raw_at(event, fld.path)
        if exists and isinstance(raw, Mapping):
            what = "an empty object" if not raw else "an object, not a value"
        elif exists and isinstance(raw, list):
            what = "an empty array (counts as absent)" if not raw else "an array of objects, not a value"
        else:
            what = "absent from the event"
        return FieldCheck(fld.path, False, (), conditions, False, f"{what}; the pattern requires {wanted}")
    positives = fld.positives
    good = tuple(v for v in values if any(c.test(v) for c in positives))
    if good:
        held_by = [c.describe() for c in positives if any(c.test(v) for v in good)]
        reason = f"{_shown(good)} matches {', '.join(held_by)}"
        return FieldCheck(fld.path, True, values, conditions, True, reason)
    if not positives:
        reason = f"present ({_shown(values)}) but the pattern requires {wanted}"
    else:
        reason = f"{_shown(values)} does not match {wanted}"
    return FieldCheck(fld.path, True, values, conditions, False, reason)


def explain(
    pattern: Mapping[str, Any] | str | bytes | CompiledPattern, event: Mapping[str, Any] | str
) -> Explanation:
    """Explain, field by field, why ``event`` matches ``pattern`` or not."""
    compiled = compile_pattern(pattern)
    body = event_mapping(event)
    leaves = flatten(body, compiled.paths, compiled.prefixes)
    branches: list[BranchCheck] = []
    for index, branch in enumerate(compiled.branches):
        checks = tuple(_check_field(fld, leaves, body) for fld in branch)
        all_held = all(c.held for c in checks)
        note = ""
        matched = False
        if all_held:
            picks = branch_candidates(branch, leaves)
            matched = picks is not None and consistent(picks)
            if not matched:
                note = (
                    "every field holds, but on different elements of the same array of objects: "
                    "the fields must be satisfied by one element"
                )
        branches.append(BranchCheck(index, matched, checks, note))
    return Explanation(any(b.matched for b in branches), tuple(branches))
