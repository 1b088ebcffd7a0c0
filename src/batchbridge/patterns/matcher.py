"""``RuleMatcher``: all the rules of a bus, matched against an event at once.

EventBridge evaluates every rule of a bus for each event; aws/event-ruler, the library behind it,
does so with a machine whose cost does not grow with the number of rules.  This matcher does the
same (see :mod:`batchbridge.patterns.machine`): each rule is validated and compiled once when it is
added, and :meth:`RuleMatcher.match` follows only the transitions the event's values satisfy.

Concurrency contract: one writer at a time, any number of readers.  ``add``, ``add_many`` and
``remove`` serialise on an internal lock, build new machine nodes by copy-on-write and publish them
with one attribute assignment; ``match``, ``len``, ``in`` and ``get`` read the published snapshot
without locking, so a reader on another thread sees the rules either before or after a change,
never a half-built machine.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchbridge.patterns.evaluate import event_mapping
from batchbridge.patterns.machine import EdgeKey, Node, Txn, insert, remove
from batchbridge.patterns.model import CompiledPattern
from batchbridge.patterns.parse import compile_pattern
from batchbridge.patterns.values import Membership, compatible, flatten, path_prefixes, value_key

Pattern = Mapping[str, Any] | str | bytes | CompiledPattern


@dataclass(frozen=True, slots=True)
class _Snapshot:
    root: Node
    rules: Mapping[str, CompiledPattern]
    order: Mapping[str, int]
    paths: frozenset[str]
    prefixes: frozenset[str]


class RuleMatcher:
    """Many rules, each an id and a pattern; ``match(event)`` gives the ids of the matching ones.

    The ids come back in the order the rules were first added (re-adding an id keeps its place).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: Counter[str] = Counter()
        self._next = 0
        self._snap = _Snapshot(Node(Txn()), {}, {}, frozenset(), frozenset())

    # -- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._snap.rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._snap.rules

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._snap.rules))

    def get(self, rule_id: str) -> CompiledPattern | None:
        """The compiled pattern of ``rule_id``, if it is present."""
        return self._snap.rules.get(rule_id)

    def match(self, event: Mapping[str, Any] | str | bytes) -> list[str]:
        """Ids of every rule whose pattern matches ``event``, in a stable order."""
        snap = self._snap
        if not snap.rules:
            return []
        leaves = flatten(event_mapping(event), snap.paths, snap.prefixes)
        found: set[str] = set()
        start: tuple[Node, Membership] = (snap.root, ())
        stack = [start]
        seen: set[tuple[int, Membership]] = {(id(snap.root), ())}
        while stack:
            node, merged = stack.pop()
            if node.ends:
                found.update(node.ends)
            for path, index in node.fields.items():
                found_leaves = leaves.get(path)
                if found_leaves is None:
                    for edge in index.absent:
                        child = index.edges[edge]
                        key = (id(child), merged)
                        if key not in seen:
                            seen.add(key)
                            stack.append((child, merged))
                    continue
                simple = index.simple
                exact = index.exact
                targets: Sequence[EdgeKey]
                for value, membership in found_leaves:
                    if simple:
                        targets = exact.get(value if type(value) is str else value_key(value), ())
                    else:
                        targets = index.targets(value)
                    if not targets:
                        continue
                    state = merged
                    if membership:
                        current = dict(merged)
                        if not compatible(current, membership):
                            continue
                        current.update(membership)
                        state = tuple(sorted(current.items()))
                    for edge in targets:
                        child = index.edges[edge]
                        key = (id(child), state)
                        if key not in seen:
                            seen.add(key)
                            stack.append((child, state))
        if len(found) > 1:
            order = snap.order
            return sorted(found, key=order.__getitem__)
        return list(found)

    # -- writing ------------------------------------------------------------------------------
    def add(self, rule_id: str, pattern: Pattern) -> None:
        """Validate, compile and add a rule; an existing ``rule_id`` is replaced."""
        self.add_many([(rule_id, pattern)])

    def add_many(self, items: Iterable[tuple[str, Pattern]]) -> None:
        """Add several rules in one transaction (all validated first: none is added on error)."""
        compiled = [(rule_id, compile_pattern(pattern)) for rule_id, pattern in items]
        with self._lock:
            snap = self._snap
            txn = Txn()
            root = snap.root
            rules = dict(snap.rules)
            order = dict(snap.order)
            for rule_id, pattern in compiled:
                old = rules.get(rule_id)
                if old is not None:
                    root = self._without(root, rule_id, old, txn)
                for branch in pattern.branches:
                    root = insert(root, branch, rule_id, txn)
                self._paths.update(pattern.paths)
                rules[rule_id] = pattern
                if rule_id not in order:
                    order[rule_id] = self._next
                    self._next += 1
            self._publish(root, rules, order)

    def remove(self, rule_id: str) -> None:
        """Remove a rule; removing an unknown id does nothing."""
        with self._lock:
            snap = self._snap
            old = snap.rules.get(rule_id)
            if old is None:
                return
            root = self._without(snap.root, rule_id, old, Txn())
            rules = dict(snap.rules)
            del rules[rule_id]
            order = dict(snap.order)
            del order[rule_id]
            self._publish(root, rules, order)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._paths.clear()
            self._snap = _Snapshot(Node(Txn()), {}, {}, frozenset(), frozenset())

    def _without(self, root: Node, rule_id: str, pattern: CompiledPattern, txn: Txn) -> Node:
        for branch in pattern.branches:
            root = remove(root, branch, rule_id, txn) or Node(txn)
        self._paths.subtract(pattern.paths)
        for path in pattern.paths:
            if self._paths[path] <= 0:
                del self._paths[path]
        return root

    def _publish(self, root: Node, rules: dict[str, CompiledPattern], order: dict[str, int]) -> None:
        paths = frozenset(self._paths)
        prefixes = self._snap.prefixes if paths == self._snap.paths else path_prefixes(paths)
        self._snap = _Snapshot(root, rules, order, paths, prefixes)
