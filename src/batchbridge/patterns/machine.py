"""The state machine behind :class:`~batchbridge.patterns.RuleMatcher`.

Like aws/event-ruler, every branch of every rule is a path through a shared machine: its fields in
sorted path order, one transition per field.  A node holds, for each next path, a
:class:`FieldIndex` that maps the event's leaf values to the transitions they satisfy: a hash
lookup for exact values, IP addresses and case-insensitive values, one lookup per distinct length
for prefixes and suffixes, and a short scan for the operators that cannot be hashed (numeric,
anything-but, wildcard, cidr, exists).  Branches with the same field conditions share transitions,
so matching an event follows only the transitions its values satisfy and its cost hardly depends on
the number of rules.

Fields are taken in a fixed order: ``source`` first, then ``detail-type``, then the others by path.
Any fixed order gives the same matches (a branch is the AND of its fields); this one starts with
the two envelope fields nearly every rule names with exact values, so an event leaves the rules of
other sources and detail types behind after one lookup each.

Nodes are copy-on-write.  A writer copies the nodes along the branch it adds or removes (each copy
tagged with the writer's transaction, so one transaction copies a node once) and publishes a new
root; nodes reachable from a published root are never modified, so readers need no lock.

Before publishing, the writer *seals* what its transaction touched into the read-side form that
:meth:`RuleMatcher.match` walks: each node gets ``tests``, one ``(path, table, memo, absent)``
tuple per field, where ``table`` maps an event value (its :func:`value_key`) straight to the child
nodes it leads to.  For a field with only exact values the table is complete, so a transition is
one dict lookup, and ``memo`` is ``None``.  For other fields (prefix, numeric, wildcard, ...) the
table starts empty and is a bounded memo: ``memo.resolve`` (the field's index) computes a value's
children once and records them, so a value seen again costs one lookup too.  The memo holds at
most :data:`MEMO_LIMIT` values and starts over when full.  Readers may fill a memo concurrently;
an entry depends only on the value and on the sealed index, so any reader's result is right.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from batchbridge.patterns import operators as ops
from batchbridge.patterns.model import Branch, Field
from batchbridge.patterns.values import FALSE_KEY, NULL_KEY, TRUE_KEY, looks_like_ip, parse_ip, value_key

EdgeKey = frozenset[tuple[Any, ...]]
Edges = tuple[EdgeKey, ...]
Children = tuple["Node", ...]
Test = tuple[str, dict[Any, Children], "FieldIndex | None", Children]
Mark = int

MEMO_LIMIT: Final = 1024
LEADING_PATHS: Final = {"source": 0, "detail-type": 1}
_RAW: Final[dict[Any, Any]] = {TRUE_KEY: True, FALSE_KEY: False, NULL_KEY: None}


def _field_rank(fld: Field) -> tuple[int, str]:
    return LEADING_PATHS.get(fld.path, len(LEADING_PATHS)), fld.path


def ordered(branch: Branch) -> Branch:
    """The fields of ``branch`` in machine order (``source``, ``detail-type``, then by path)."""
    return tuple(sorted(branch, key=_field_rank))


class Txn:
    """A write transaction: nodes it created or copied may be changed in place until it is sealed."""

    __slots__ = ("indexes", "nodes")

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.indexes: list[FieldIndex] = []

    def seal(self, order: Mapping[str, int]) -> None:
        """Build the read-side form of everything this transaction touched (``order``: rule ranks)."""
        for index in self.indexes:
            index.seal()
        for node in self.nodes:
            node.seal(order)
        self.indexes = []
        self.nodes = []


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
        "absent_nodes",
        "dirty",
        "edges",
        "exact",
        "ieq",
        "ip",
        "owner",
        "path",
        "prefix",
        "prefix_ic",
        "scan",
        "simple",
        "suffix",
        "suffix_ic",
        "table",
        "table_complete",
    )

    def __init__(self, owner: Txn, path: str) -> None:
        self.owner = owner
        self.path = path
        owner.indexes.append(self)
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
        self.table: dict[Any, Children] = {}
        self.table_complete = True
        self.dirty: set[Any] | None = None
        self.absent_nodes: Children = ()

    def copy(self, owner: Txn) -> FieldIndex:
        new = FieldIndex(owner, self.path)
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
        if self.table_complete:
            new.table = dict(self.table)
        else:
            new.table_complete = False
        return new

    def touch(self, fld: Field) -> None:
        """Note that the exact-value table entries of ``fld``'s conditions must be rebuilt."""
        dirty = self.dirty
        if dirty is None:
            dirty = self.dirty = set()
        for cond in fld.conditions:
            if isinstance(cond, ops.Exact):
                dirty.add(value_key(cond.value))

    def seal(self) -> None:
        """Build the read-side table: complete for exact-only fields, else an empty memo."""
        edges = self.edges
        if self.simple:
            if self.table_complete:
                table = self.table
                for key in self.dirty or ():
                    hit = self.exact.get(key)
                    if hit:
                        table[key] = tuple(edges[e] for e in dict.fromkeys(hit))
                    else:
                        table.pop(key, None)
            else:
                self.table = {k: tuple(edges[e] for e in dict.fromkeys(v)) for k, v in self.exact.items()}
                self.table_complete = True
        else:
            self.table = {}
            self.table_complete = False
        self.dirty = None
        self.absent_nodes = tuple(edges[e] for e in self.absent)

    def resolve(self, key: Any) -> Children:
        """The children an event value (given by its ``value_key``) leads to, recorded in the memo."""
        value = key if type(key) is str else _RAW.get(key, key)
        edges = self.edges
        found = tuple(edges[e] for e in dict.fromkeys(self.targets(value)))
        table = self.table
        if len(table) >= MEMO_LIMIT:
            table.clear()
        table[key] = found
        return found

    def _affix_table(self, cond: ops.Prefix | ops.Suffix) -> dict[int, dict[str, Edges]]:
        if isinstance(cond, ops.Prefix):
            return self.prefix_ic if cond.ignore_case else self.prefix
        return self.suffix_ic if cond.ignore_case else self.suffix

    def index(self, fld: Field, edge: EdgeKey, *, remove: bool = False) -> None:
        """Enter (or with ``remove`` take out) every condition of ``fld`` as leading to ``edge``."""
        change = _drop if remove else _add
        self.touch(fld)
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

    __slots__ = ("ends", "fields", "marks", "owner", "tests", "uses")

    def __init__(self, owner: Txn) -> None:
        self.owner = owner
        self.fields: dict[str, FieldIndex] = {}
        self.ends: dict[str, int] = {}
        self.uses = 0
        self.marks: tuple[Mark, ...] = ()
        self.tests: tuple[Test, ...] = ()
        owner.nodes.append(self)

    def own(self, txn: Txn) -> Node:
        if self.owner is txn:
            return self
        new = Node(txn)
        new.fields = dict(self.fields)
        new.ends = dict(self.ends)
        new.uses = self.uses
        return new

    def seal(self, order: Mapping[str, int]) -> None:
        """Build ``marks`` (the ranks of the rules ending here, from ``order``) and ``tests``."""
        self.marks = tuple(order[rule_id] for rule_id in self.ends)
        self.tests = tuple(
            (index.path, index.table, None if index.simple else index, index.absent_nodes)
            for index in self.fields.values()
        )


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
        index = FieldIndex(txn, fld.path)
    elif index.owner is not txn:
        index = index.copy(txn)
    edge = fld.key
    child = index.edges.get(edge)
    if child is None:
        child = Node(txn)
        index.index(fld, edge)
    new_child = insert(child, branch, rule_id, txn, i + 1)
    if new_child is not child:
        index.touch(fld)
    index.edges[edge] = new_child
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
    old_child = index.edges[edge]
    child = remove(old_child, branch, rule_id, txn, i + 1)
    if child is None:
        del index.edges[edge]
        index.index(fld, edge, remove=True)
    else:
        if child is not old_child:
            index.touch(fld)
        index.edges[edge] = child
    if index.edges:
        mine.fields[fld.path] = index
    else:
        del mine.fields[fld.path]
    return mine
