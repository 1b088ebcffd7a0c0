"""The compiled rules of every bus: which enabled rules an event matches.

AWS rule emulated: an event put on a bus goes to every *enabled* rule of that bus whose event
pattern matches it; schedule-only rules never match events.  Following the architecture's
"compile once, match many", each bus keeps one ``batchbridge.patterns.RuleMatcher`` holding the
patterns of its enabled rules; it is built from the store at start-up (:meth:`RuleRegistry.load`)
and updated by the service on ``PutRule``, ``EnableRule``, ``DisableRule`` and ``DeleteRule``.
While the engine offers no ``RuleMatcher``, each rule's pattern is compiled once and tried in turn.

Pattern validation answers AWS's ``InvalidEventPatternException`` with the message the pattern
engine formats (``Event pattern is not valid. Reason: ...`` and the JSON location).
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from batchbridge.errors import InvalidEventPatternException, PatternError
from batchbridge.store import events as store


def _engine() -> Any:
    return importlib.import_module("batchbridge.patterns")


def check_pattern(text: str) -> str:
    """Validate pattern text; return it, or raise ``InvalidEventPatternException`` with AWS's text."""
    engine = _engine()
    if not isinstance(text, str) or not text:
        raise InvalidEventPatternException("Event pattern is not valid. Reason: Filter is not an object")
    try:
        engine.validate(text)
    except PatternError as error:
        raise InvalidEventPatternException(engine.format_invalid_pattern_message(text, error)) from None
    return text


def pattern_matches(pattern: str, event: dict[str, Any]) -> bool:
    """Whether one pattern (JSON text) matches ``event`` (``TestEventPattern``)."""
    return bool(_engine().matches(pattern, event))


class _CompiledRules:
    """Per-rule compiled patterns, used when the engine offers no ``RuleMatcher``."""

    def __init__(self) -> None:
        self._compiled: dict[str, Any] = {}

    def add(self, name: str, pattern: str) -> None:
        self._compiled[name] = _engine().compile_pattern(pattern)

    def remove(self, name: str) -> None:
        self._compiled.pop(name, None)

    def match(self, event: dict[str, Any]) -> list[str]:
        engine = _engine()
        return [name for name, compiled in self._compiled.items() if engine.matches(compiled, event)]


#: Envelope members an outbox row keeps in columns of its own.
ENVELOPE_FIELDS = frozenset({"source", "detail-type"})


def reads_only_envelope(pattern: str) -> bool:
    """Whether a pattern tests nothing but :data:`ENVELOPE_FIELDS`: it then matches an event exactly
    when it matches ``{"source": ..., "detail-type": ...}`` built from the same event."""
    try:
        document = json.loads(pattern)
    except ValueError:
        return False
    return isinstance(document, dict) and set(document) <= ENVELOPE_FIELDS


def _new_matcher() -> Any:
    factory = getattr(_engine(), "RuleMatcher", None)
    return _CompiledRules() if factory is None else factory()


class RuleRegistry:
    """One compiled matcher per bus over its enabled pattern rules, keyed by rule id."""

    def __init__(self) -> None:
        self._matchers: dict[str, Any] = {}
        self._bus_of: dict[int, str] = {}
        self._rules_on: dict[str, int] = {}
        self._body_rules: dict[str, set[int]] = {}
        self._activation_hooks: list[Callable[[str], None]] = []
        self._lock = threading.Lock()

    def on_activation(self, hook: Callable[[str], None]) -> None:
        """Call ``hook(bus)`` whenever a bus with no enabled pattern rule is about to get one,
        before the rule takes part in matching (the dispatcher consumes what nothing could match)."""
        self._activation_hooks.append(hook)

    def load(self, conn: sqlite3.Connection) -> None:
        """Rebuild every matcher from the store."""
        with self._lock:
            self._matchers.clear()
            self._bus_of.clear()
            self._rules_on.clear()
            self._body_rules.clear()
        after = 0
        while True:
            rules = store.list_rules(conn, None, None, after, 500)
            if not rules:
                return
            for rule in rules:
                self._put(rule)
            after = rules[-1].id

    def put(self, rule: store.RuleRecord) -> None:
        """Add or replace ``rule``; a disabled or schedule-only rule is removed from matching."""
        if rule.enabled and rule.event_pattern is not None and not self.has_rules(rule.bus):
            for hook in list(self._activation_hooks):
                hook(rule.bus)
        self._put(rule)

    def _put(self, rule: store.RuleRecord) -> None:
        self.remove(rule.id)
        if not rule.enabled or rule.event_pattern is None:
            return
        pattern = rule.event_pattern
        with self._lock:
            matcher = self._matchers.get(rule.bus)
            if matcher is None:
                matcher = _new_matcher()
                self._matchers[rule.bus] = matcher
            matcher.add(str(rule.id), pattern)
            self._bus_of[rule.id] = rule.bus
            self._rules_on[rule.bus] = self._rules_on.get(rule.bus, 0) + 1
            if not reads_only_envelope(pattern):
                self._body_rules.setdefault(rule.bus, set()).add(rule.id)

    def remove(self, rule_id: int) -> None:
        with self._lock:
            bus = self._bus_of.pop(rule_id, None)
            if bus is not None:
                self._matchers[bus].remove(str(rule_id))
                self._rules_on[bus] -= 1
                self._body_rules.get(bus, set()).discard(rule_id)

    def has_rules(self, bus: str) -> bool:
        """Whether ``bus`` has an enabled pattern rule (an event put there may match something)."""
        return self._rules_on.get(bus, 0) > 0

    def reads_only_envelope(self, bus: str) -> bool:
        """Whether every enabled pattern rule of ``bus`` tests only :data:`ENVELOPE_FIELDS`, so an
        event can be matched without parsing its body."""
        return not self._body_rules.get(bus)

    def match(self, bus: str, event: dict[str, Any]) -> list[int]:
        """Ids of the enabled rules of ``bus`` that ``event`` matches, in creation order."""
        with self._lock:
            matcher = self._matchers.get(bus)
            if matcher is None:
                return []
            found = matcher.match(event)
        return sorted(int(name) for name in found)
