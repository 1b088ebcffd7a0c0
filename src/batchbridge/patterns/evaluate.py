"""Match one compiled pattern against one event.

A pattern matches when one of its branches matches; a branch matches when every field holds:

* a field with positive conditions holds when some leaf at its path satisfies one of them;
* ``{"exists": false}`` holds when the path has no leaf anywhere in the event (under an array of
  objects, one element having the field is enough to make it fail, as in aws/event-ruler);
* the leaves chosen for the different fields must be *consistent*: two leaves that come from the
  same array of objects must come from the same element of it (aws/event-ruler's array
  consistency).  The search backtracks over candidate leaves, so the first consistent choice wins.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from batchbridge.errors import ValidationException
from batchbridge.patterns.model import Branch, CompiledPattern
from batchbridge.patterns.values import Leaves, Membership, compatible, flatten


def event_mapping(event: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    """The event as a mapping; JSON text is parsed (a string inside it is never parsed again)."""
    if isinstance(event, Mapping):
        return event
    if isinstance(event, str | bytes):
        try:
            parsed = json.loads(event)
        except ValueError:
            raise ValidationException("Parameter Event is not valid.") from None
        if isinstance(parsed, dict):
            return parsed
    raise ValidationException("Parameter Event is not valid.")


def branch_candidates(branch: Branch, leaves: Leaves) -> list[list[Membership]] | None:
    """For each positive field, the memberships of the leaves that satisfy it; ``None`` on failure."""
    picks: list[list[Membership]] = []
    for fld in branch:
        found = leaves.get(fld.path)
        if not found:
            if fld.allows_absent:
                continue
            return None
        positives = fld.positives
        if not positives:
            return None
        members: list[Membership] = []
        for value, membership in found:
            for cond in positives:
                if cond.test(value):
                    if membership not in members:
                        members.append(membership)
                    break
        if not members:
            return None
        picks.append(members)
    return picks


def consistent(picks: list[list[Membership]]) -> bool:
    """Whether one membership per field can be chosen so that all are pairwise compatible."""
    if all(len(m) == 1 and not m[0] for m in picks):
        return True
    picks = sorted(picks, key=len)

    def choose(i: int, merged: dict[int, int]) -> bool:
        if i == len(picks):
            return True
        for membership in picks[i]:
            if compatible(merged, membership):
                added = [(a, x) for a, x in membership if a not in merged]
                merged.update(added)
                if choose(i + 1, merged):
                    return True
                for a, _ in added:
                    del merged[a]
        return False

    return choose(0, {})


def branch_matches(branch: Branch, leaves: Leaves) -> bool:
    """Whether every field of ``branch`` holds on ``leaves`` with consistent array elements."""
    picks = branch_candidates(branch, leaves)
    return picks is not None and consistent(picks)


def matches_compiled(pattern: CompiledPattern, event: Mapping[str, Any] | str | bytes) -> bool:
    """Whether ``event`` matches the compiled ``pattern``."""
    leaves = flatten(event_mapping(event), pattern.paths, pattern.prefixes)
    return any(branch_matches(branch, leaves) for branch in pattern.branches)
