"""``RuleMatcher``: all the rules of a bus, matched against an event at once.

EventBridge evaluates every rule of a bus for each event; aws/event-ruler, the library behind it,
does so with a machine whose cost does not grow with the number of rules.  This matcher does the
same (see :mod:`batchbridge.patterns.machine`): each rule is validated and compiled once when it is
added, and :meth:`RuleMatcher.match` follows only the transitions the event's values satisfy.

Matching reads the event once along a trie of the rule set's paths (:mod:`pathtrie`) and walks the
sealed machine with one table lookup per field and event value.  Leaves carry array-element
memberships only when the event has an array of objects where a rule could need them; such an
event takes the general walk, which tracks the array elements each path has chosen.

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
from batchbridge.patterns.machine import Children, Mark, Node, Txn, insert, ordered, remove
from batchbridge.patterns.model import CompiledPattern
from batchbridge.patterns.parse import compile_pattern
from batchbridge.patterns.pathtrie import Trie, build_trie, guarded_paths, read
from batchbridge.patterns.values import Membership, compatible, flatten, path_prefixes, value_key

Pattern = Mapping[str, Any] | str | bytes | CompiledPattern
COMPACT_SLACK = 1024


@dataclass(frozen=True, slots=True)
class _Snapshot:
    root: Node
    rules: Mapping[str, CompiledPattern]
    order: Mapping[str, int]
    names: Sequence[str]
    paths: frozenset[str]
    prefixes: frozenset[str]
    guarded: frozenset[str]
    trie: Trie


_EMPTY = _Snapshot(Node(Txn()), {}, {}, [], frozenset(), frozenset(), frozenset(), {})


def _guarded(pattern: CompiledPattern) -> frozenset[str]:
    out: set[str] = set()
    for branch in pattern.branches:
        out |= guarded_paths(branch)
    return frozenset(out)


class RuleMatcher:
    """Many rules, each an id and a pattern; ``match(event)`` gives the ids of the matching ones.

    The ids come back in the order the rules were first added (re-adding an id keeps its place).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: Counter[str] = Counter()
        self._guards: Counter[str] = Counter()
        self._guards_of: dict[str, frozenset[str]] = {}
        self._reshaped = False
        self._names: list[str] = []
        self._snap = _EMPTY

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
        mapping = event if type(event) is dict else event_mapping(event)
        leaves = read(mapping, snap.trie)
        if leaves is None:
            return _match_with_members(snap, mapping)
        found: set[Mark] = set()
        stack = [snap.root]
        pop = stack.pop
        extend = stack.extend
        leaf = leaves.get
        while stack:
            node = pop()
            if node.marks:
                found.update(node.marks)
            for path, table, memo, absent in node.tests:
                value = leaf(path)
                if value is None:
                    if absent:
                        extend(absent)
                    continue
                if type(value) is not list:
                    kids = table.get(value)
                    if kids is None and memo is not None:
                        kids = memo.resolve(value)
                    if kids:
                        extend(kids)
                    continue
                reached: dict[Node, None] = {}
                for one in value:
                    kids = table.get(one)
                    if kids is None:
                        if memo is None:
                            continue
                        kids = memo.resolve(one)
                    for kid in kids:
                        reached[kid] = None
                extend(reached)
        names = snap.names
        if len(found) > 1:
            return [names[rank] for rank in sorted(found)]
        return [names[rank] for rank in found]

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
                    root = insert(root, ordered(branch), rule_id, txn)
                guards = self._guards_of[rule_id] = _guarded(pattern)
                self._count(self._paths, pattern.paths)
                self._count(self._guards, guards)
                rules[rule_id] = pattern
                if rule_id not in order:
                    order[rule_id] = len(self._names)
                    self._names.append(rule_id)
            txn.seal(order)
            self._publish(root, rules, order)

    def remove(self, rule_id: str) -> None:
        """Remove a rule; removing an unknown id does nothing."""
        with self._lock:
            snap = self._snap
            old = snap.rules.get(rule_id)
            if old is None:
                return
            txn = Txn()
            root = self._without(snap.root, rule_id, old, txn)
            rules = dict(snap.rules)
            del rules[rule_id]
            order = dict(snap.order)
            del order[rule_id]
            txn.seal(order)
            self._publish(root, rules, order)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._paths.clear()
            self._guards.clear()
            self._guards_of.clear()
            self._names = []
            self._snap = _EMPTY

    def _without(self, root: Node, rule_id: str, pattern: CompiledPattern, txn: Txn) -> Node:
        for branch in pattern.branches:
            root = remove(root, ordered(branch), rule_id, txn) or Node(txn)
        self._discount(self._paths, pattern.paths)
        self._discount(self._guards, self._guards_of.pop(rule_id))
        return root

    def _publish(self, root: Node, rules: dict[str, CompiledPattern], order: dict[str, int]) -> None:
        old = self._snap
        if len(self._names) > 2 * len(rules) + COMPACT_SLACK:
            root, order = self._renumber(rules, order)
        if self._reshaped or not old.rules:
            self._reshaped = False
            paths = frozenset(self._paths)
            guarded = frozenset(self._guards)
            prefixes = path_prefixes(paths)
            trie = build_trie(paths, guarded)
        else:
            paths, guarded, prefixes, trie = old.paths, old.guarded, old.prefixes, old.trie
        self._snap = _Snapshot(root, rules, order, self._names, paths, prefixes, guarded, trie)

    def _count(self, counts: Counter[str], items: Iterable[str]) -> None:
        for item in items:
            if item not in counts:
                self._reshaped = True
            counts[item] += 1

    def _discount(self, counts: Counter[str], items: Iterable[str]) -> None:
        for item in items:
            counts[item] -= 1
            if counts[item] <= 0:
                del counts[item]
                self._reshaped = True

    def _renumber(
        self, rules: Mapping[str, CompiledPattern], order: Mapping[str, int]
    ) -> tuple[Node, dict[str, int]]:
        """Rebuild the machine with ranks ``0..n-1``, dropping the ranks of removed rules.

        Ranks are never reused while the rules keep them, so the rank-to-id list only grows; when
        removed ids make up most of it, the machine is rebuilt once (same order, fresh ranks) and
        published with a new list, leaving the one older snapshots read untouched.
        """
        ids = sorted(rules, key=order.__getitem__)
        fresh = {rule_id: rank for rank, rule_id in enumerate(ids)}
        txn = Txn()
        root = Node(txn)
        for rule_id in ids:
            for branch in rules[rule_id].branches:
                root = insert(root, ordered(branch), rule_id, txn)
        txn.seal(fresh)
        self._names = ids
        return root, fresh


def _match_with_members(snap: _Snapshot, event: Mapping[str, Any]) -> list[str]:
    """The general walk: each path carries the array elements its branch has chosen so far."""
    leaves = flatten(event, snap.paths, snap.prefixes)
    found: set[Mark] = set()
    start: tuple[Node, Membership] = (snap.root, ())
    stack = [start]
    seen: set[tuple[int, Membership]] = {(id(snap.root), ())}
    while stack:
        node, merged = stack.pop()
        found.update(node.marks)
        for path, table, memo, absent in node.tests:
            found_leaves = leaves.get(path)
            if found_leaves is None:
                for child in absent:
                    key = (id(child), merged)
                    if key not in seen:
                        seen.add(key)
                        stack.append((child, merged))
                continue
            for value, membership in found_leaves:
                vkey = value if type(value) is str else value_key(value)
                kids: Children | None = table.get(vkey)
                if kids is None and memo is not None:
                    kids = memo.resolve(vkey)
                if not kids:
                    continue
                state = merged
                if membership:
                    current = dict(merged)
                    if not compatible(current, membership):
                        continue
                    current.update(membership)
                    state = tuple(sorted(current.items()))
                for child in kids:
                    key = (id(child), state)
                    if key not in seen:
                        seen.add(key)
                        stack.append((child, state))
    names = snap.names
    return [names[rank] for rank in sorted(found)]
