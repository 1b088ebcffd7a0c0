"""The compiled rules of every bus: which enabled rules an event matches.

AWS rule emulated: an event put on a bus goes to every *enabled* rule of that bus whose event
pattern matches it; schedule-only rules never match events.  Following the architecture's
"compile once, match many", each bus keeps one ``batchbridge.patterns.RuleMatcher`` holding the
patterns of its enabled rules; it is built from the store at start-up (:meth:`RuleRegistry.load`)
and updated by the service on ``PutRule``, ``EnableRule``, ``DisableRule`` and ``DeleteRule``.

Pattern validation answers AWS's ``InvalidEventPatternException`` with the message the pattern
engine formats (``Event pattern is not valid. Reason: ...`` and the JSON location).
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import threading
from typing import Any

from batchbridge.errors import InvalidEventPatternException, PatternError
from batchbridge.store import events as store

MAX_PATTERN_LENGTH = 4096


def _engine() -> Any:
    return importlib.import_module("batchbridge.patterns")


def check_pattern(text: str) -> Any:
    """Parse and validate a pattern; return it parsed, or raise ``InvalidEventPatternException``."""
    engine = _engine()
    if len(text) > MAX_PATTERN_LENGTH:
        raise InvalidEventPatternException("Event pattern is not valid. Reason: Event pattern is too long.")
    try:
        pattern = json.loads(text)
        engine.validate(pattern)
    except PatternError as error:
        raise InvalidEventPatternException(engine.format_invalid_pattern_message(text, error)) from None
    except ValueError as error:
        reason = PatternError(f"Filter is not valid JSON: {error}")
        raise InvalidEventPatternException(engine.format_invalid_pattern_message(text, reason)) from None
    return pattern


def pattern_matches(pattern: Any, event: dict[str, Any]) -> bool:
    """Whether one parsed pattern matches ``event`` (``TestEventPattern``)."""
    return bool(_engine().matches(pattern, event))


class RuleRegistry:
    """One compiled matcher per bus over its enabled pattern rules, keyed by rule id."""

    def __init__(self) -> None:
        self._matchers: dict[str, Any] = {}
        self._bus_of: dict[int, str] = {}
        self._lock = threading.Lock()

    def load(self, conn: sqlite3.Connection) -> None:
        """Rebuild every matcher from the store."""
        with self._lock:
            self._matchers.clear()
            self._bus_of.clear()
        after = 0
        while True:
            rules = store.list_rules(conn, None, None, after, 500)
            if not rules:
                return
            for rule in rules:
                self.put(rule)
            after = rules[-1].id

    def put(self, rule: store.RuleRecord) -> None:
        """Add or replace ``rule``; a disabled or schedule-only rule is removed from matching."""
        self.remove(rule.id)
        if not rule.enabled or rule.event_pattern is None:
            return
        pattern = json.loads(rule.event_pattern)
        with self._lock:
            matcher = self._matchers.get(rule.bus)
            if matcher is None:
                matcher = _engine().RuleMatcher()
                self._matchers[rule.bus] = matcher
            matcher.add(str(rule.id), pattern)
            self._bus_of[rule.id] = rule.bus

    def remove(self, rule_id: int) -> None:
        with self._lock:
            bus = self._bus_of.pop(rule_id, None)
            if bus is not None:
                self._matchers[bus].remove(str(rule_id))

    def match(self, bus: str, event: dict[str, Any]) -> list[int]:
        """Ids of the enabled rules of ``bus`` that ``event`` matches, in creation order."""
        with self._lock:
            matcher = self._matchers.get(bus)
            if matcher is None:
                return []
            found = matcher.match(event)
        return sorted(int(name) for name in found)
