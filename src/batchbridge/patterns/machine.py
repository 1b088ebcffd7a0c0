"""The state machine behind :class:`~batchbridge.patterns.RuleMatcher`.

Like aws/event-ruler, every branch of every rule is a path through a shared machine: its fields in
sorted path order, one transition per field.  A node holds, for each next path, a
:class:`FieldIndex` that maps the event's leaf values to the transitions they satisfy: a hash
lookup for exact values, IP addresses and case-insensitive values, one lookup per distinct length
for prefixes and suffixes, and a short scan for the operators that cannot be hashed (numeric,
anything-but, wildcard, cidr, exists).  Branches with the same field conditions share transitions,
so matching an event follows only the transitions its values satisfy and its cost hardly depends on
the number of rules.

Nodes are copy-on-write.  A writer copies the nodes along the branch it adds or removes (each copy
tagged with the writer's transaction, so one transaction copies a node once) and publishes a new
root; nodes reachable from a published root are never modified, so readers need no lock.
"""

from __future__ import annotations

from typing import Any

from batchbridge.patterns import operators as ops
from batchbridge.patterns.model import Branch, Field
from batchbridge.patterns.values import looks_like_ip, parse_ip, value_key

EdgeKey = frozenset[tuple[Any, ...]]
Edges = tuple[EdgeKey, ...]


class Txn:
    """A write transaction: nodes it created or copied may be changed in place."""

    __slots__ = ()


def _add(table: dict[Any, Edges], key: Any, edge: EdgeKey) -> None:
    table[key] = (*table.get(key, ()), edge)


def _drop(table: dict[Any, Edges], key: Any, edge: EdgeKey) -> None:
    rest = tuple(e for e in table.get(key, ()) if e != edge)
    if rest:
        table[key] = rest
    else:
        table.pop(key, None)


class FieldIndex:
    """Transitions on one path out of one node, indexed by the conditions that take them."""

    __slots__ = (
        "absent",
        "edges",
        "exact",
        "ieq",
        "ip",
        "owner",
        "prefix",
        "prefix_ic",
        "scan",
        "simple",
        "suffix",
        "suffix_ic",
    )

    def __init__(self, owner: Txn) -> None:
        self.owner = owner
        self.edges: dict[EdgeKey, Node] = {}
        self.exact: dict[Any, Edges] = {}
        self.ip: dict[tuple[int, int], Edges] = {}
        self.ieq: dict[str, Edges] = {}
        self.prefix: dict[int, dict[str, Edges]] = {}
        self.suffix: dict[int, dict[str, Edges]] = {}
        self.prefix_ic: dict[int, dict[str, Edges]] = {}
        self.suffix_ic: dict[int, dict[str, Edges]] = {}
        self.scan: tuple[tuple[ops.Condition, EdgeKey], ...] = ()
        self.absent: Edges = ()
        self.simple = True

    def copy(self, owner: Txn) -> FieldIndex:
        new = FieldIndex(owner)
        new.edges = dict(self.edges)
        new.exact = dict(self.exact)
        new.ip = dict(self.ip)
        new.ieq = dict(self.ieq)
        new.prefix = dict(self.prefix)
        new.suffix = dict(self.suffix)
        new.prefix_ic = dict(self.prefix_ic)
        new.suffix_ic = dict(self.suffix_ic)
        new.scan = self.scan
        new.absent = self.absent
        new.simple = self.simple
        return new

    def _affix_table(self, cond: ops.Prefix | ops.Suffix) -> dict[int, dict[str, Edges]]:
        if isinstance(cond, ops.Prefix):
            return self.prefix_ic if cond.ignore_case else self.prefix
        return self.suffix_ic if cond.ignore_case else self.suffix

    def index(self, fld: Field, edge: EdgeKey, *, remove: bool = False) -> None:
        """Enter (or with ``remove`` take out) every condition of ``fld`` as leading to ``edge``."""
        change = _drop if remove else _add
        for cond in fld.conditions:
            if isinstance(cond, ops.Exact):
                change(self.exact, value_key(cond.value), edge)
                if cond.ip is not None:
                    change(self.ip, cond.ip, edge)
            elif isinstance(cond, ops.EqualsIgnoreCase):
                change(self.ieq, cond.text.lower(), edge)
            elif isinstance(cond, ops.Prefix | ops.Suffix):
                table = self._affix_table(cond)
                text = cond.text.lower() if cond.ignore_case else cond.text
                size = len(text)
                inner = dict(table.get(size, {}))
                change(inner, text, edge)
                if inner:
                    table[size] = inner
                else:
                    table.pop(size, None)
            elif isinstance(cond, ops.Exists) and not cond.present:
                self.absent = tuple(e for e in self.absent if e != edge)
                if not remove:
                    self.absent += (edge,)
            else:
                self.scan = tuple(item for item in self.scan if item != (cond, edge))
                if not remove:
                    self.scan += ((cond, edge),)
        self.simple = not (
            self.ip or self.ieq or self.prefix or self.suffix or self.prefix_ic or self.suffix_ic or self.scan
        )

    def targets(self, value: Any) -> list[EdgeKey] | Edges:
        """The transitions a leaf value takes (may repeat one)."""
        if self.simple:
            return self.exact.get(value if type(value) is str else value_key(value), ())
        out: list[EdgeKey] = []
        if type(value) is str:
            hit = self.exact.get(value)
            if hit:
                out.extend(hit)
            if self.prefix:
                size = len(value)
                for length, table in self.prefix.items():
                    if length <= size:
                        hit = table.get(value[:length])
                        if hit:
                            out.extend(hit)
            if self.suffix:
                size = len(value)
                for length, table in self.suffix.items():
                    if length <= size:
                        hit = table.get(value[size - length :])
                        if hit:
                            out.extend(hit)
            if self.ieq or self.prefix_ic or self.suffix_ic:
                low = value.lower()
                hit = self.ieq.get(low)
                if hit:
                    out.extend(hit)
                size = len(low)
                for length, table in self.prefix_ic.items():
                    if length <= size:
                        hit = table.get(low[:length])
                        if hit:
                            out.extend(hit)
                for length, table in self.suffix_ic.items():
                    if length <= size:
                        hit = table.get(low[size - length :])
                        if hit:
                            out.extend(hit)
            if self.ip and looks_like_ip(value):
                ip = parse_ip(value)
                if ip is not None:
                    hit = self.ip.get(ip)
                    if hit:
                        out.extend(hit)
        else:
            hit = self.exact.get(value_key(value))
            if hit:
                out.extend(hit)
        for cond, edge in self.scan:
            if cond.test(value):
                out.append(edge)
        return out


class Node:
    """A machine state: the rules whose branches end here and the transitions out of it."""

    __slots__ = ("ends", "fields", "owner", "uses")

    def __init__(self, owner: Txn) -> None:
        self.owner = owner
        self.fields: dict[str, FieldIndex] = {}
        self.ends: dict[str, int] = {}
        self.uses = 0

    def own(self, txn: Txn) -> Node:
        if self.owner is txn:
            return self
        new = Node(txn)
        new.fields = dict(self.fields)
        new.ends = dict(self.ends)
        new.uses = self.uses
        return new


def insert(node: Node, branch: Branch, rule_id: str, txn: Txn, i: int = 0) -> Node:
    """A node equal to ``node`` with ``branch`` (from field ``i`` on) leading to ``rule_id``."""
    mine = node.own(txn)
    mine.uses += 1
    if i == len(branch):
        mine.ends[rule_id] = mine.ends.get(rule_id, 0) + 1
        return mine
    fld = branch[i]
    index = mine.fields.get(fld.path)
    if index is None:
        index = FieldIndex(txn)
    elif index.owner is not txn:
        index = index.copy(txn)
    edge = fld.key
    child = index.edges.get(edge)
    if child is None:
        child = Node(txn)
        index.index(fld, edge)
    index.edges[edge] = insert(child, branch, rule_id, txn, i + 1)
    mine.fields[fld.path] = index
    return mine


def remove(node: Node, branch: Branch, rule_id: str, txn: Txn, i: int = 0) -> Node | None:
    """``node`` without one ``branch`` of ``rule_id``; ``None`` when nothing else uses it."""
    if node.uses <= 1:
        return None
    mine = node.own(txn)
    mine.uses -= 1
    if i == len(branch):
        left = mine.ends.get(rule_id, 0) - 1
        if left > 0:
            mine.ends[rule_id] = left
        else:
            mine.ends.pop(rule_id, None)
        return mine
    fld = branch[i]
    index = mine.fields[fld.path]
    if index.owner is not txn:
        index = index.copy(txn)
    edge = fld.key
    child = remove(index.edges[edge], branch, rule_id, txn, i + 1)
    if child is None:
        del index.edges[edge]
        index.index(fld, edge, remove=True)
    else:
        index.edges[edge] = child
    if index.edges:
        mine.fields[fld.path] = index
    else:
        del mine.fields[fld.path]
    return mine
