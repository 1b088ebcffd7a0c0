"""A compiled event pattern: its ``$or`` branches, each a set of fields with their conditions.

EventBridge (aws/event-ruler) turns a pattern into *sub-rules*: every ``$or`` multiplies the
fields gathered so far by its alternatives, so a pattern is the OR of its branches and a branch is
the AND of its fields.  A field is a dotted path with the conditions listed for it (ORed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchbridge.patterns.operators import Condition, Exists


@dataclass(frozen=True, slots=True)
class Field:
    """One path of a branch and the conditions any of which satisfies it."""

    path: str
    conditions: tuple[Condition, ...]

    @property
    def allows_absent(self) -> bool:
        """True when ``{"exists": false}`` is one of the conditions."""
        return any(isinstance(c, Exists) and not c.present for c in self.conditions)

    @property
    def positives(self) -> tuple[Condition, ...]:
        """The conditions that need a leaf (everything but ``exists: false``)."""
        return tuple(c for c in self.conditions if not (isinstance(c, Exists) and not c.present))

    @property
    def key(self) -> frozenset[tuple[Any, ...]]:
        """Order-free identity of the condition list."""
        return frozenset(c.key for c in self.conditions)

    def test(self, value: Any) -> bool:
        """Whether a leaf satisfies one of the positive conditions."""
        return any(c.test(value) for c in self.positives)


Branch = tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """A validated pattern, ready to match events; build it with ``compile_pattern``."""

    text: str
    branches: tuple[Branch, ...]
    paths: frozenset[str]
    prefixes: frozenset[str]

    def matches(self, event: Mapping[str, Any] | str) -> bool:
        """Whether ``event`` (a mapping or JSON text) matches this pattern."""
        from batchbridge.patterns.evaluate import matches_compiled

        return matches_compiled(self, event)
